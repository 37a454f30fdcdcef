#!/usr/bin/python3
"""Scenarios that drive a running samtal with slixmpp, an independent XMPP
client library. Each scenario exits 0 on success and raises otherwise.

    slix.py SCENARIO --port 5222 --tls-port 5223 --domain localhost --ca CERT
"""
import argparse
import asyncio
import logging
import sys

import slixmpp

TIMEOUT = 15


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, args, mech=None, priority=0, plugins=()):
        super().__init__(jid, password, sasl_mech=mech)
        self.args = args
        self.ca_certs = args.ca
        self.priority = priority
        self.messages = asyncio.Queue()
        self.errors = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.log = []  # ("presence", from, show) and ("message", body), in arrival order
        self.failed = asyncio.get_event_loop().create_future()
        for p in ("xep_0030", "xep_0077", "xep_0191", "xep_0199", "xep_0203") + tuple(plugins):
            self.register_plugin(p)
        self.add_event_handler("presence", lambda p: self.log.append(("presence", str(p["from"]), p["show"])))
        self.add_event_handler("message", lambda m: self.log.append(("message", m["body"])))
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("message", self._message)
        self.add_event_handler("message_error", self._message)
        self.add_event_handler("presence_available", lambda p: self.presences.put_nowait(p))
        self.add_event_handler("failed_all_auth", lambda _: self.failed.done() or self.failed.set_result(True))

    async def _start(self, _):
        await self.get_roster()
        self.send_presence(ppriority=self.priority)

    def _message(self, msg):
        if msg["type"] == "error":
            self.errors.put_nowait(msg)
        else:
            self.messages.put_nowait(msg)

    async def online(self, direct_tls=False):
        """Connect and wait for the session (roster fetched, presence sent)."""
        port = self.args.tls_port if direct_tls else self.args.port
        self.connect(address=("127.0.0.1", port), use_ssl=direct_tls)
        start = asyncio.ensure_future(self.wait_until("session_start", TIMEOUT))
        done, _ = await asyncio.wait([start, self.failed], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if start not in done:
            start.cancel()
            raise AssertionError(f"{self.boundjid.bare}: no session (authentication failed or timed out)")
        await asyncio.sleep(0.2)  # let the initial presence and roster settle
        return self

    async def offline(self):
        self.disconnect()
        try:
            await self.wait_until("disconnected", TIMEOUT)
        except asyncio.TimeoutError:
            pass

    async def next_message(self, timeout=TIMEOUT):
        return await asyncio.wait_for(self.messages.get(), timeout)


def quiet_abort(c):
    """Drop a client whose stream the server already closed."""
    try:
        c.abort()
    except AttributeError:
        pass  # slixmpp 1.8: no transport left to abort


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what, flush=True)


def jid(args, local):
    return f"{local}@{args.domain}"


async def register_with(args, user, token=None, form=False):
    """Register user in-band (XEP-0077), with an invitation token sent
    before as a XEP-0445 <preauth/> iq, or in the registration data form
    (form=True), or with none. Returns None on success or the error
    condition, and whether the new account could then log in."""
    import xml.etree.ElementTree as ET
    from slixmpp.exceptions import IqError
    c = Client(jid(args, user), args.password, args)
    c["feature_mechanisms"].unencrypted_plain = False
    result = asyncio.get_event_loop().create_future()

    async def on_register(_):
        try:
            if token and not form:
                pre = c.Iq()
                pre["type"] = "set"
                pre["to"] = args.domain
                pre.xml.append(ET.Element("{urn:xmpp:pars:0}preauth", token=token))
                await pre.send(timeout=TIMEOUT)
            resp = c.Iq()
            resp["type"] = "set"
            if form:
                q = ET.SubElement(resp.xml, "{jabber:iq:register}query")
                x = ET.SubElement(q, "{jabber:x:data}x", type="submit")
                for var, value in (("FORM_TYPE", "jabber:iq:register"), ("username", user),
                                   ("password", args.password), ("token", token)):
                    f = ET.SubElement(x, "{jabber:x:data}field", var=var)
                    ET.SubElement(f, "{jabber:x:data}value").text = value
            else:
                resp["register"]["username"] = user
                resp["register"]["password"] = args.password
            await resp.send(timeout=TIMEOUT)
            result.set_result(None)
        except IqError as e:
            result.set_result(e.iq["error"]["condition"])

    c.add_event_handler("register", on_register)
    c.register_plugin("xep_0077")
    c["xep_0077"].force_registration = True
    c._always_send_everything = True  # see scenario_register
    logged_in = True
    try:
        await c.online()
    except AssertionError:
        logged_in = False
        quiet_abort(c)
    await asyncio.wait_for(result, TIMEOUT)
    if logged_in:
        await c.offline()
    return result.result(), logged_in


