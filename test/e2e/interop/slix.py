#!/usr/bin/python3
"""Scenarios that drive a running samtal with slixmpp, an independent XMPP
client library. Each scenario exits 0 on success and raises otherwise.

    slix.py SCENARIO --port 5222 --tls-port 5223 --domain localhost --ca CERT
"""
import argparse
import asyncio
import logging
import sys
import uuid

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath
from slixmpp.xmlstream.matcher.base import MatcherBase

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
        if msg.xml.find("{urn:xmpp:mam:2}result") is not None or \
                msg.xml.find("{urn:xmpp:carbons:2}sent") is not None or \
                msg.xml.find("{urn:xmpp:carbons:2}received") is not None:
            return  # archive results and carbons have their own handlers
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


async def cut_while_sent(a, b, to, prefix, n):
    """a sends n chat messages (prefix 0 .. prefix n-1) to the bare JID to
    while b has stopped reading, then b's connection is cut: some are
    in flight, some queued, none acknowledged."""
    b.transport.pause_reading()
    for i in range(n):
        a.send_message(mto=to, mbody=f"{prefix}{i}", mtype="chat")
    await cut(b)


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

    await cut_while_sent(a, b, b_jid, "sm ", 50)
    expect(sm.sm_id is not None, "the client kept its session to resume it")
    resumed = asyncio.ensure_future(b.wait_until("session_resumed", TIMEOUT))
    b.connect(address=("127.0.0.1", args.port))
    await resumed
    expect(True, "the session was resumed on a new connection")
    got = await bodies(b, "sm ", 50)
    expect(exactly_once(got, "sm ", 50), f"all 50 messages arrived exactly once after resumption (got {len(got)})")
    expect([m["body"] for m in got] == [f"sm {i}" for i in range(50)], "in the order they were sent")
    # Messages the server had written before the cut are re-sent with a
    # delay stamp; those still queued go out for the first time, without
    # one. How many of each depends on timing.
    expect(any(m["delay"]["stamp"] is not None for m in got), "re-sent messages carry a delay stamp (XEP-0203)")
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
    await cut_while_sent(a, b, b_jid, "lost ", 50)
    await asyncio.sleep(args.window + 2)
    b2 = await Client(b_jid, args.password, args).online()
    got = await bodies(b2, "lost ", 50)
    expect(exactly_once(got, "lost ", 50), f"all 50 unacknowledged messages came from offline storage exactly once (got {len(got)})")
    expect(all(m["delay"]["stamp"] is not None for m in got), "each carries a delay stamp (XEP-0203)")
    await a.offline()
    await b2.offline()


async def scenario_offline_backlog(args):
    """A backlog of offline messages far larger than the server's
    out-queue (--count of them, bodies "backlog NNNN ...") reaches a
    client with stream management that reads slowly, in one session:
    every message once and in order, the stream up all along (the Go side
    checks that no stream ended with policy-violation), and nothing is
    left for the next session."""
    n = args.count
    b_jid = jid(args, args.users[0])
    b = Client(b_jid, args.password, args, plugins=("xep_0198",))
    got = []
    done = asyncio.get_event_loop().create_future()
    lost = []

    def on_message(m):
        body = m["body"]
        if body.startswith("backlog "):
            got.append(body.split(" ", 2)[1])
            if len(got) >= n and not done.done():
                done.set_result(True)

    async def throttle():
        # A slow link: the client reads for 10 ms in every 50, from
        # before its initial presence brings the backlog.
        while not done.done() and not lost:
            t = b.transport
            if t is None:
                return
            t.pause_reading()
            await asyncio.sleep(0.04)
            t.resume_reading()
            await asyncio.sleep(0.01)

    b.add_event_handler("message", on_message)
    b.add_event_handler("session_start", lambda _: asyncio.ensure_future(throttle()))
    gone = asyncio.get_event_loop().create_future()

    def on_lost(why):
        lost.append(why)
        if not gone.done():
            gone.set_result(True)

    b.add_event_handler("disconnected", lambda _: on_lost("disconnected"))
    b.add_event_handler("stream_error", lambda e: on_lost(str(e)))
    loop = asyncio.get_event_loop()
    start = loop.time()
    await b.online()
    expect(b["xep_0198"].sm_id is not None, "stream management enabled with resumption")
    await asyncio.wait([done, gone], timeout=100, return_when=asyncio.FIRST_COMPLETED)
    took = loop.time() - start
    expect(not lost, f"the stream stayed up while the backlog came (got {len(got)} of {n})")
    expect(len(got) >= n, f"all {n} messages arrived in one session, in {took:.1f}s")
    # The server asks for an acknowledgement within ack_delay of its last
    # stanza; wait for it, and for any duplicate.
    await asyncio.sleep(2.5)
    # Message i came from sender i mod --senders: each sender's come in
    # the order it sent them.
    idx = [int(g) for g in got]
    k = max(args.senders, 1)
    in_order = all([i for i in idx if i % k == s] == list(range(s, n, k)) for s in range(k))
    expect(len(idx) == n and in_order, f"each exactly once and in order ({len(got)} arrived)")
    await b.offline()
    b2 = await Client(b_jid, args.password, args).online()
    await asyncio.sleep(1.5)
    left = [m for m in list(b2.messages._queue) if m["body"].startswith("backlog ")]
    expect(not left, f"nothing left in offline storage for the next session ({len(left)} came)")
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

NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
NS_SID = "urn:xmpp:sid:0"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_PUSH = "urn:xmpp:push:0"
NS_CLIENT = "jabber:client"


class MamError(Exception):
    def __init__(self, condition):
        super().__init__(condition)
        self.condition = condition


