#!/usr/bin/python3
"""What federates beyond messages, driven with slixmpp: one client on a
samtal (--local) and one on another server (--remote). Exits 0 and prints
PASS on success, raises otherwise.

    federation_features.py --local JID,PORT,CA --remote JID,PORT,CA --password PW
        --local-muc SERVICE --remote-muc SERVICE [--register remote] [--remote-samtal]

Steps: both log in, announcing interest in user nicknames (XEP-0172) and
OMEMO device lists with +notify in their entity capabilities (XEP-0115);
they subscribe to each other; each publishes a nickname and a device list
with PEP (XEP-0163) and the other gets the notifications from across the
servers; each publishes an avatar (XEP-0084) and the other, notified of
its metadata, fetches its data from across the servers, which a user of
the other server who is no contact (--stranger) may not. Chat messages go
both ways; then the local user's archive
(XEP-0313), filtered on the remote user, holds them in order, under the
stanza-ids (XEP-0359) the received ones carried (and, with
--remote-samtal, the remote user's archive holds them too). The local
user blocks the contact (XEP-0191), who sees it go unavailable and gets
its message back, then unblocks it. A remote user may not create a room on
samtal's service; the local user's join of a room on a server that does
not exist fails. Then each creates a room on its own server's group chat
service (XEP-0045) and invites the other, who joins it from the other
server and gets its history; each sees the other's presence, message and
private message; the guest's self-ping (XEP-0410) is answered; the guest
pages through the room's archive, whose ids are the stanza-ids the
messages came with; the guest changes nick and status, and leaves. A new
session of each gets the other's last published items; each discovers the
other's group chat service. When the local user's connection drops while
it is in a room of the other server, the room learns that it is gone.
With --end ghost, the remote server then vanishes while its user is in a
room, and the room removes the user when its message to them bounces;
with --end shutdown, the local samtal stops, and the remote user learns
that the room is gone and the local user unavailable.
"""
import argparse
import asyncio
import base64
import hashlib
import logging
import sys
import uuid
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, PresenceError

from federation import register, until

TIMEOUT = 15
NICK = "http://jabber.org/protocol/nick"
DEVICES = "eu.siacs.conversations.axolotl.devicelist"  # OMEMO (XEP-0384 0.3)
AXOLOTL = "eu.siacs.conversations.axolotl"
AVATAR_META = "urn:xmpp:avatar:metadata"  # XEP-0084
AVATAR_DATA = "urn:xmpp:avatar:data"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = MUC + "#user"
SID = "urn:xmpp:sid:0"
DELAY = "urn:xmpp:delay"
# Two different 1x1 PNGs.
PNG_A = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
PNG_B = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII=")


