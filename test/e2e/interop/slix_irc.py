#!/usr/bin/python3
"""IRC gateway scenarios: irc-framework (the IRC client library behind
KiwiIRC, run by irc/driver.js under Node) and slixmpp in the same rooms
and conversations.

    slix_irc.py SCENARIO --port 5222 --irc-port 6697 --domain localhost --ca CERT ...
"""
import asyncio
import json
import os

from slix import TIMEOUT, Client, expect, jid, run_scenarios
from slix_muc import MucClient, archive_bodies, item_of

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "irc", "driver.js")


def parse_line(line):
    """A server line as (tags, source nick, command, params)."""
    line = line.rstrip("\r\n")
    tags = {}
    if line.startswith("@"):
        raw, line = line[1:].split(" ", 1)
        for t in raw.split(";"):
            k, _, v = t.partition("=")
            tags[k] = v.replace("\\s", " ").replace("\\:", ";").replace("\\\\", "\\")
    source = ""
    if line.startswith(":"):
        source, line = line[1:].split(" ", 1)
    if " :" in line:
        head, trailing = line.split(" :", 1)
        params = head.split() + [trailing]
    else:
        params = line.split()
    return tags, source.split("!")[0], params[0], params[1:]


class IRC:
    """irc-framework clients in one Node process."""

    async def start(self):
        self.proc = await asyncio.create_subprocess_exec(
            "node", DRIVER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self.events = []
        self.cond = asyncio.Condition()
        self.reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self):
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            ev = json.loads(line)
            if ev["event"] == "driver error":
                print("driver error:", ev, flush=True)
            async with self.cond:
                self.events.append(ev)
                self.cond.notify_all()

    def send(self, client, op, **kw):
        kw.update(client=client, op=op)
        self.proc.stdin.write((json.dumps(kw) + "\n").encode())

    def call(self, client, method, *args):
        self.send(client, "call", method=method, args=list(args))

    def raw(self, client, line):
        self.send(client, "raw", line=line)

    async def wait(self, client, event, pred=lambda d: True, timeout=TIMEOUT):
        """The first event not yet taken that matches, waiting for it."""
        async def find():
            async with self.cond:
                while True:
                    for i, ev in enumerate(self.events):
                        if ev["client"] == client and ev["event"] == event and pred(ev["data"]):
                            del self.events[i]
                            return ev["data"]
                    await self.cond.wait()
        try:
            return await asyncio.wait_for(find(), timeout)
        except asyncio.TimeoutError:
            seen = [e for e in self.events if e["client"] == client][-15:]
            raise AssertionError(f"{client}: no {event} event; last events: {seen}")

    async def batch(self, client, line, kind):
        """Send a command and return the lines of the batch that answers it."""
        self.raw(client, line)
        start = await self.wait(client, "raw", lambda d: parse_line(d["line"])[2] == "BATCH" and
                                parse_line(d["line"])[3][1:2] == [kind])
        ref = parse_line(start["line"])[3][0][1:]
        out = []
        while True:
            ev = await self.wait(client, "raw", lambda d: parse_line(d["line"])[0].get("batch") == ref or
                                 parse_line(d["line"])[3][:1] == ["-" + ref])
            tags, src, cmd, params = parse_line(ev["line"])
            if cmd == "BATCH":
                return out
            out.append((tags, src, cmd, params))

    async def stop(self):
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except asyncio.TimeoutError:
            self.proc.kill()


def irc_options(args, nick, **kw):
    o = {"host": "127.0.0.1", "port": args.irc_port, "tls": True, "rejectUnauthorized": False,
         "nick": nick, "username": nick, "gecos": nick.capitalize(),
         "account": {"account": nick, "password": args.password},
         "enable_echomessage": True, "caps": ["draft/chathistory", "labeled-response"]}
    o.update(kw)
    return o