async def mam_query(c, fields=None, rsm=None, flip=False):
    """Send an archive query with slixmpp's own stanzas and collect what
    comes back: a list of (archive id, stamp, body, message) and the
    <fin/> as (complete, first, last, count)."""
    iq = c.make_iq_set()
    qid = iq["id"]
    q = ET.SubElement(iq.xml, "{%s}query" % NS_MAM, queryid=qid)
    if fields:
        x = ET.SubElement(q, "{jabber:x:data}x", type="submit")
        ft = ET.SubElement(x, "{jabber:x:data}field", var="FORM_TYPE", type="hidden")
        ET.SubElement(ft, "{jabber:x:data}value").text = NS_MAM
        for var, values in fields.items():
            f = ET.SubElement(x, "{jabber:x:data}field", var=var)
            for v in values if isinstance(values, list) else [values]:
                ET.SubElement(f, "{jabber:x:data}value").text = v
    if rsm is not None:
        st = ET.SubElement(q, "{%s}set" % NS_RSM)
        for k, v in rsm.items():
            ET.SubElement(st, "{%s}%s" % (NS_RSM, k)).text = v
    if flip:
        ET.SubElement(q, "{%s}flip-page" % NS_MAM)
    results = []

    def on_result(msg):
        r = msg.xml.find("{%s}result" % NS_MAM)
        if r is None or r.get("queryid") != qid:
            return
        if msg["from"] != c.boundjid.bare:
            raise AssertionError(f"result from {msg['from']}, not from the archive")
        fwd = r.find("{%s}forwarded" % NS_FORWARD)
        m = fwd.find("{%s}message" % NS_CLIENT)
        stamp = fwd.find("{urn:xmpp:delay}delay").get("stamp")
        results.append((r.get("id"), stamp, m.findtext("{%s}body" % NS_CLIENT), m))

    name = "mam-" + qid
    c.register_handler(Callback(name, MatchXPath("{%s}message/{%s}result" % (NS_CLIENT, NS_MAM)), on_result))
    try:
        resp = await iq.send(timeout=TIMEOUT)
    except IqError as e:
        raise MamError(e.iq["error"]["condition"])
    finally:
        c.remove_handler(name)
    fin = resp.xml.find("{%s}fin" % NS_MAM)
    st = fin.find("{%s}set" % NS_RSM)
    count = st.findtext("{%s}count" % NS_RSM)
    return results, (fin.get("complete") == "true", st.findtext("{%s}first" % NS_RSM),
                     st.findtext("{%s}last" % NS_RSM), int(count) if count else None)


async def collect(c, n, what):
    got = []
    for _ in range(n):
        got.append(await c.next_message())
    expect(len(got) == n, f"{what}: {n} messages arrived")
    return got