class Client(slixmpp.ClientXMPP):
    def __init__(self, spec, password):
        jid, port, ca = spec.split(",")
        super().__init__(jid, password)
        self.port = int(port)
        self.ca_certs = ca
        self.chats = asyncio.Queue()
        self.gc = asyncio.Queue()
        self.pres = asyncio.Queue()
        self.nicks = asyncio.Queue()
        self.devices = asyncio.Queue()
        self.avatars = asyncio.Queue()
        self.invites = asyncio.Queue()
        self.available = set()
        self.auto_authorize = True
        self.auto_subscribe = True
        for p in ("xep_0004", "xep_0030", "xep_0045", "xep_0059", "xep_0060", "xep_0115",
                  "xep_0163", "xep_0191", "xep_0199", "xep_0313", "xep_0359"):
            self.register_plugin(p)
        self.add_event_handler("message", self._message)
        self.add_event_handler("message_error", self._message)
        self.add_event_handler("groupchat_message", lambda m: self.gc.put_nowait(m))
        self.add_event_handler("groupchat_presence", lambda p: self.pres.put_nowait(p))
        self.add_event_handler("pubsub_publish", self._event)
        self.add_event_handler("groupchat_invite", lambda m: self.invites.put_nowait(m))
        self.add_event_handler("presence_available", lambda p: self.available.add(p["from"].bare))
        self.gone = asyncio.Queue()  # bare JIDs that sent unavailable presence
        self.add_event_handler("presence_unavailable", lambda p: self.gone.put_nowait(p["from"].bare))
        self.add_event_handler("session_start", self._start)

    def _message(self, m):
        if m["type"] in ("chat", "error") and m.xml.find("{urn:xmpp:mam:2}result") is None:
            self.chats.put_nowait(m)

    def _event(self, m):
        # slixmpp calls this once per item while it iterates over the
        # items, whose iteration state a nested loop would reset: read
        # the XML.
        ev = "{http://jabber.org/protocol/pubsub#event}"
        for items in m.xml.findall(f"{ev}event/{ev}items[@node='{NICK}']"):
            for el in items.findall(f"{ev}item/{{{NICK}}}nick"):
                self.nicks.put_nowait((m["from"].bare, el.text))
        for items in m.xml.findall(f"{ev}event/{ev}items[@node='{AVATAR_META}']"):
            for el in items.findall(f"{ev}item/{{{AVATAR_META}}}metadata/{{{AVATAR_META}}}info"):
                self.avatars.put_nowait((m["from"].bare, el.get("id")))
        for items in m.xml.findall(f"{ev}event/{ev}items[@node='{DEVICES}']"):
            for el in items.findall(f"{ev}item/{{{AXOLOTL}}}list"):
                ids = sorted(d.get("id") for d in el.findall(f"{{{AXOLOTL}}}device"))
                self.devices.put_nowait((m["from"].bare, ids))

    async def _start(self, _):
        # XEP-0163 §4.3: the +notify feature in the capabilities of the
        # first presence asks for the contacts' nicknames and OMEMO
        # device lists.
        self["xep_0030"].add_feature(NICK + "+notify")
        self["xep_0030"].add_feature(DEVICES + "+notify")
        self["xep_0030"].add_feature(AVATAR_META + "+notify")
        await self["xep_0115"].update_caps(broadcast=False)
        await self.get_roster()
        self.send_presence()

    async def online(self):
        self.connect(address=("127.0.0.1", self.port))
        await self.wait_until("session_start", TIMEOUT)
        await asyncio.sleep(0.2)
        return self

    async def chat(self, frm, body):
        while True:
            m = await asyncio.wait_for(self.chats.get(), TIMEOUT)
            assert m["type"] != "error", "message came back: %s" % m
            if m["from"].bare == frm and m["body"] == body:
                return m

    async def nick_of(self, frm, nick):
        while True:
            got = await asyncio.wait_for(self.nicks.get(), TIMEOUT)
            if got == (frm, nick):
                return

    async def devices_of(self, frm, ids):
        while True:
            got = await asyncio.wait_for(self.devices.get(), TIMEOUT)
            if got == (frm, ids):
                return

    async def publish_devices(self, ids):
        el = ET.Element(f"{{{AXOLOTL}}}list")
        for i in ids:
            ET.SubElement(el, f"{{{AXOLOTL}}}device", id=i)
        await self["xep_0060"].publish(None, DEVICES, id="current", payload=el, timeout=TIMEOUT)

    async def publish_avatar(self, png):
        """XEP-0084 §3.1, §3.2: the data first, then the metadata that points at it."""
        sha = hashlib.sha1(png).hexdigest()
        data = ET.Element(f"{{{AVATAR_DATA}}}data")
        data.text = base64.b64encode(png).decode()
        await self["xep_0060"].publish(None, AVATAR_DATA, id=sha, payload=data, timeout=TIMEOUT)
        meta = ET.Element(f"{{{AVATAR_META}}}metadata")
        ET.SubElement(meta, f"{{{AVATAR_META}}}info", id=sha, bytes=str(len(png)), type="image/png")
        await self["xep_0060"].publish(None, AVATAR_META, id=sha, payload=meta, timeout=TIMEOUT)
        return sha

    async def fetch_avatar(self, owner, png):
        """Wait for owner's avatar metadata, then fetch the data from
        owner's PEP service on the other server (XEP-0084 §3.4)."""
        sha = hashlib.sha1(png).hexdigest()
        while await asyncio.wait_for(self.avatars.get(), TIMEOUT) != (owner, sha):
            pass
        iq = await self["xep_0060"].get_items(owner, AVATAR_DATA, item_ids=[sha], timeout=TIMEOUT)
        got = [it.xml.find(f"{{{AVATAR_DATA}}}data") for it in iq["pubsub"]["items"]]
        assert len(got) == 1 and base64.b64decode(got[0].text) == png, iq

    async def occupant(self, occupant_jid):
        while True:
            p = await asyncio.wait_for(self.pres.get(), TIMEOUT)
            if str(p["from"]) == occupant_jid and p["type"] != "unavailable":
                return p

    async def occupant_left(self, occupant_jid):
        while True:
            p = await asyncio.wait_for(self.pres.get(), TIMEOUT)
            if str(p["from"]) == occupant_jid and p["type"] == "unavailable":
                return p

    async def groupchat(self, room, body):
        while True:
            m = await asyncio.wait_for(self.gc.get(), TIMEOUT)
            if m["from"].bare == room and m["body"] == body and m.xml.find(f"{{{DELAY}}}delay") is None:
                return m

    async def publish_nick(self, nick):
        el = ET.Element(f"{{{NICK}}}nick")
        el.text = nick
        await self["xep_0060"].publish(None, NICK, id="current", payload=el, timeout=TIMEOUT)

    async def create_room(self, room, nick, persistent):
        """Join a new room and configure it (XEP-0045 §10.1.3), a
        persistent one with its archive, or an instant one (§10.1.2)."""
        pres, _, _, _ = await self["xep_0045"].join_muc_wait(room, nick, maxstanzas=0, timeout=TIMEOUT)
        codes = [s.get("code") for s in pres.xml.findall(f"{{{MUC_USER}}}x/{{{MUC_USER}}}status")]
        assert "201" in codes, "the room %s was not new: %s" % (room, pres)
        form = self["xep_0004"].make_form(ftype="submit")
        if persistent:
            form.add_field(var="FORM_TYPE", ftype="hidden", value=MUC + "#roomconfig")
            form.add_field(var="muc#roomconfig_persistentroom", value="1")
        await self["xep_0045"].set_room_config(room, form, timeout=TIMEOUT)
        print("ok: %s made room %s" % (self.boundjid.bare, room), flush=True)