async def scenario_room(args):
    """IRC users (alice, dave) and XMPP users (bob, carol) in one room:
    joins, messages both ways, topics both ways, op as a role, kicks
    both ways, away, private messages both ways, offline delivery of a
    private message, and history: the
    channel's CHATHISTORY is the room archive as MAM gives it, the
    private CHATHISTORY is the user's archive."""
    a_nick, b_nick, c_nick, d_nick = args.users[:4]
    service = "conference." + args.domain
    room = "lobby@" + service
    irc = await IRC().start()
    irc.send("a", "connect", options=irc_options(args, a_nick))
    reg = await irc.wait("a", "registered")
    expect(reg["nick"] == a_nick, "irc-framework logs in with SASL PLAIN over TLS and gets its account name as nick")
    irc.send("d", "connect", options=irc_options(args, d_nick))
    await irc.wait("d", "registered")

    b = await MucClient(jid(args, b_nick), args.password, args).online()
    c = await MucClient(jid(args, c_nick), args.password, args).online()
    b.subjects = asyncio.Queue()
    b.add_event_handler("groupchat_subject", lambda m: b.subjects.put_nowait(m))

    irc.call("a", "join", "#lobby")
    await irc.wait("a", "join", lambda d: d["nick"] == a_nick and d["channel"] == "#lobby")
    expect(True, "JOIN #lobby creates the room lobby@" + service)
    await b["xep_0045"].join_muc_wait(room, b_nick, timeout=TIMEOUT)
    expect(a_nick in b["xep_0045"].get_roster(room), "the XMPP user sees the IRC user in the room")
    j = await irc.wait("a", "join", lambda d: d["nick"] == b_nick)
    expect(j["channel"] == "#lobby", "the IRC user sees the XMPP user join")

    irc.call("a", "say", "#lobby", "hello from irc")
    m = await b.groupchat("hello from irc")
    expect(str(m["from"]) == f"{room}/{a_nick}", "a channel PRIVMSG reaches the XMPP user from the IRC nick")
    b.send_message(mto=room, mbody="hello from xmpp", mtype="groupchat")
    pm = await irc.wait("a", "privmsg", lambda d: d["message"] == "hello from xmpp")
    expect(pm["nick"] == b_nick and pm["target"] == "#lobby", "a groupchat message reaches the IRC user as PRIVMSG")

    irc.call("a", "setTopic", "#lobby", "irc topic")
    s = await asyncio.wait_for(b.subjects.get(), TIMEOUT)
    while s["subject"] != "irc topic":
        s = await asyncio.wait_for(b.subjects.get(), TIMEOUT)
    expect(str(s["from"]) == f"{room}/{a_nick}", "TOPIC is the room subject for the XMPP user")

    irc.raw("a", f"MODE #lobby +o {b_nick}")
    p = await b.presence(f"{room}/{b_nick}", role="moderator")
    expect(item_of(p).get("role") == "moderator", "MODE +o makes the XMPP user a moderator")
    md = await irc.wait("a", "mode", lambda d: any(x["mode"] == "+o" and x["param"] == b_nick for x in d["modes"]))
    expect(True, "the IRC user sees the role as MODE +o")
    b["xep_0045"].set_subject(room, "xmpp topic")
    t = await irc.wait("a", "topic", lambda d: d["topic"] == "xmpp topic")
    expect(t["nick"] == b_nick and t["channel"] == "#lobby", "a subject set over XMPP is a TOPIC for the IRC user")

    await c["xep_0045"].join_muc_wait(room, c_nick, timeout=TIMEOUT)
    await irc.wait("a", "join", lambda d: d["nick"] == c_nick)
    irc.call("d", "join", "#lobby")
    await irc.wait("d", "join", lambda d: d["nick"] == d_nick)
    await b.presence(f"{room}/{d_nick}")
    expect(True, "a second IRC user joins; the XMPP user sees it")

    irc.raw("a", f"KICK #lobby {c_nick} :bye carol")
    p = await b.presence(f"{room}/{c_nick}", ptype="unavailable")
    codes = [s.get("code") for s in p.xml.iter("{http://jabber.org/protocol/muc#user}status")]
    expect("307" in codes, "KICK by the IRC user removes the XMPP user with status 307")
    k = await irc.wait("a", "kick", lambda d: d["kicked"] == c_nick)
    expect(k["message"] == "bye carol", "the IRC user sees the KICK with its reason")
    await b["xep_0045"].set_role(room, d_nick, "none", reason="bye dave")
    k = await irc.wait("d", "kick", lambda d: d["kicked"] == d_nick)
    expect(k["nick"] == b_nick and k["message"] == "bye dave", "a kick by the XMPP moderator is a KICK for the IRC user kicked")
    await irc.wait("a", "kick", lambda d: d["kicked"] == d_nick)
    expect(True, "and for the other IRC user")

    b.send_presence(pto=f"{room}/{b_nick}", pshow="away", pstatus="lunch")
    aw = await irc.wait("a", "away", lambda d: d["nick"] == b_nick)
    expect(aw["message"] == "lunch", "XMPP away presence is AWAY (away-notify)")
    irc.raw("a", "AWAY :gone fishing")
    await irc.wait("a", "raw", lambda d: " 306 " in d["line"])
    while True:
        p = await b.presence(f"{room}/{a_nick}")
        if p["show"] == "away":
            break
    expect(p["status"] == "gone fishing", "AWAY is away presence in the room")
    irc.raw("a", "AWAY")
    await irc.wait("a", "raw", lambda d: " 305 " in d["line"])

    # alice also has an XMPP client, with carbons (XEP-0280).
    mine = await MucClient(jid(args, a_nick), args.password, args).online()
    mine.register_plugin("xep_0280")
    sent_carbons = asyncio.Queue()
    mine.add_event_handler("carbon_sent", lambda m: sent_carbons.put_nowait(m))
    await mine["xep_0280"].enable()

    b.send_message(mto=jid(args, a_nick), mbody="psst irc", mtype="chat")
    pm = await irc.wait("a", "privmsg", lambda d: d["message"] == "psst irc")
    expect(pm["nick"] == b_nick and pm["target"] == a_nick, "a chat message reaches the IRC user as a private PRIVMSG")
    m = await mine.next_message()
    while m["body"] != "psst irc":
        m = await mine.next_message()
    expect(True, "and the account's XMPP client, as any resource of equal priority")
    irc.call("a", "say", b_nick, "psst xmpp")
    m = await b.next_message()
    while m["body"] != "psst xmpp":
        m = await b.next_message()
    expect(m["from"].bare == jid(args, a_nick) and m["type"] == "chat", "a private PRIVMSG reaches the XMPP user as chat")
    c2 = await asyncio.wait_for(sent_carbons.get(), TIMEOUT)
    expect(c2["carbon_sent"]["body"] == "psst xmpp" and c2["carbon_sent"]["to"].bare == jid(args, b_nick),
           "the account's XMPP client gets a sent carbon of the IRC user's PRIVMSG")

    f_nick = args.users[4]
    irc.call("a", "say", f_nick, "while you were away")
    await asyncio.sleep(0.5)
    f = await MucClient(jid(args, f_nick), args.password, args).online()
    m = await f.next_message()
    expect(m["body"] == "while you were away" and m["from"].bare == jid(args, a_nick) and
           m.xml.find("{urn:xmpp:delay}delay") is not None,
           "a PRIVMSG to an offline XMPP user is stored and delivered when they come online (XEP-0160)")
    await f.offline()

    hist = await irc.batch("a", "CHATHISTORY LATEST #lobby * 50", "chathistory")
    got = [(t.get("msgid"), p[1]) for t, _, cmd, p in hist if cmd == "PRIVMSG"]
    arch = [(i, body) for i, body, _ in await archive_bodies(b, room, page=5) if body]
    expect(got == arch and len(got) >= 2, f"CHATHISTORY of the channel is the room archive ({len(got)} messages, same ids)")
    nicks = [src for _, src, cmd, _ in hist if cmd == "PRIVMSG"]
    expect(nicks == [a_nick, b_nick], "with the senders' nicks")

    priv = []
    async for r in mine["xep_0313"].iterate(with_jid=jid(args, b_nick), rsm={"max": 5}):
        fwd = r["mam_result"]["forwarded"]["stanza"]
        if fwd["body"]:
            priv.append((r["mam_result"]["id"], fwd["body"]))
    hist = await irc.batch("a", f"CHATHISTORY LATEST {b_nick} * 50", "chathistory")
    got = [(t.get("msgid"), p[1]) for t, _, cmd, p in hist if cmd == "PRIVMSG"]
    expect(got == priv and [g[1] for g in got] == ["psst irc", "psst xmpp"],
           "CHATHISTORY of a private query is the user's archive with that contact (MAM)")

    irc.call("a", "quit", "bye")
    irc.call("d", "quit", "bye")
    await irc.stop()
    for x in (b, c, mine):
        await x.offline()