async def scenario_carbons(args):
    """Two resources of one user enable carbons (XEP-0280): each sees what
    the other sends and receives; private messages and a disabled
    session get no copies."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a1 = Client(a_jid + "/one", args.password, args, priority=5)
    a2 = Client(a_jid + "/two", args.password, args, priority=1)
    for c in (a1, a2):
        c.register_plugin("xep_0280")
        c.register_plugin("xep_0334")
    sent, received = asyncio.Queue(), asyncio.Queue()
    a2.add_event_handler("carbon_sent", lambda m: sent.put_nowait(m))
    a2.add_event_handler("carbon_received", lambda m: received.put_nowait(m))
    a1_carbons = asyncio.Queue()
    a1.add_event_handler("carbon_sent", lambda m: a1_carbons.put_nowait(m))
    await a1.online()
    await a2.online()
    info = await a1["xep_0030"].get_info(jid=args.domain)
    expect(NS_CARBONS in info["disco_info"]["features"], "the server advertises urn:xmpp:carbons:2")
    expect("urn:xmpp:carbons:rules:0" in info["disco_info"]["features"], "the server advertises the carbons rules")
    await a1["xep_0280"].enable()
    await a2["xep_0280"].enable()
    await a2["xep_0280"].enable()  # twice is fine (XEP-0280 §9.1)
    b = await Client(b_jid, args.password, args).online()

    b.send_message(mto=a_jid + "/one", mbody="to one", mtype="chat")
    m = await a1.next_message()
    expect(m["body"] == "to one", "the addressed resource gets the message")
    c = await asyncio.wait_for(received.get(), TIMEOUT)
    fwd = c["carbon_received"]
    expect(c["from"] == a_jid and fwd["body"] == "to one" and fwd["from"].bare == b_jid,
           "the other resource gets a received carbon from the bare JID")
    sid = fwd.xml.find("{%s}stanza-id" % NS_SID)
    expect(sid is not None and sid.get("by") == a_jid, "the received carbon carries the archive's stanza-id")

    a1.send_message(mto=b_jid, mbody="from one", mtype="chat")
    m = await b.next_message()
    expect(m["body"] == "from one", "the contact gets the message")
    expect(m.xml.find("{%s}stanza-id" % NS_SID) is None or
           all(s.get("by") != a_jid for s in m.xml.findall("{%s}stanza-id" % NS_SID)),
           "the contact does not see the sender's archive id")
    c = await asyncio.wait_for(sent.get(), TIMEOUT)
    fwd = c["carbon_sent"]
    expect(fwd["body"] == "from one" and fwd["to"].bare == b_jid and fwd["from"] == a1.boundjid,
           "the other resource gets a sent carbon")
    expect(fwd.xml.find("{%s}stanza-id" % NS_SID) is not None, "the sent carbon carries the archive's stanza-id")
    await asyncio.sleep(0.3)
    expect(a1_carbons.empty(), "the sender gets no carbon of its own message")

    # A private message (XEP-0280 §8 with the XEP-0334 no-copy hint).
    msg = a1.make_message(mto=b_jid + "/" + b.boundjid.resource, mbody="private", mtype="chat")
    ET.SubElement(msg.xml, "{%s}private" % NS_CARBONS)
    msg.enable("no-copy")
    msg.send()
    m = await b.next_message()
    expect(m["body"] == "private", "the private message arrives")
    b.send_message(mto=a_jid + "/one", mbody="private reply", mtype="chat",)
    await a1.next_message()
    await asyncio.sleep(0.5)
    expect(sent.empty(), "no sent carbon of a private message")
    c = await asyncio.wait_for(received.get(), TIMEOUT)
    expect(c["carbon_received"]["body"] == "private reply", "a normal reply is copied")

    await a2["xep_0280"].disable()
    b.send_message(mto=a_jid + "/one", mbody="after disable", mtype="chat")
    await a1.next_message()
    await asyncio.sleep(0.5)
    expect(received.empty(), "a session that disabled carbons gets no copies")
    for cl in (a1, a2, b):
        await cl.offline()


async def scenario_mam_paging(args):
    """250 messages from one contact and a few from another, then the
    archive (XEP-0313) paged forward and backward, filtered by contact,
    time and id, flipped, and its metadata."""
    a_jid, b_jid, c_jid = (jid(args, u) for u in args.users[:3])
    a = await Client(a_jid, args.password, args).online()
    b = await Client(b_jid, args.password, args).online()
    c = await Client(c_jid, args.password, args).online()
    info = await a["xep_0030"].get_info(jid=a_jid)
    features = info["disco_info"]["features"]
    expect(NS_MAM in features and NS_MAM + "#extended" in features, "the account advertises mam:2 and #extended")
    live = {}
    for i in range(250):
        b.send_message(mto=a_jid, mbody=f"msg {i:03d}", mtype="chat")
        if i % 25 == 0:
            c.send_message(mto=a_jid, mbody=f"other {i // 25}", mtype="chat")
        if i % 50 == 49:
            await asyncio.sleep(0.3)  # stay under the stanza rate
    for m in await collect(a, 260, "live delivery"):
        sid = m.xml.find("{%s}stanza-id" % NS_SID)
        if sid is None or sid.get("by") != a_jid:
            raise AssertionError(f"live message without the archive's stanza-id: {m}")
        live[m["body"]] = sid.get("id")
    expect(True, "every live message carries the archive's stanza-id (XEP-0359)")
    want = [f"msg {i:03d}" for i in range(250)]

    # Forward, with=b, pages of 50.
    got, after, pages = [], None, 0
    while True:
        rsm = {"max": "50"}
        if after:
            rsm["after"] = after
        res, (complete, first, last, count) = await mam_query(a, {"with": b_jid}, rsm)
        pages += 1
        got += res
        expect(complete == (len(got) == 250), f"forward page {pages}: complete only on the last page")
        if complete:
            break
        after = last
    expect([r[2] for r in got] == want, "paging forward returns the 250 messages in order")
    expect(all(live[r[2]] == r[0] for r in got), "archive ids are the stanza-ids the live messages carried")
    ids = {r[2]: r[0] for r in got}
    stamps = [r[1] for r in got]

    # Backward from the end.
    back, before = [], ""
    while True:
        res, (complete, first, last, count) = await mam_query(a, {"with": b_jid}, {"max": "50", "before": before})
        back = res + back
        if complete:
            break
        before = first
    expect([r[2] for r in back] == want, "paging backward returns the same 250 messages")

    # Flipped: the last page, newest first.
    res, (_, first, last, _) = await mam_query(a, {"with": b_jid}, {"max": "10", "before": ""}, flip=True)
    expect([r[2] for r in res] == list(reversed(want[-10:])), "a flipped page comes newest first")
    expect(first == ids[want[-10]] and last == ids[want[-1]], "a flipped page keeps first and last")

    # Without a filter: both contacts.
    res, (complete, _, _, _) = await mam_query(a, None, {"max": "300"})
    expect(len(res) == 100 and not complete, "a page larger than max_page is cut to max_page")
    res, _ = await mam_query(a, {"with": c_jid}, {"max": "50"})
    expect([r[2] for r in res] == [f"other {i}" for i in range(10)], "with=another contact gives only theirs")

    # Time: the messages stamped between the stamps of msg 100 and msg 149.
    start, end = stamps[100], stamps[149]
    res, _ = await mam_query(a, {"with": b_jid, "start": start, "end": end}, {"max": "100"})
    expect([r[2] for r in res] == [r[2] for r in got if start <= r[1] <= end] and len(res) >= 50,
           "start and end select the messages stamped between them")

    # By id.
    res, _ = await mam_query(a, {"with": b_jid, "after-id": ids["msg 010"], "before-id": ids["msg 020"]}, {"max": "50"})
    expect([r[2] for r in res] == want[11:20], "after-id and before-id select the messages between")
    res, _ = await mam_query(a, {"ids": [ids["msg 005"], ids["msg 200"]]})
    expect([r[2] for r in res] == ["msg 005", "msg 200"], "ids fetches single messages")
    try:
        await mam_query(a, {"after-id": "no-such-id"})
        raise AssertionError("an unknown id was accepted")
    except MamError as e:
        expect(e.condition == "item-not-found", "an unknown id gives item-not-found")
    try:
        await mam_query(a, {"{urn:example}full-text": "x"})
        raise AssertionError("an unknown field was accepted")
    except MamError as e:
        expect(e.condition == "feature-not-implemented", "an unknown field gives feature-not-implemented")

    # Metadata.
    a.register_plugin("xep_0313")
    md = await a["xep_0313"].get_archive_metadata()
    mdx = md.xml.find("{%s}metadata" % NS_MAM)
    first_all, _ = await mam_query(a, None, {"max": "1"})
    last_all, _ = await mam_query(a, None, {"max": "1", "before": ""})
    expect(mdx.find("{%s}start" % NS_MAM).get("id") == first_all[0][0] and
           mdx.find("{%s}end" % NS_MAM).get("id") == last_all[0][0], "metadata names the first and last messages")

    # slixmpp's own MAM iterator agrees.
    n = 0
    async for _ in a["xep_0313"].iterate(with_jid=slixmpp.JID(b_jid), rsm={"max": 100}):
        n += 1
    expect(n == 250, f"slixmpp's MAM iterator finds the 250 messages ({n})")
    for cl in (a, b, c):
        await cl.offline()


async def scenario_mam_store(args):
    """The first user sends the second, online, four messages, so that
    both archives hold them (for scenario mam_stored, maybe after the
    store has moved)."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = await Client(a_jid, args.password, args).online()
    b = await Client(b_jid, args.password, args).online()
    for i in range(4):
        a.send_message(mto=b_jid, mbody=f"archived {i}", mtype="chat")
        await b.next_message()
        await asyncio.sleep(0.05)  # distinct times
    for c in (a, b):
        await c.offline()
    expect(True, "four messages archived")