def stanza_id(m, by):
    for el in m.xml.findall(f"{{{SID}}}stanza-id"):
        if el.get("by") == by:
            return el.get("id")
    return None


async def room_talk(owner, guest, room, archived):
    """owner creates room, guest joins from the other server; each sees
    the other, messages, private messages; with archived, the guest
    pages through the room's archive."""
    before = "before you came to " + room
    await owner.create_room(room, "owner", archived)
    owner.send_message(mto=room, mbody=before, mtype="groupchat")
    await owner.groupchat(room, before)
    # A mediated invitation (§7.8.2) goes out from the room's domain.
    owner["xep_0045"].invite(room, guest.boundjid.bare, reason="come in")
    inv = await asyncio.wait_for(guest.invites.get(), TIMEOUT)
    assert inv["from"].bare == room, inv
    print("ok: %s got the invitation to %s" % (guest.boundjid.bare, room), flush=True)
    _, _, _, history = await guest["xep_0045"].join_muc_wait(room, "guest", maxstanzas=1, timeout=TIMEOUT)
    assert [h["body"] for h in history] == [before], "history: %s" % [h["body"] for h in history]
    print("ok: %s joined %s and got its history (§7.2.13)" % (guest.boundjid.bare, room), flush=True)
    await owner.occupant(room + "/guest")
    print("ok: the owner sees the guest in %s" % room, flush=True)
    # The guest got the owner's presence before its own (§7.2.2).
    await guest.occupant(room + "/owner")
    print("ok: the guest sees the owner in %s" % room, flush=True)
    sids = []
    for frm, body in ((owner, "welcome to " + room), (guest, "thanks, " + room)):
        frm.send_message(mto=room, mbody=body, mtype="groupchat")
        for c in (owner, guest):
            m = await c.groupchat(room, body)
            nick = "owner" if frm is owner else "guest"
            assert m["from"].resource == nick, m
            if c is guest:
                # XEP-0359 §2.1: the room's stanza-id reaches the guest
                # through both servers.
                sids.append(stanza_id(m, room))
        print("ok: both get %r in %s" % (body, room), flush=True)
    # Private messages (§7.5) through the room, both ways.
    for frm, to, fnick, tnick in ((guest, owner, "guest", "owner"), (owner, guest, "owner", "guest")):
        body = "psst from %s in %s" % (fnick, room)
        frm.send_message(mto=room + "/" + tnick, mbody=body, mtype="chat")
        m = await to.chat(room, body)
        assert m["from"].resource == fnick, m
    print("ok: private messages both ways in %s" % room, flush=True)
    # Self-ping (XEP-0410 §3): the guest's server passes it to the room.
    await guest["xep_0199"].ping(room + "/guest", timeout=TIMEOUT)
    print("ok: the guest's self-ping in %s succeeds" % room, flush=True)
    if archived:
        got = []
        async for m in guest["xep_0313"].iterate(jid=slixmpp.JID(room), rsm={"max": 2}, total=20):
            got.append((m["mam_result"]["id"], m["mam_result"]["forwarded"]["stanza"]["body"]))
        want = [before, "welcome to " + room, "thanks, " + room]
        assert [b for _, b in got] == want, "room archive: %s" % got
        assert [i for i, _ in got[1:]] == sids, "room archive ids %s, live stanza-ids %s" % (got, sids)
        print("ok: the guest pages through the archive of %s, under the stanza-ids it saw" % room, flush=True)
    # A nick change (§7.6) and a status change (§7.7) of the guest, which
    # its server passes on as directed presence.
    guest.send_presence(pto=room + "/guest2")
    p = await owner.occupant_left(room + "/guest")
    codes = [s.get("code") for s in p.xml.findall(f"{{{MUC_USER}}}x/{{{MUC_USER}}}status")]
    item = p.xml.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item")
    assert "303" in codes and item is not None and item.get("nick") == "guest2", p
    await owner.occupant(room + "/guest2")
    await guest.occupant(room + "/guest2")
    guest.send_presence(pto=room + "/guest2", pshow="away")
    while True:
        p = await owner.occupant(room + "/guest2")
        if p["show"] == "away":
            break
    guest.send_message(mto=room, mbody="renamed in " + room, mtype="groupchat")
    m = await owner.groupchat(room, "renamed in " + room)
    assert m["from"].resource == "guest2", m
    print("ok: the guest changed nick and status in %s" % room, flush=True)
    guest["xep_0045"].leave_muc(room, "guest2")
    await owner.occupant_left(room + "/guest2")
    print("ok: the guest left %s" % room, flush=True)
    owner["xep_0045"].leave_muc(room, "owner")