async def scenario_monitor(args):
    """MONITOR follows presence as XMPP shares it: a contact who shares
    its presence with the IRC user's account is online and offline as it
    comes and goes, and away (extended-monitor); a user connected all
    along who does not share it is offline, to MONITOR and ISON alike."""
    i_nick, g_nick, h_nick = args.users[:3]
    g_jid, i_jid = jid(args, g_nick), jid(args, i_nick)
    irc = await IRC().start()
    irc.send("i", "connect", options=irc_options(args, i_nick, caps=["away-notify", "extended-monitor"]))
    await irc.wait("i", "registered")
    h = await Client(jid(args, h_nick), args.password, args).online()

    # The IRC user's account subscribes to gina's presence from its XMPP
    # client, and she approves.
    mine = await Client(i_jid, args.password, args).online()
    g = await Client(g_jid, args.password, args).online()
    g.roster[g_jid].auto_authorize = True
    g.roster[g_jid].auto_subscribe = False
    mine.send_presence(pto=g_jid, ptype="subscribe")
    for _ in range(50):
        await asyncio.sleep(0.1)
        if mine.client_roster[g_jid]["subscription"] == "to":
            break
    expect(mine.client_roster[g_jid]["subscription"] == "to", "the account subscribed to gina's presence")
    await mine.offline()

    irc.call("i", "addMonitor", f"{g_nick},{h_nick}")
    on = await irc.wait("i", "users online", lambda d: g_nick in d["nicks"])
    expect(h_nick not in on["nicks"], "MONITOR + shows the contact who shares her presence online")
    await irc.wait("i", "users offline", lambda d: h_nick in d["nicks"])
    expect(True, "and a user connected all along who does not share it offline")
    irc.raw("i", f"ISON {g_nick} {h_nick}")
    ison = await irc.wait("i", "raw", lambda d: parse_line(d["line"])[2] == "303")
    expect(parse_line(ison["line"])[3][-1].split() == [g_nick], "ISON agrees")

    await g.offline()
    await irc.wait("i", "users offline", lambda d: g_nick in d["nicks"])
    expect(True, "the contact going offline is announced")
    g = await Client(g_jid, args.password, args).online()
    await irc.wait("i", "users online", lambda d: g_nick in d["nicks"])
    expect(True, "and her coming back")
    g.send_presence(pshow="away", pstatus="out for a walk")
    aw = await irc.wait("i", "away", lambda d: d["nick"] == g_nick)
    expect(aw["message"] == "out for a walk", "her away presence is AWAY (extended-monitor), though no channel is shared")
    g.send_presence()
    await irc.wait("i", "back", lambda d: d["nick"] == g_nick)
    expect(True, "and her return is AWAY without a message")

    irc.call("i", "monitorlist")
    lst = await irc.wait("i", "monitorList")
    expect(sorted(lst["nicks"]) == sorted([g_nick, h_nick]), "MONITOR L lists the targets")
    irc.call("i", "removeMonitor", g_nick)
    irc.call("i", "monitorlist")
    lst = await irc.wait("i", "monitorList")
    expect(lst["nicks"] == [h_nick], "MONITOR - removes one")

    irc.call("i", "quit", "bye")
    await irc.stop()
    for x in (g, h):
        await x.offline()