async def scenario_invite(args):
    """Registration on an invite-only host (XEP-0401, XEP-0445): refused
    without a token, accepted with one given as a <preauth/> iq or in the
    data form, and a token works once."""
    tok1, tok2 = args.expect.split(",")
    cond, ok = await register_with(args, args.users[0])
    expect(cond == "not-allowed" and not ok, f"no token: refused ({cond})")
    cond, ok = await register_with(args, args.users[0], token="not-a-token")
    expect(cond == "forbidden" and not ok, f"a wrong token: refused ({cond})")
    cond, ok = await register_with(args, args.users[0], token=tok1)
    expect(cond is None and ok, f"a token in a <preauth/> iq: registered and logged in ({cond})")
    cond, ok = await register_with(args, args.users[1], token=tok1)
    expect(cond == "forbidden" and not ok, f"the same token again: refused ({cond})")
    cond, ok = await register_with(args, args.users[1], token=tok2, form=True)
    expect(cond is None and ok, f"a token in the data form: registered and logged in ({cond})")


async def scenario_mechanisms(args):
    """Log in with every SASL mechanism slixmpp offers, over STARTTLS and
    direct TLS; a wrong password is refused."""
    user, pw = jid(args, args.users[0]), args.password
    for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"):
        for direct in (False, True):
            c = await Client(user, pw, args, mech=mech).online(direct_tls=direct)
            expect(c.boundjid.resource != "", f"{mech} login ({'direct TLS' if direct else 'STARTTLS'}) bound {c.boundjid}")
            await c.offline()
    bad = Client(user, pw + "-wrong", args, mech="SCRAM-SHA-256")
    try:
        await bad.online()
        raise AssertionError("a wrong password was accepted")
    except AssertionError as e:
        if "accepted" in str(e):
            raise
    expect(bad.failed.done(), "wrong password refused")
    quiet_abort(bad)


async def scenario_register(args):
    """In-band registration (XEP-0077), login with the new account, then
    account removal, after which the login is refused."""
    user = jid(args, args.users[0])
    reg = Client(user, args.password, args)
    reg["feature_mechanisms"].unencrypted_plain = False
    registered = asyncio.get_event_loop().create_future()

    async def on_register(_):
        resp = reg.Iq()
        resp["type"] = "set"
        resp["register"]["username"] = reg.boundjid.user
        resp["register"]["password"] = reg.password
        try:
            await resp.send()
            registered.set_result(True)
        except Exception as e:  # noqa: BLE001 - reported below
            registered.set_result(e)

    reg.add_event_handler("register", on_register)
    reg.register_plugin("xep_0077")
    reg["xep_0077"].force_registration = True
    # slixmpp 1.8 holds back stanzas until a session exists, which would
    # keep the registration request from ever being sent.
    reg._always_send_everything = True
    await reg.online()
    expect(registered.done() and registered.result() is True, f"registered {user}")
    await reg["xep_0077"].cancel_registration()
    await asyncio.sleep(0.5)
    again = Client(user, args.password, args)
    try:
        await again.online()
        raise AssertionError("a removed account could log in")
    except AssertionError as e:
        if "could log in" in str(e):
            raise
    expect(True, "removed account can no longer log in")
    quiet_abort(again)