async def ghost(owner, guest, room):
    """The guest's server goes away without a word while the guest is in
    the owner's room (the test kills it between READY and the line it
    then writes): the room's next message to the guest bounces, and the
    room removes the guest with status 333 (XEP-0045 §11.1, "Service
    removes user because of error response")."""
    await owner.create_room(room, "owner", False)
    await guest["xep_0045"].join_muc_wait(room, "guest", maxstanzas=0, timeout=TIMEOUT)
    await owner.occupant(room + "/guest")
    print("READY", flush=True)
    await asyncio.get_event_loop().run_in_executor(None, sys.stdin.readline)
    guest.auto_reconnect = False
    owner.send_message(mto=room, mbody="anyone there?", mtype="groupchat")
    p = await owner.occupant_left(room + "/guest")
    codes = [s.get("code") for s in p.xml.findall(f"{{{MUC_USER}}}x/{{{MUC_USER}}}status")]
    assert "333" in codes, "the guest left %s without 333: %s" % (room, p)
    print("ok: the room removed the guest of a vanished server (333)", flush=True)


async def shutdown(owner, guest, room):
    """The owner's server, a samtal, shuts down (the test stops it
    between READY and the line it then writes) while the guest, its
    user's contact, is in the owner's room: the guest learns both that
    the room is gone (XEP-0045 §11.2, status 332) and that the owner is
    unavailable (RFC 6121 §4.5.2) before the server goes."""
    await owner.create_room(room, "owner", False)
    await guest["xep_0045"].join_muc_wait(room, "guest", maxstanzas=0, timeout=TIMEOUT)
    await owner.occupant(room + "/guest")
    await guest.occupant(room + "/owner")
    while not guest.gone.empty():
        guest.gone.get_nowait()
    print("READY", flush=True)
    owner.auto_reconnect = False
    await asyncio.get_event_loop().run_in_executor(None, sys.stdin.readline)
    p = await guest.occupant_left(room + "/guest")
    codes = [s.get("code") for s in p.xml.findall(f"{{{MUC_USER}}}x/{{{MUC_USER}}}status")]
    assert "332" in codes, "the guest left %s without 332: %s" % (room, p)
    print("ok: the guest learnt that the room's service shut down (332)", flush=True)
    owner_jid = owner.boundjid.bare
    while await asyncio.wait_for(guest.gone.get(), TIMEOUT) != owner_jid:
        pass
    print("ok: the contact saw the user of the stopped server go unavailable", flush=True)