async def scenario_mam_stored(args):
    """Both archives hold the four messages of scenario mam_store, in
    order, with their ids and times: the time of the third still finds
    its place, and paging by id still works."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    for me, other in ((a_jid, b_jid), (b_jid, a_jid)):
        c = await Client(me, args.password, args).online()
        res, fin = await mam_query(c, {"with": other})
        bodies = [r[2] for r in res]
        expect(bodies == [f"archived {i}" for i in range(4)] and fin[0] and fin[3] == 4,
               f"{me}'s archive holds the four messages in order")
        later, _ = await mam_query(c, {"with": other, "start": res[2][1]})
        expect([r[2] for r in later] == ["archived 2", "archived 3"], "a start time finds its place")
        page, fin = await mam_query(c, {"with": other}, {"max": "2", "after": res[0][0]})
        expect([r[2] for r in page] == ["archived 1", "archived 2"] and not fin[0], "paging after an id")
        await c.offline()


async def scenario_mam_prefs(args):
    """Archiving preferences (XEP-0441): default, never and always lists."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = await Client(a_jid, args.password, args).online()
    b = await Client(b_jid, args.password, args).online()
    a.register_plugin("xep_0313")
    a.register_plugin("xep_0441")
    default, always, never = await a["xep_0441"].get_preferences()
    expect(default == "always" and not always and not never, "default preferences: always")
    await a["xep_0441"].set_preferences(default="always", always=[], never=[slixmpp.JID(b_jid)])
    default, always, never = await a["xep_0441"].get_preferences()
    expect(default == "always" and [str(j) for j in never] == [b_jid], "never list stored")
    b.send_message(mto=a_jid, mbody="not archived", mtype="chat")
    m = await a.next_message()
    expect(m.xml.find("{%s}stanza-id" % NS_SID) is None, "a message not archived has no stanza-id")
    res, _ = await mam_query(a, {"with": b_jid})
    expect(res == [], "a message with a JID in the never list is not archived")
    await a["xep_0441"].set_preferences(default="never", always=[slixmpp.JID(b_jid)], never=[])
    b.send_message(mto=a_jid, mbody="archived", mtype="chat")
    await a.next_message()
    a.send_message(mto=jid(args, "stranger"), mbody="to a stranger", mtype="chat")
    await asyncio.sleep(0.5)
    res, _ = await mam_query(a, None)
    expect([r[2] for r in res] == ["archived"], "default never archives only the always list")
    await a["xep_0441"].set_preferences(default="roster", always=[], never=[])
    b.send_message(mto=a_jid, mbody="not in roster", mtype="chat")
    await a.next_message()
    res, _ = await mam_query(a, None)
    expect([r[2] for r in res] == ["archived"], "default roster does not archive a contact outside the roster")
    for cl in (a, b):
        await cl.offline()