async def scenario_roster(args):
    """The subscription handshake between two users: requests, approval,
    mutual subscription, presence, and roster pushes."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = await Client(a_jid, args.password, args).online()
    b = await Client(b_jid, args.password, args).online()
    a.roster[a_jid].auto_authorize = True
    a.roster[a_jid].auto_subscribe = False
    b.roster[b_jid].auto_authorize = None  # ask: the test answers
    b.roster[b_jid].auto_subscribe = False
    requests = asyncio.Queue()
    b.add_event_handler("presence_subscribe", lambda p: requests.put_nowait(p))
    a.send_presence(pto=b_jid, ptype="subscribe")
    req = await asyncio.wait_for(requests.get(), TIMEOUT)
    expect(req["from"].bare == a_jid, "subscription request reached the contact")
    b.send_presence(pto=a_jid, ptype="subscribed")
    b.send_presence(pto=a_jid, ptype="subscribe")
    for _ in range(50):
        await asyncio.sleep(0.1)
        if a.client_roster[b_jid]["subscription"] == "both" and b.client_roster[a_jid]["subscription"] == "both":
            break
    expect(a.client_roster[b_jid]["subscription"] == "both", "user's roster shows 'both'")
    expect(b.client_roster[a_jid]["subscription"] == "both", "contact's roster shows 'both'")
    # A fresh login gets the roster from storage and the contact's presence.
    await a.offline()
    a2 = await Client(a_jid, args.password, args).online()
    expect(a2.client_roster[b_jid]["subscription"] == "both", "roster survives a new login")
    for _ in range(50):
        if a2.client_roster[b_jid].resources:
            break
        await asyncio.sleep(0.1)
    expect(bool(a2.client_roster[b_jid].resources), "the contact's presence arrives after login (probe)")
    await a2.offline()
    await b.offline()


async def scenario_messages(args):
    """Messages to a bare JID go to the highest-priority resource; to a
    full JID, to that resource."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = await Client(a_jid, args.password, args).online()
    b_low = await Client(b_jid + "/low", args.password, args, priority=1).online()
    b_high = await Client(b_jid + "/high", args.password, args, priority=5).online()
    a.send_message(mto=b_jid, mbody="to the bare JID", mtype="chat")
    m = await b_high.next_message()
    expect(m["body"] == "to the bare JID" and m["from"] == a.boundjid, "bare JID message reached the highest priority resource")
    a.send_message(mto=b_jid + "/low", mbody="to the full JID", mtype="chat")
    m = await b_low.next_message()
    expect(m["body"] == "to the full JID", "full JID message reached that resource")
    expect(b_low.messages.empty() and b_high.messages.empty(), "no copies elsewhere")
    a.send_message(mto=jid(args, "nobody-here"), mbody="lost", mtype="chat")
    e = await asyncio.wait_for(a.errors.get(), TIMEOUT)
    expect(e["error"]["condition"] == "service-unavailable", "a message to a user that does not exist bounces with service-unavailable")
    for c in (a, b_low, b_high):
        await c.offline()


async def scenario_offline(args):
    """Messages to an offline user are stored and delivered, with a delay
    stamp, when the user comes online."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = await Client(a_jid, args.password, args).online()
    for i in range(3):
        a.send_message(mto=b_jid, mbody=f"offline {i}", mtype="chat")
    await asyncio.sleep(0.5)
    b = await Client(b_jid, args.password, args).online()
    got = [await b.next_message() for _ in range(3)]
    expect([m["body"] for m in got] == ["offline 0", "offline 1", "offline 2"], "offline messages delivered in order")
    expect(all(m["delay"]["stamp"] is not None for m in got), "each carries a delay stamp (XEP-0203)")
    await b.offline()
    b2 = await Client(b_jid, args.password, args).online()
    await asyncio.sleep(0.5)
    expect(b2.messages.empty(), "offline messages are delivered only once")
    await a.offline()
    await b2.offline()


async def scenario_send_offline(args):
    """Send three messages to the second user, who is offline, and leave:
    they wait in the server's offline storage (for scenario
    receive_offline, maybe after the store has moved)."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = await Client(a_jid, args.password, args).online()
    for i in range(3):
        a.send_message(mto=b_jid, mbody=f"kept {i}", mtype="chat")
    await asyncio.sleep(0.5)
    await a.offline()
    expect(True, "three messages sent to an offline user")


