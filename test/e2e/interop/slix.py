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
