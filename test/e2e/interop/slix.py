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
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath
from slixmpp.xmlstream.matcher.base import MatcherBase

TIMEOUT = 15


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, args, mech=None, priority=0):
        super().__init__(jid, password, sasl_mech=mech)
        self.args = args
        self.ca_certs = args.ca
        self.priority = priority
        self.messages = asyncio.Queue()
        self.errors = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.failed = asyncio.get_event_loop().create_future()
        for p in ("xep_0030", "xep_0077", "xep_0191", "xep_0199", "xep_0203"):
            self.register_plugin(p)
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


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls-port", type=int, required=True)
    p.add_argument("--domain", default="localhost")
    p.add_argument("--ca", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--users", nargs="+", required=True)
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR)
    fn = globals().get("scenario_" + args.scenario)
    if fn is None:
        sys.exit(f"unknown scenario {args.scenario}")
    await asyncio.wait_for(fn(args), 120)
    print("PASS", args.scenario, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