async def scenario_receive_offline(args):
    """Come online as the second user: the three messages of scenario
    send_offline arrive in order with delay stamps, once, and the first
    user is in the roster with a mutual subscription (scenario roster)."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    b = await Client(b_jid, args.password, args).online()
    got = [await b.next_message() for _ in range(3)]
    expect([m["body"] for m in got] == ["kept 0", "kept 1", "kept 2"], "stored messages delivered in order")
    expect(all(m["from"].bare == a_jid and m["delay"]["stamp"] is not None for m in got), "from the sender, each with a delay stamp")
    expect(b.client_roster[a_jid]["subscription"] == "both", "the contact is in the roster with subscription 'both'")
    await b.offline()
    b2 = await Client(b_jid, args.password, args).online()
    await asyncio.sleep(0.5)
    expect(b2.messages.empty(), "stored messages are delivered only once")
    await b2.offline()


async def scenario_blocking(args):
    """A blocked user's messages bounce; after unblocking they arrive."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = await Client(a_jid, args.password, args).online()
    b = await Client(b_jid, args.password, args).online()
    await b["xep_0191"].block([a_jid])
    blocked = await b["xep_0191"].get_blocked()
    expect(a_jid in {str(j) for j in blocked["blocklist"]["items"]}, "blocklist lists the blocked user")
    a.send_message(mto=b_jid, mbody="blocked?", mtype="chat")
    e = await asyncio.wait_for(a.errors.get(), TIMEOUT)
    expect(e["error"]["condition"] == "service-unavailable", "message from a blocked user bounces")
    expect(b.messages.empty(), "blocked message not delivered")
    await b["xep_0191"].unblock([a_jid])
    a.send_message(mto=b_jid, mbody="unblocked", mtype="chat")
    m = await b.next_message()
    expect(m["body"] == "unblocked", "message arrives after unblocking")
    await a.offline()
    await b.offline()


async def cut(c):
    """Cut a client's TCP connection without closing its stream, as a
    phone losing its network does: the client stops reading, then its
    socket is aborted with unread data, which resets the connection."""
    c.transport.pause_reading()
    await asyncio.sleep(1.0)  # the server writes into buffers nobody reads
    c.abort()
    try:
        await c.wait_until("disconnected", TIMEOUT)
    except asyncio.TimeoutError:
        pass


async def bodies(c, prefix, n, settle=1.5):
    """Collect the bodies starting with prefix until n arrived, then wait
    a little more for duplicates."""
    got = []
    deadline = asyncio.get_event_loop().time() + TIMEOUT
    while len(got) < n:
        left = deadline - asyncio.get_event_loop().time()
        if left <= 0:
            break
        try:
            m = await asyncio.wait_for(c.messages.get(), left)
        except asyncio.TimeoutError:
            break
        if m["body"].startswith(prefix):
            got.append(m)
    await asyncio.sleep(settle)
    while not c.messages.empty():
        m = c.messages.get_nowait()
        if m["body"].startswith(prefix):
            got.append(m)
    return got


def exactly_once(got, prefix, n):
    want = [f"{prefix}{i}" for i in range(n)]
    seen = [m["body"] for m in got]
    return sorted(seen, key=lambda b: int(b[len(prefix):])) == want and len(seen) == n


async def scenario_sm_resume(args):
    """Stream management (XEP-0198): the TCP connection of a receiving
    client is cut while 50 messages are in flight; the client resumes its
    session on a new connection and gets each of them exactly once, and
    the session never looked offline to the user's other resource."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    b = await Client(b_jid + "/phone", args.password, args, plugins=("xep_0198",)).online()
    sm = b["xep_0198"]
    expect(sm.sm_id is not None and sm.enabled_in, "stream management enabled with resumption")
    # Another resource of the user, at a negative priority so that it gets
    # no messages, watches the phone's presence.
    watcher = await Client(b_jid + "/watcher", args.password, args, priority=-1).online()
    a = await Client(a_jid, args.password, args).online()
    await asyncio.sleep(0.5)
    watcher.log.clear()

    b.transport.pause_reading()
    for i in range(50):
        a.send_message(mto=b_jid, mbody=f"sm {i}", mtype="chat")
    await cut(b)
    expect(sm.sm_id is not None, "the client kept its session to resume it")
    resumed = asyncio.ensure_future(b.wait_until("session_resumed", TIMEOUT))
    b.connect(address=("127.0.0.1", args.port))
    await resumed
    expect(True, "the session was resumed on a new connection")
    got = await bodies(b, "sm ", 50)
    expect(exactly_once(got, "sm ", 50), f"all 50 messages arrived exactly once after resumption (got {len(got)})")
    expect([m["body"] for m in got] == [f"sm {i}" for i in range(50)], "in the order they were sent")
    expect(all(m["delay"]["stamp"] is not None for m in got), "each re-sent message carries a delay stamp (XEP-0203)")
    flaps = [e for e in watcher.log if e[0] == "presence" and e[1] == str(b.boundjid)]
    expect(not flaps, "the resumed resource's presence never changed for the user's other resource")
    # The resumed session still works both ways.
    a.send_message(mto=b_jid, mbody="after", mtype="chat")
    m = await b.next_message()
    expect(m["body"] == "after", "messages after resumption arrive")
    b.send_message(mto=a_jid, mbody="reply", mtype="chat")
    m = await a.next_message()
    expect(m["body"] == "reply", "the resumed session sends")
    for c in (a, b, watcher):
        await c.offline()


async def scenario_sm_offline(args):
    """Stream management (XEP-0198): the TCP connection of a receiving
    client is cut while 50 messages are in flight and the client does not
    come back within the resumption window; the messages it never
    acknowledged go to offline storage and reach its next session exactly
    once, with a delay stamp."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    b = await Client(b_jid, args.password, args, plugins=("xep_0198",)).online()
    expect(b["xep_0198"].sm_id is not None, "stream management enabled with resumption")
    a = await Client(a_jid, args.password, args).online()
    b.transport.pause_reading()
    for i in range(50):
        a.send_message(mto=b_jid, mbody=f"lost {i}", mtype="chat")
    await cut(b)
    await asyncio.sleep(args.window + 2)
    b2 = await Client(b_jid, args.password, args).online()
    got = await bodies(b2, "lost ", 50)
    expect(exactly_once(got, "lost ", 50), f"all 50 unacknowledged messages came from offline storage exactly once (got {len(got)})")
    expect(all(m["delay"]["stamp"] is not None for m in got), "each carries a delay stamp (XEP-0203)")
    await a.offline()
    await b2.offline()