async def scenario_mam_empty(args):
    """The user empties the archive with the ad-hoc command (XEP-0050)."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = Client(a_jid, args.password, args)
    a.register_plugin("xep_0050")
    a.register_plugin("xep_0313")
    await a.online()
    b = await Client(b_jid, args.password, args).online()
    for i in range(3):
        b.send_message(mto=a_jid, mbody=f"keep {i}", mtype="chat")
    await collect(a, 3, "before emptying")
    res, _ = await mam_query(a, None)
    expect(len(res) == 3, "three messages archived")
    items = await a["xep_0050"].get_commands(jid=args.domain)
    nodes = {i[1]: i[2] for i in items["disco_items"]["items"]}
    node = "urn:samtal:commands:empty-archive"
    expect(node in nodes, f"the server lists the command to empty the archive ({nodes})")
    r = await a["xep_0050"].send_command(args.domain, node)
    cmd = r["command"]
    expect(cmd["status"] == "executing" and cmd["form"] is not None, "the command asks for confirmation")
    # Cancel first: nothing happens.
    r2 = await a["xep_0050"].send_command(args.domain, node, action="cancel", sessionid=cmd["sessionid"])
    expect(r2["command"]["status"] == "canceled", "the command can be canceled")
    res, _ = await mam_query(a, None)
    expect(len(res) == 3, "canceling deletes nothing")
    r = await a["xep_0050"].send_command(args.domain, node)
    cmd = r["command"]
    form = a["xep_0004"].make_form(ftype="submit")
    form.add_field(var="confirm", value=True)
    r = await a["xep_0050"].send_command(args.domain, node, action="complete", sessionid=cmd["sessionid"], payload=form)
    expect(r["command"]["status"] == "completed", "the command completes")
    note = r.xml.find(".//{http://jabber.org/protocol/commands}note")
    expect(note is not None and "3" in note.text, f"it says how many messages went ({note.text if note is not None else None})")
    res, _ = await mam_query(a, None)
    expect(res == [], "the archive is empty")
    md = await a["xep_0313"].get_archive_metadata()
    expect(len(md.xml.find("{%s}metadata" % NS_MAM)) == 0, "metadata of the emptied archive is empty")
    for cl in (a, b):
        await cl.offline()


class AppServer(slixmpp.ComponentXMPP):
    """A push app server test double (XEP-0357 §4): an external component
    that records every publish it gets and answers it, or refuses it."""

    def __init__(self, args):
        super().__init__(args.component_domain, args.component_secret, "127.0.0.1", args.component_port)
        self.published = asyncio.Queue()
        self.refuse = False
        self.started = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", lambda _: self.started.done() or self.started.set_result(True))
        self.register_handler(Callback("push publish", MatchXPath(
            "{jabber:component:accept}iq/{http://jabber.org/protocol/pubsub}pubsub"), self._publish))

    def _publish(self, iq):
        self.published.put_nowait(iq)
        if self.refuse:
            err = iq.reply(clear=True)
            err["type"] = "error"
            err["error"]["condition"] = "item-not-found"
            err["error"]["type"] = "cancel"
            err.send()
        else:
            iq.reply(clear=True).send()


async def scenario_push(args):
    """Push notifications (XEP-0357) to an app server test double: a
    notification without sender or body for an offline user, none after
    disabling, and a service that refuses is disabled."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    app = AppServer(args)
    app.connect()
    await asyncio.wait_for(app.started, TIMEOUT)
    expect(True, "the app server double connected as a component")

    phone = await Client(b_jid + "/phone", args.password, args).online()
    info = await phone["xep_0030"].get_info(jid=b_jid)
    expect(NS_PUSH in info["disco_info"]["features"], "the account advertises urn:xmpp:push:0")

    def enable_iq(node, secret):
        iq = phone.make_iq_set()
        en = ET.SubElement(iq.xml, "{%s}enable" % NS_PUSH, jid=args.component_domain, node=node)
        x = ET.SubElement(en, "{jabber:x:data}x", type="submit")
        for var, val in (("FORM_TYPE", "http://jabber.org/protocol/pubsub#publish-options"), ("secret", secret)):
            f = ET.SubElement(x, "{jabber:x:data}field", var=var)
            ET.SubElement(f, "{jabber:x:data}value").text = val
        return iq
    await enable_iq("node-1", "s3cr3t-token").send(timeout=TIMEOUT)
    expect(True, "push enabled with publish options")
    await phone.offline()

    a = await Client(a_jid, args.password, args).online()
    a.send_message(mto=b_jid, mbody="Wherefore art thou, Romeo?", mtype="chat")
    iq = await asyncio.wait_for(app.published.get(), TIMEOUT)
    raw = str(iq)
    pub = iq.xml.find("{http://jabber.org/protocol/pubsub}pubsub/{http://jabber.org/protocol/pubsub}publish")
    expect(iq["from"] == args.domain and pub is not None and pub.get("node") == "node-1",
           "the server publishes to the node from its domain")
    expect(pub.find(".//{%s}notification" % NS_PUSH) is not None, "the item is a push notification")
    expect("s3cr3t-token" in raw, "the publish options are sent along")
    expect("Wherefore" not in raw and a_jid not in raw and args.users[0] not in raw,
           "the notification has neither body nor sender")
    expect(b_jid not in raw and args.users[1] not in raw, "the notification does not name the user")

    # A chat state wakes no phone.
    cs = a.make_message(mto=b_jid, mtype="chat")
    ET.SubElement(cs.xml, "{http://jabber.org/protocol/chatstates}composing")
    cs.send()
    await asyncio.sleep(0.5)
    expect(app.published.empty(), "a message without content triggers no notification")

    # Disable: no more notifications.
    phone = await Client(b_jid + "/phone", args.password, args).online()
    # The offline messages come with presence; then disable.
    iq = phone.make_iq_set()
    ET.SubElement(iq.xml, "{%s}disable" % NS_PUSH, jid=args.component_domain, node="node-1")
    await iq.send(timeout=TIMEOUT)
    await phone.offline()
    a.send_message(mto=b_jid, mbody="after disable", mtype="chat")
    await asyncio.sleep(1)
    expect(app.published.empty(), "no notification after disable")

    # A service that refuses a notification is disabled.
    phone = await Client(b_jid + "/phone", args.password, args).online()
    await enable_iq("node-2", "other").send(timeout=TIMEOUT)
    await phone.offline()
    app.refuse = True
    a.send_message(mto=b_jid, mbody="refused", mtype="chat")
    await asyncio.wait_for(app.published.get(), TIMEOUT)
    await asyncio.sleep(0.5)
    a.send_message(mto=b_jid, mbody="after refusal", mtype="chat")
    await asyncio.sleep(1)
    expect(app.published.empty(), "a service that refused gets no more notifications")
    await a.offline()
    app.disconnect()
NS_JMI = "urn:xmpp:jingle-message:0"
NS_JINGLE = "urn:xmpp:jingle:1"


def jmi(c, to, element, sid, extra=""):
    """Send a Jingle Message Initiation (XEP-0353) message: type chat,
    with a <store/> hint, as §3 requires."""
    msg = c.make_message(mto=to, mtype="chat")
    msg.appendxml(ET.fromstring(f"<{element} xmlns='{NS_JMI}' id='{sid}'>{extra}</{element}>"))
    msg.appendxml(ET.fromstring("<store xmlns='urn:xmpp:hints'/>"))
    msg.send()


