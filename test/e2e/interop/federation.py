#!/usr/bin/python3
"""Federation scenario driven with slixmpp: one client on each of two
servers. Exits 0 and prints PASS on success, raises otherwise.

    federation.py --a JID,PORT,CA --b JID,PORT,CA --password PW [--register]

Steps: both log in (registering in-band first with --register), A asks to
subscribe to B's presence, B's client accepts and asks back (slixmpp's
auto_authorize and auto_subscribe), until both rosters say "both"; each
sees the other available; a message goes each way.
"""
import argparse
import asyncio
import logging
import sys

import slixmpp

TIMEOUT = 20


class Client(slixmpp.ClientXMPP):
    def __init__(self, spec, password):
        jid, port, ca = spec.split(",")
        super().__init__(jid, password)
        self.port = int(port)
        self.ca_certs = ca
        self.messages = asyncio.Queue()
        self.available = set()
        self.auto_authorize = True
        self.auto_subscribe = True
        for p in ("xep_0030", "xep_0077", "xep_0199"):
            self.register_plugin(p)
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("message_error", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("presence_available", lambda p: self.available.add(p["from"].bare))
        self.add_event_handler("session_start", self._start)

    async def _start(self, _):
        await self.get_roster()
        self.send_presence()

    async def online(self):
        self.connect(address=("127.0.0.1", self.port))
        await self.wait_until("session_start", TIMEOUT)
        await asyncio.sleep(0.2)
        return self


async def register(spec, password):
    """Create the account in-band (XEP-0077)."""
    jid, port, ca = spec.split(",")
    c = slixmpp.ClientXMPP(jid, password)
    c.ca_certs = ca
    c.register_plugin("xep_0077")
    c["xep_0077"].force_registration = True
    # slixmpp 1.8 holds back stanzas until a session exists, which would
    # keep the registration request from ever being sent.
    c._always_send_everything = True
    done = asyncio.get_event_loop().create_future()

    async def on_register(_):
        resp = c.Iq()
        resp["type"] = "set"
        resp["register"]["username"] = c.boundjid.user
        resp["register"]["password"] = password
        try:
            await resp.send()
        except slixmpp.exceptions.IqError as e:
            if e.iq["error"]["condition"] != "conflict":
                raise
        done.set_result(True)
        c.disconnect()

    c.add_event_handler("register", on_register)
    c.connect(address=("127.0.0.1", int(port)))
    await asyncio.wait_for(done, TIMEOUT)
    print("ok: registered", jid, flush=True)


async def until(cond, what, timeout=TIMEOUT):
    loop = asyncio.get_event_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("timed out waiting for " + what)
        await asyncio.sleep(0.1)
    print("ok:", what, flush=True)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--register", choices=["a", "b", "both", "none"], default="none")
    p.add_argument("--refused", action="store_true",
                   help="expect every message either way to come back as an error")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR)

    if args.register in ("a", "both"):
        await register(args.a, args.password)
    if args.register in ("b", "both"):
        await register(args.b, args.password)
    a = await Client(args.a, args.password).online()
    b = await Client(args.b, args.password).online()
    ab, bb = a.boundjid.bare, b.boundjid.bare

    if args.refused:
        for x, y in ((a, b), (b, a)):
            x.send_message(mto=y.boundjid.bare, mbody="knock knock", mtype="chat")
            m = await asyncio.wait_for(x.messages.get(), 60)
            assert m["type"] == "error", m
            print("ok: %s got %s back for a message to %s" % (x.boundjid.bare, m["error"]["condition"], y.boundjid.bare), flush=True)
            assert y.messages.empty(), "the message arrived all the same"
        a.disconnect()
        b.disconnect()
        print("PASS federation", flush=True)
        return

    a.send_presence_subscription(pto=bb)
    await until(lambda: a.client_roster[bb]["subscription"] == "both" and b.client_roster[ab]["subscription"] == "both",
                "subscriptions are mutual")
    await until(lambda: bb in a.available and ab in b.available, "each sees the other available")

    a.send_message(mto=bb, mbody="hello from " + ab, mtype="chat")
    m = await asyncio.wait_for(b.messages.get(), TIMEOUT)
    assert m["body"] == "hello from " + ab and m["from"].bare == ab, m
    print("ok: message A to B", flush=True)
    b.send_message(mto=m["from"], mbody="hello back", mtype="chat")
    m = await asyncio.wait_for(a.messages.get(), TIMEOUT)
    assert m["body"] == "hello back" and m["from"].bare == bb, m
    print("ok: message B to A", flush=True)

    a.disconnect()
    b.disconnect()
    print("PASS federation", flush=True)


if __name__ == "__main__":
    try:
        asyncio.get_event_loop().run_until_complete(main())
    except Exception as e:  # the test reads the output
        print("FAIL:", repr(e), flush=True)
        sys.exit(1)