async def scenario_csi(args):
    """Client state indication (XEP-0352): while the client is inactive
    presence is held back, one per sender; a message brings it out first,
    in order, and <active/> flushes what is held."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    b = await Client(b_jid + "/phone", args.password, args, plugins=("xep_0352",)).online()
    expect(b["xep_0352"].enabled, "the server offers CSI")
    other = await Client(b_jid + "/desk", args.password, args, priority=-1).online()
    a = await Client(a_jid, args.password, args).online()
    await asyncio.sleep(0.5)
    desk = str(other.boundjid)
    b["xep_0352"].send_inactive()
    await asyncio.sleep(0.3)
    b.log.clear()
    for show in ("away", "dnd", "xa"):
        other.send_presence(pshow=show, ppriority=-1)
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    expect(not [e for e in b.log if e[0] == "presence"], "no presence reaches an inactive client")
    a.send_message(mto=b_jid, mbody="wake", mtype="chat")
    await b.next_message()
    await asyncio.sleep(0.3)
    seen = [e for e in b.log if e[0] == "message" or e[1] == desk]
    expect(seen == [("presence", desk, "xa"), ("message", "wake")],
           f"a message flushes the held presence first, the newest one per sender ({seen})")
    b.log.clear()
    other.send_presence(pshow="chat", ppriority=-1)
    await asyncio.sleep(1.0)
    expect(not [e for e in b.log if e[0] == "presence"], "still inactive: presence held again")
    b["xep_0352"].send_active()
    await asyncio.sleep(1.0)
    expect([e for e in b.log if e[0] == "presence"] == [("presence", desk, "chat")], "<active/> flushes the held presence")
    for c in (a, b, other):
        await c.offline()
async def scenario_receive(args):
    """Come online, say READY, and wait for a chat message from the second
    user with the expected body: the receiving end for other clients."""
    a_jid, sender = jid(args, args.users[0]), jid(args, args.users[1])
    a = await Client(a_jid, args.password, args).online()
    print("READY", flush=True)
    m = await a.next_message(timeout=60)
    expect(m["from"].bare == sender, f"message from {m['from']}")
    expect(m["body"] == args.expect, f"body {m['body']!r}")
    await a.offline()


async def roster_get(c, ver):
    """A roster get with a version (RFC 6121 §2.6.2); returns the result."""
    iq = c.Iq()
    iq["type"] = "get"
    iq.enable("roster")
    iq["roster"].xml.set("ver", ver)
    return await iq.send(timeout=TIMEOUT)


async def scenario_rosterver(args):
    """Roster versioning (RFC 6121 §2.6): a get with the current version
    is answered with an empty result, a change is pushed with a new
    version, and an old version gets the whole roster."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = await Client(a_jid, args.password, args).online()
    expect("rosterver" in a.features, "the server announces roster versioning")
    r1 = await roster_get(a, "")
    v1 = r1.xml.find("{jabber:iq:roster}query").get("ver")
    expect(v1 is not None and v1 != "", f"a get with ver='' returns the roster with a version ({v1})")
    r2 = await roster_get(a, v1)
    expect(r2.xml.find("{jabber:iq:roster}query") is None, "a get with the current version returns an empty result")
    pushes = asyncio.Queue()
    a.add_event_handler("roster_update", lambda iq: pushes.put_nowait(iq))
    await a.update_roster(b_jid, name="Bee", groups=["Friends"])
    push = await asyncio.wait_for(pushes.get(), TIMEOUT)
    v2 = push.xml.find("{jabber:iq:roster}query").get("ver")
    items = push["roster"]["items"]
    expect(v2 not in (None, "", v1), f"the change is pushed with a new version ({v1} -> {v2})")
    expect(b_jid in {str(k) for k in items} and items[slixmpp.JID(b_jid)]["name"] == "Bee", "the push carries the item")
    r3 = await roster_get(a, v2)
    expect(r3.xml.find("{jabber:iq:roster}query") is None, "a get with the new version returns an empty result")
    r4 = await roster_get(a, v1)
    q = r4.xml.find("{jabber:iq:roster}query")
    expect(q is not None and q.get("ver") == v2 and len(q) == 1, "a get with the old version returns the roster at the new version")
    await a.offline()