class JMIMatcher(MatcherBase):
    """Matches messages with a JMI element; slixmpp's own message event
    needs a <body/>, which JMI messages do not have."""

    def __init__(self):
        super().__init__(None)

    def match(self, stanza):
        return stanza.xml.tag.endswith("}message") and any(ch.tag.startswith(f"{{{NS_JMI}}}") for ch in stanza.xml)


def receive_jmi(c):
    """Queue the JMI messages c receives."""
    c.jmis = asyncio.Queue()
    c.register_handler(Callback("jmi", JMIMatcher(), lambda m: c.jmis.put_nowait(m)))
    return c


async def next_jmi(c, element, sid):
    """The next JMI message a client receives: it must be element for sid."""
    m = await asyncio.wait_for(c.jmis.get(), TIMEOUT)
    el = m.xml.find(f"{{{NS_JMI}}}{element}")
    if el is None or el.get("id") != sid:
        raise AssertionError(f"{c.boundjid}: expected <{element} id='{sid}'/>, got {m}")
    return m


def answer_jingle(c):
    """Make c answer every Jingle iq with a result (XEP-0166 §6.2: the
    responder acknowledges each action) and queue them."""
    c.jingles = asyncio.Queue()

    def on_jingle(iq):
        c.jingles.put_nowait(iq)
        iq.reply().send()

    c.register_handler(Callback("jingle", MatchXPath(f"{{{c.default_ns}}}iq/{{{NS_JINGLE}}}jingle"), on_jingle))


async def jingle(c, to, action, sid, body=""):
    """Send a Jingle iq (XEP-0166) with a raw payload and wait for its
    result."""
    iq = c.make_iq_set(ito=to)
    iq.appendxml(ET.fromstring(
        f"<jingle xmlns='{NS_JINGLE}' action='{action}' initiator='{c.boundjid if action == 'session-initiate' else to}' sid='{sid}'>{body}</jingle>"))
    res = await iq.send(timeout=TIMEOUT)
    expect(res["type"] == "result", f"{action} to {to} acknowledged")


async def next_jingle(c, action, sid):
    iq = await asyncio.wait_for(c.jingles.get(), TIMEOUT)
    el = iq.xml.find(f"{{{NS_JINGLE}}}jingle")
    if el is None or el.get("action") != action or el.get("sid") != sid:
        raise AssertionError(f"{c.boundjid}: expected jingle {action} {sid}, got {iq}")
    return iq


RTP_AUDIO = ("<content creator='initiator' name='voice'>"
             "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><payload-type id='111' name='opus' clockrate='48000' channels='2'/></description>"
             "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='8hhy' pwd='asd88fgpdd777uzjYhagZg'>"
             "<candidate component='1' foundation='1' generation='0' id='c1' ip='127.0.0.1' network='0' port='40000' priority='2130706431' protocol='udp' type='host'/>"
             "</transport></content>")