async def archive_with(c, peer, bodies):
    """c's archive of the conversation with peer: (id, sender, body) of
    the messages with bodies, in order."""
    archived = []
    async for m in c["xep_0313"].iterate(with_jid=slixmpp.JID(peer), rsm={"max": 2}, total=50):
        fwd = m["mam_result"]["forwarded"]["stanza"]
        archived.append((m["mam_result"]["id"], str(fwd["from"].bare), fwd["body"]))
    return [x for x in archived if x[2] in bodies]


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--local", required=True, help="the samtal account whose archive is checked")
    p.add_argument("--remote", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--local-muc", required=True)
    p.add_argument("--remote-muc", required=True)
    p.add_argument("--remote-samtal", action="store_true",
                   help="the remote server is a samtal too: check its archives")
    p.add_argument("--end", choices=["ghost", "shutdown"],
                   help="end with the remote server killed (ghost) or the local one shut down while the remote user is in "
                        "a local room: READY on stdout, then the test does it and writes a line on stdin")
    p.add_argument("--stranger", required=True, help="a JID of the remote server that is no one's contact")
    p.add_argument("--register", choices=["remote", "none"], default="none")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR)

    if args.register == "remote":
        await register(args.remote, args.password)
    a = await Client(args.local, args.password).online()
    b = await Client(args.remote, args.password).online()
    ab, bb = a.boundjid.bare, b.boundjid.bare
    tag = uuid.uuid4().hex[:8]

    # Subscriptions both ways (RFC 6121 §3).
    a.send_presence_subscription(pto=bb)
    await until(lambda: a.client_roster[bb]["subscription"] == "both" and b.client_roster[ab]["subscription"] == "both",
                "subscriptions are mutual")
    await until(lambda: bb in a.available and ab in b.available, "each sees the other available")

    # PEP across servers (XEP-0163 §4.3): each contact's server sends the
    # notification to the full JIDs whose capabilities ask for it.
    await a.publish_nick("local " + tag)
    await b.nick_of(ab, "local " + tag)
    print("ok: the remote contact got the local user's nickname", flush=True)
    await b.publish_nick("remote " + tag)
    await a.nick_of(bb, "remote " + tag)
    print("ok: the local user got the remote contact's nickname", flush=True)
    await a.publish_devices(["1001", "1002"])
    await b.devices_of(ab, ["1001", "1002"])
    print("ok: the remote contact got the local user's OMEMO devices", flush=True)
    await b.publish_devices(["2001"])
    await a.devices_of(bb, ["2001"])
    print("ok: the local user got the remote contact's OMEMO devices", flush=True)
    for owner, other, png in ((a, b, PNG_A), (b, a, PNG_B)):
        await owner.publish_avatar(png)
        await other.fetch_avatar(owner.boundjid.bare, png)
    print("ok: each got the other's avatar metadata and fetched the data across the servers", flush=True)
    # A user of the other server who is no contact may not (XEP-0060
    # §6.5.9.6: the presence access model, PEP's default).
    stranger_spec = ",".join([args.stranger] + args.remote.split(",")[1:])
    if args.register == "remote":
        await register(stranger_spec, args.password)
    stranger = await Client(stranger_spec, args.password).online()
    try:
        await stranger["xep_0060"].get_items(ab, AVATAR_DATA, timeout=TIMEOUT)
        raise AssertionError("a stranger of the other server read the local user's avatar")
    except IqError as e:
        assert e.condition == "not-authorized", e.iq
    stranger.disconnect()
    print("ok: a stranger of the other server may not read the local user's avatar", flush=True)

    # Chat both ways, then the local archive (XEP-0313 §4).
    bodies = ["one " + tag, "two " + tag, "three " + tag]
    a.send_message(mto=bb, mbody=bodies[0], mtype="chat")
    await b.chat(ab, bodies[0])
    b.send_message(mto=ab, mbody=bodies[1], mtype="chat")
    got = await a.chat(bb, bodies[1])
    sid = stanza_id(got, ab)
    assert sid, "the received message carries no stanza-id by %s: %s" % (ab, got)
    a.send_message(mto=bb, mbody=bodies[2], mtype="chat")
    await b.chat(ab, bodies[2])
    print("ok: three messages across", flush=True)
    mine = await archive_with(a, bb, bodies)
    assert [x[2] for x in mine] == bodies, "archive of the conversation: %s" % mine
    assert [x[1] for x in mine] == [ab, bb, ab], "senders in the archive: %s" % mine
    assert mine[1][0] == sid, "the archived message has id %s, the live one stanza-id %s" % (mine[1][0], sid)
    assert len({x[0] for x in mine}) == 3, "archive ids: %s" % mine
    print("ok: the local archive has the conversation in order, under its stanza-ids", flush=True)
    if args.remote_samtal:
        theirs = await archive_with(b, ab, bodies)
        assert [(x[1], x[2]) for x in theirs] == [(ab, bodies[0]), (bb, bodies[1]), (ab, bodies[2])], \
            "the remote archive: %s" % theirs
        print("ok: the remote archive has the conversation in order", flush=True)

    # Blocking a remote contact (XEP-0191 §3.3): it sees the user go
    # unavailable, its message comes back with service-unavailable, and
    # it sees the user again once unblocked.
    b.available.discard(ab)
    await a["xep_0191"].block(bb, timeout=TIMEOUT)
    while await asyncio.wait_for(b.gone.get(), TIMEOUT) != ab:
        pass
    print("ok: the blocked contact sees the user go unavailable", flush=True)
    b.send_message(mto=ab, mbody="let me in " + tag, mtype="chat")
    m = await asyncio.wait_for(b.chats.get(), TIMEOUT)
    assert m["type"] == "error" and m["error"]["condition"] == "service-unavailable", m
    assert a.chats.empty(), "the blocked contact's message arrived"
    print("ok: the blocked contact's message comes back with service-unavailable", flush=True)
    await a["xep_0191"].unblock(bb, timeout=TIMEOUT)
    await until(lambda: ab in b.available, "the unblocked contact sees the user again")

    # samtal's users create its rooms; others join them (§10.1.1: a
    # service that does not let a user create rooms says not-allowed).
    try:
        await b["xep_0045"].join_muc_wait("mine-%s@%s" % (tag, args.local_muc), "squatter", timeout=TIMEOUT)
        raise AssertionError("a user of the other server created a room on samtal")
    except PresenceError as e:
        assert e.condition == "not-allowed", e.presence
    print("ok: the remote user may not create a room on samtal's service", flush=True)

    # A room on a server that does not exist: the join comes back with
    # an error instead of waiting for ever.
    try:
        await a["xep_0045"].join_muc_wait("nowhere@conference.nowhere.example", "lost", timeout=TIMEOUT)
        raise AssertionError("joined a room on a server that does not exist")
    except PresenceError as e:
        assert e.condition == "remote-server-not-found", e.presence
    print("ok: joining a room on a server that does not exist fails with remote-server-not-found", flush=True)

    # Rooms both ways (XEP-0045 §7.2).
    await room_talk(a, b, "local-%s@%s" % (tag, args.local_muc), True)
    await room_talk(b, a, "remote-%s@%s" % (tag, args.remote_muc), True)

    # Last published items (XEP-0163 §4.3.4): a new session of each,
    # whose capabilities its contact's server learns across the servers
    # by asking disco#info, gets the contact's nickname and devices.
    for old, contact, nick, devices in ((b, ab, "local " + tag, ["1001", "1002"]), (a, bb, "remote " + tag, ["2001"])):
        spec = args.remote if old is b else args.local
        old.disconnect()
        await old.wait_until("disconnected", TIMEOUT)
        new = await Client(spec, args.password).online()
        await new.nick_of(contact, nick)
        await new.devices_of(contact, devices)
        print("ok: a new session of %s got %s's last nickname and devices" % (new.boundjid.bare, contact), flush=True)
        if old is b:
            b = new
        else:
            a = new

    # Each server's group chat service, as seen from the other server.
    for c, service in ((b, args.local_muc), (a, args.remote_muc)):
        info = await c["xep_0030"].get_info(jid=service, timeout=TIMEOUT)
        assert MUC in info["disco_info"]["features"], info
        assert ("conference", "text") in [(i[0], i[1]) for i in info["disco_info"]["identities"]], info
    print("ok: each discovers the other's group chat service", flush=True)

    # The local user's connection drops while it is in a room of the
    # other server: samtal tells the room, to which it sent directed
    # presence (RFC 6121 §4.6.3), that the user is gone.
    room = "drop-%s@%s" % (tag, args.remote_muc)
    await b.create_room(room, "owner", False)
    await a["xep_0045"].join_muc_wait(room, "guest", maxstanzas=0, timeout=TIMEOUT)
    await b.occupant(room + "/guest")
    a.auto_reconnect = False
    a.abort()
    await b.occupant_left(room + "/guest")
    print("ok: the room of the other server learnt that the local user's connection dropped", flush=True)
    a = await Client(args.local, args.password).online()

    if args.end == "ghost":
        await ghost(a, b, "ghost-%s@%s" % (tag, args.local_muc))
    elif args.end == "shutdown":
        await shutdown(a, b, "last-%s@%s" % (tag, args.local_muc))

    a.disconnect()
    b.disconnect()
    print("PASS federation features", flush=True)


if __name__ == "__main__":
    try:
        asyncio.get_event_loop().run_until_complete(main())
    except Exception as e:  # the test reads the output
        import traceback
        traceback.print_exc()
        print("FAIL:", repr(e), flush=True)
        sys.exit(1)