class Component(slixmpp.ComponentXMPP):
    """An external component (XEP-0114) that answers every message with
    "echo: " and the body."""

    def __init__(self, args, secret):
        super().__init__(args.component, secret, "127.0.0.1", args.comp_port)
        self.stream_errors = asyncio.Queue()
        self.started = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", lambda _: self.started.done() or self.started.set_result(True))
        self.add_event_handler("stream_error", lambda e: self.stream_errors.put_nowait(e["condition"]))
        self.add_event_handler("message", self._echo)

    def _echo(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            msg.reply("echo: " + msg["body"]).send()

    async def online(self):
        self.connect()
        await asyncio.wait_for(self.started, TIMEOUT)
        return self


async def scenario_component(args):
    """An external component (XEP-0114) with slixmpp's ComponentXMPP: the
    handshake, a local user's message answered by the component, a wrong
    secret refused, and a component that claims a 'from' outside its
    domain cut off with invalid-from."""
    comp = await Component(args, args.secret).online()
    expect(True, f"component {args.component} connected")
    user = await Client(jid(args, args.users[0]), args.password, args).online()
    user.send_message(mto=f"echo@{args.component}", mbody="ping", mtype="chat")
    m = await user.next_message()
    expect(m["from"] == f"echo@{args.component}" and m["body"] == "echo: ping", f"the component answered: {m['from']}: {m['body']}")

    bad = Component(args, args.secret + "-wrong")
    bad.connect()
    cond = await asyncio.wait_for(bad.stream_errors.get(), TIMEOUT)
    expect(cond == "not-authorized" and not bad.started.done(), f"a wrong secret is refused ({cond})")
    quiet_abort(bad)

    # A component speaks only for its own domain (XEP-0114 §3).
    comp.send_message(mto=user.boundjid, mfrom=jid(args, "mallory"), mbody="spoofed", mtype="chat")
    cond = await asyncio.wait_for(comp.stream_errors.get(), TIMEOUT)
    expect(cond == "invalid-from", f"a foreign 'from' ends the component's stream ({cond})")
    await asyncio.sleep(0.5)
    expect(user.messages.empty(), "the spoofed message was not delivered")
    quiet_abort(comp)
    await user.offline()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls-port", type=int, required=True)
    p.add_argument("--domain", default="localhost")
    p.add_argument("--ca", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--users", nargs="+", required=True)
    p.add_argument("--expect", default="")
    p.add_argument("--comp-port", type=int, default=0)
    p.add_argument("--component", default="")
    p.add_argument("--secret", default="")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--window", type=float, default=0, help="the server's resume window in seconds")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR)
    fn = globals().get("scenario_" + args.scenario)
    if fn is None:
        sys.exit(f"unknown scenario {args.scenario}")
    await asyncio.wait_for(fn(args), 120)
    print("PASS", args.scenario, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