async def scenario_jingle(args):
    """A call set up the way Conversations and Dino do it: Jingle Message
    Initiation (XEP-0353) rings every device of the callee, one device
    accepts, then a Jingle RTP session (XEP-0166/0167) is initiated,
    accepted and terminated with iqs to full JIDs. A proposal to a user
    who is offline waits for the next login; a rejection reaches the
    caller."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = await receive_jmi(Client(a_jid + "/desk", args.password, args)).online()
    phone = await receive_jmi(Client(b_jid + "/phone", args.password, args, priority=5)).online()
    laptop = await receive_jmi(Client(b_jid + "/laptop", args.password, args, priority=1)).online()
    for c in (a, phone, laptop):
        answer_jingle(c)

    sid = str(uuid.uuid4())
    jmi(a, b_jid, "propose", sid, "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>")
    await next_jmi(phone, "propose", sid)
    m = await next_jmi(laptop, "propose", sid)
    expect(m["from"] == a.boundjid, "the proposal rings every device of the callee (priority 5 and 1)")
    jmi(laptop, a_jid, "ringing", sid)
    await next_jmi(a, "ringing", sid)
    jmi(laptop, a_jid, "proceed", sid)
    m = await next_jmi(a, "proceed", sid)
    expect(m["from"] == laptop.boundjid, "the accepting device's proceed reaches the caller")

    await jingle(a, laptop.boundjid, "session-initiate", sid, RTP_AUDIO)
    iq = await next_jingle(laptop, "session-initiate", sid)
    expect(iq["from"] == a.boundjid, "session-initiate reached the accepting device's full JID")
    await jingle(laptop, a.boundjid, "session-accept", sid, RTP_AUDIO)
    await next_jingle(a, "session-accept", sid)
    await jingle(a, laptop.boundjid, "session-terminate", sid, f"<reason><success/></reason>")
    await next_jingle(laptop, "session-terminate", sid)
    expect(phone.jingles.empty() and phone.jmis.empty(), "the other device saw none of the session")
    jmi(a, b_jid, "finish", sid, f"<reason xmlns='{NS_JINGLE}'><success/></reason>")
    await next_jmi(phone, "finish", sid)
    await next_jmi(laptop, "finish", sid)
    expect(True, "finish reaches every device of the callee")

    sid2 = str(uuid.uuid4())
    jmi(a, b_jid, "propose", sid2, "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'/>")
    await next_jmi(phone, "propose", sid2)
    await next_jmi(laptop, "propose", sid2)
    jmi(phone, a_jid, "reject", sid2, f"<reason xmlns='{NS_JINGLE}'><busy/></reason>")
    m = await next_jmi(a, "reject", sid2)
    expect(m.xml.find(f"{{{NS_JMI}}}reject/{{{NS_JINGLE}}}reason/{{{NS_JINGLE}}}busy") is not None, "the rejection with its reason reaches the caller")

    # The callee goes offline: the proposal is kept and arrives, stamped,
    # at the next login (XEP-0353 §3: <store/>).
    await phone.offline()
    await laptop.offline()
    await asyncio.sleep(1)  # until the server has unbound both sessions
    sid3 = str(uuid.uuid4())
    jmi(a, b_jid, "propose", sid3, "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>")
    jmi(a, b_jid, "retract", sid3, f"<reason xmlns='{NS_JINGLE}'><cancel/></reason>")
    await asyncio.sleep(0.5)
    back = await receive_jmi(Client(b_jid + "/phone", args.password, args)).online()
    await next_jmi(back, "propose", sid3)
    m = await next_jmi(back, "retract", sid3)
    expect(m["delay"]["stamp"] is not None, "the missed call arrives after login, with a delay stamp")
    # A Jingle iq to a device that is gone bounces.
    iq = a.make_iq_set(ito=b_jid + "/laptop")
    iq.appendxml(ET.fromstring(f"<jingle xmlns='{NS_JINGLE}' action='session-initiate' initiator='{a.boundjid}' sid='x'/>"))
    try:
        await iq.send(timeout=TIMEOUT)
        raise AssertionError("a Jingle iq to an offline resource got a result")
    except slixmpp.exceptions.IqError as e:
        expect(e.iq["error"]["condition"] == "service-unavailable", "a Jingle iq to an offline resource bounces with service-unavailable")
    await a.offline()
    await back.offline()


async def scenario_bytestreams(args):
    """A file transfer through samtal's SOCKS5 proxy (XEP-0065) with
    slixmpp's own implementation: the initiator discovers proxy.<domain>,
    the target connects through it, the initiator activates the stream,
    and bytes flow both ways."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = Client(a_jid + "/send", args.password, args)
    b = Client(b_jid + "/recv", args.password, args)
    for c in (a, b):
        c.register_plugin("xep_0065")
    b["xep_0065"].auto_accept = True
    await a.online()
    await b.online()
    received_b, received_a = bytearray(), bytearray()
    got_b, got_a = asyncio.Event(), asyncio.Event()
    payload = bytes(range(256)) * 1024  # 256 KiB
    b.add_event_handler("socks5_data", lambda d: (received_b.extend(d), len(received_b) >= len(payload) and got_b.set()))
    a.add_event_handler("socks5_data", lambda d: (received_a.extend(d), len(received_a) >= 5 and got_a.set()))
    streams = asyncio.Queue()
    b.add_event_handler("socks5_stream", lambda conn: streams.put_nowait(conn))

    proxies = await a["xep_0065"].discover_proxies()
    expect(any(str(j) == f"proxy.{args.domain}" for j in proxies), f"proxy.{args.domain} discovered as a bytestreams proxy")
    sock = await asyncio.wait_for(a["xep_0065"].handshake(b.boundjid), TIMEOUT)
    expect(sock is not None, "the initiator connected through the proxy and activated the stream")
    await sock.write(payload)
    await asyncio.wait_for(got_b.wait(), TIMEOUT)
    expect(bytes(received_b) == payload, f"the target received the {len(payload)} bytes intact")
    conn = await asyncio.wait_for(streams.get(), TIMEOUT)
    await conn.write(b"thanks")
    await asyncio.wait_for(got_a.wait(), TIMEOUT)
    expect(bytes(received_a) == b"thanks", "the target's answer reached the initiator")
    await a.offline()
    await b.offline()