async def scenario_multiline(args):
    """draft/multiline: a multiline batch from the IRC client is one
    message with line breaks for the XMPP user, and an XMPP message of
    several lines is one batch for the IRC client."""
    i_nick, x_nick = args.users[:2]
    irc = await IRC().start()
    irc.send("i", "connect", options=irc_options(args, i_nick, caps=["batch", "draft/multiline"]))
    await irc.wait("i", "registered")
    x = await Client(jid(args, x_nick), args.password, args).online()

    for line in ("BATCH +m1 draft/multiline " + x_nick, f"@batch=m1 PRIVMSG {x_nick} :first line",
                 f"@batch=m1 PRIVMSG {x_nick} :second line", "BATCH -m1"):
        irc.raw("i", line)
    m = await x.next_message()
    expect(m["body"] == "first line\nsecond line", f"a multiline batch is one XMPP message with a line break ({m['body']!r})")

    x.send_message(mto=jid(args, i_nick), mbody="one\ntwo", mtype="chat")
    start = await irc.wait("i", "raw", lambda d: parse_line(d["line"])[2] == "BATCH" and
                           parse_line(d["line"])[3][1:] == ["draft/multiline", i_nick])
    ref = parse_line(start["line"])[3][0][1:]
    got = []
    while True:
        ev = await irc.wait("i", "raw", lambda d: parse_line(d["line"])[0].get("batch") == ref or
                            parse_line(d["line"])[3][:1] == ["-" + ref])
        tags, src, cmd, params = parse_line(ev["line"])
        if cmd == "BATCH":
            break
        got.append((src, cmd, params[1]))
    expect(got == [(x_nick, "PRIVMSG", "one"), (x_nick, "PRIVMSG", "two")],
           f"an XMPP message of two lines is one draft/multiline batch ({got})")
    irc.call("i", "quit", "bye")
    await irc.stop()
    await x.offline()


async def scenario_external(args):
    """SASL EXTERNAL: irc-framework logs in with a client certificate
    signed by the configured authority."""
    nick = args.users[0]
    irc = await IRC().start()
    irc.send("e", "connect", options=irc_options(args, nick, account=None, sasl_mechanism="EXTERNAL",
                                                 client_certificate={"private_key": args.key, "certificate": args.cert}))
    await irc.wait("e", "loggedin")
    reg = await irc.wait("e", "registered")
    expect(reg["nick"] == nick, "SASL EXTERNAL with a client certificate logs in as the certificate's account")
    irc.call("e", "quit", "bye")
    await irc.stop()


def arguments(p):
    """The IRC listener, and the client certificate of SASL EXTERNAL."""
    p.add_argument("--irc-port", type=int, required=True)
    p.add_argument("--cert")
    p.add_argument("--key")


if __name__ == "__main__":
    run_scenarios(globals(), timeout=150, extra=arguments)