async def scenario_services(args):
    """The basic services with slixmpp's own plugins: disco with the
    XEP-0157 contact form, version, entity time, ping, vCards, private XML
    storage."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    a = await Client(a_jid, args.password, args).online()
    b = await Client(b_jid, args.password, args).online()
    for p in ("xep_0054", "xep_0092", "xep_0128", "xep_0202"):
        a.register_plugin(p)
        b.register_plugin(p)
    info = await a["xep_0030"].get_info(jid=args.domain)
    feats = info["disco_info"]["features"]
    expect("urn:xmpp:ping" in feats and "urn:xmpp:blocking" in feats, "disco#info lists the server's features")
    addrs = []
    for x in info.xml.findall("{http://jabber.org/protocol/disco#info}query/{jabber:x:data}x"):
        fields = {f.get("var"): [v.text for v in f.findall("{jabber:x:data}value")] for f in x.findall("{jabber:x:data}field")}
        if fields.get("FORM_TYPE") == ["http://jabber.org/network/serverinfo"]:
            addrs = fields.get("abuse-addresses", [])
    expect("mailto:abuse@localhost" in addrs, "the XEP-0157 contact form names the abuse address")
    ver = await a["xep_0092"].get_version(args.domain)
    expect(ver["software_version"]["name"] == "samtal", "software version answers samtal")
    t = await a["xep_0202"].get_entity_time(args.domain)
    # slixmpp 1.8 appends a second "Z" when it parses <utc/>: read the text.
    utc = t.xml.findtext("{urn:xmpp:time}time/{urn:xmpp:time}utc")
    expect(utc is not None and utc.endswith("Z"), f"entity time answers in UTC ({utc})")
    rtt = await a["xep_0199"].ping(args.domain, timeout=TIMEOUT)
    expect(rtt >= 0, "the server answers pings")
    card = a["xep_0054"].make_vcard()
    card["FN"] = "Ada Lovelace"
    await a["xep_0054"].publish_vcard(card)
    got = await b["xep_0054"].get_vcard(a_jid)
    expect(got["vcard_temp"]["FN"] == "Ada Lovelace", "a contact reads the vCard the user published")
    iq = a.make_iq_set()
    q = ET.Element("{jabber:iq:private}query")
    ET.SubElement(q, "{urn:example:notes}notes").text = "remember the milk"
    iq.append(q)
    await iq.send()
    iq = a.make_iq_get()
    q = ET.Element("{jabber:iq:private}query")
    ET.SubElement(q, "{urn:example:notes}notes")
    iq.append(q)
    res = await iq.send()
    notes = res.xml.find("{jabber:iq:private}query/{urn:example:notes}notes")
    expect(notes is not None and notes.text == "remember the milk", "private XML storage keeps what was stored")
    iq = b.make_iq_get(ito=a_jid)
    q = ET.Element("{jabber:iq:private}query")
    ET.SubElement(q, "{urn:example:notes}notes")
    iq.append(q)
    try:
        await iq.send()
        raise AssertionError("another user read private storage")
    except IqError as e:
        expect(e.iq["error"]["condition"] in ("forbidden", "service-unavailable"), "others cannot read a user's private storage")
    await a.offline()
    await b.offline()


async def scenario_upload(args):
    """HTTP file upload (XEP-0363) with slixmpp's own plugin: it finds
    the upload service through disco, asks for a slot and PUTs the file;
    the other user gets the URL in a message and downloads the same
    bytes. (The web server's certificate is trusted through
    SSL_CERT_FILE.)"""
    import os
    import aiohttp
    a = Client(jid(args, args.users[0]), args.password, args)
    a.register_plugin("xep_0363")
    b = Client(jid(args, args.users[1]), args.password, args)
    await a.online()
    await b.online()
    # slixmpp 1.8's own discovery (find_upload_service) passes bare
    # coroutines to asyncio.wait, which Python 3.11 refuses; find the
    # service with its disco plugin instead, as that discovery would.
    up = a["xep_0363"]
    items = await a["xep_0030"].get_items(jid=args.domain, timeout=TIMEOUT)
    for item in items["disco_items"]["items"]:
        try:
            info = await a["xep_0030"].get_info(jid=item[0], timeout=TIMEOUT)
        except slixmpp.exceptions.IqError:
            continue  # an item that is not there now (a component not connected)
        if ("store", "file") in [(i[0], i[1]) for i in info["disco_info"]["identities"]] and \
                "urn:xmpp:http:upload:0" in info["disco_info"]["features"]:
            up.upload_service = info["from"]
            for form in info["disco_info"].iterables:
                values = form["values"]
                if values.get("FORM_TYPE") == ["urn:xmpp:http:upload:0"]:
                    up.max_file_size = int(values["max-file-size"])
    expect(up.upload_service == "upload." + args.domain, f"found the upload service {up.upload_service}")
    expect(up.max_file_size == 20971520, f"with its size limit {up.max_file_size}")
    data = os.urandom(3000)
    url = await a["xep_0363"].upload_file("random.bin", size=len(data), input_file=__import__("io").BytesIO(data),
                                          content_type="application/octet-stream", timeout=TIMEOUT)
    expect(url.startswith("https://"), f"uploaded to {url}")
    a.send_message(mto=jid(args, args.users[1]), mbody=url)
    msg = await b.next_message()
    expect(msg["body"] == url, "the URL arrived")
    async with aiohttp.ClientSession() as session:
        async with session.get(msg["body"]) as resp:
            got = await resp.read()
            expect(resp.status == 200 and got == data, f"downloaded {len(got)} bytes, the same")
            expect(resp.headers.get("Content-Disposition", "").startswith("attachment"), "served as an attachment")
    too_big = False
    try:
        await a["xep_0363"].upload_file("big.bin", size=10 ** 9, input_file=__import__("io").BytesIO(b""), timeout=TIMEOUT)
    except Exception as e:
        too_big = "too" in str(e).lower() or "large" in str(e).lower() or "big" in type(e).__name__.lower()
    expect(too_big, "a file over the limit is refused")
    await a.offline()
    await b.offline()


def run_scenarios(scenarios, timeout=120, extra=None, one_server=True):
    """The command line of a scenario script: the common arguments (the
    server's ports, domain, CA, password and the users), those extra adds
    to the parser, then the scenario named first; PASS when it succeeds.
    A script of several servers (one_server=False) adds its own ports."""
    p = argparse.ArgumentParser()
    p.add_argument("scenario")
    if one_server:
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--tls-port", type=int, required=True)
    p.set_defaults(tls_port=0)
    p.add_argument("--domain", default="localhost")
    p.add_argument("--ca", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--users", nargs="+", required=True)
    p.add_argument("--debug", action="store_true")
    if extra is not None:
        extra(p)
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR)
    fn = scenarios.get("scenario_" + args.scenario)
    if fn is None:
        sys.exit(f"unknown scenario {args.scenario}")
    asyncio.run(asyncio.wait_for(fn(args), timeout))
    print("PASS", args.scenario, flush=True)


def arguments(p):
    """The arguments of this script's scenarios besides the common ones."""
    p.add_argument("--expect", default="")
    p.add_argument("--comp-port", type=int, default=0)
    p.add_argument("--component", default="")
    p.add_argument("--secret", default="")
    p.add_argument("--component-port", type=int)
    p.add_argument("--component-domain", default="bot.localhost")
    p.add_argument("--component-secret", default="component-secret")
    p.add_argument("--window", type=float, default=0, help="the server's resume window in seconds")
    p.add_argument("--count", type=int, default=0, help="how many messages a scenario expects")
    p.add_argument("--senders", type=int, default=1, help="how many senders a backlog came from")


if __name__ == "__main__":
    run_scenarios(globals(), extra=arguments)
