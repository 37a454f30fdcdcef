#!/usr/bin/python3
"""Group chat scenarios (XEP-0045 and the extensions rooms use) driven by
slixmpp: its xep_0045 plugin for rooms, xep_0313 for archives, xep_0249
for direct invitations, xep_0077 for registration with a room, and raw
stanzas where the plugins stop (status codes, occupant-id, moderation,
self-ping).

    slix_muc.py SCENARIO --port 5222 --tls-port 5223 --domain localhost --ca CERT ...
"""
import asyncio
import base64
import hashlib
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError, PresenceError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slix import TIMEOUT, Client, expect, jid, run_scenarios

MUC = "http://jabber.org/protocol/muc"
MUC_USER = MUC + "#user"
OCCUPANT_ID = "urn:xmpp:occupant-id:0"
SID = "urn:xmpp:sid:0"
MODERATE = "urn:xmpp:message-moderate:1"
RETRACT = "urn:xmpp:message-retract:1"
DELAY = "urn:xmpp:delay"
VCARD = "vcard-temp"
REGISTER = "jabber:iq:register"
# A 1x1 PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


class MucClient(Client):
    """A client that queues the group chat traffic it gets."""

    def __init__(self, jid_, password, args, **kw):
        super().__init__(jid_, password, args, **kw)
        for p in ("xep_0004", "xep_0045", "xep_0054", "xep_0059", "xep_0128", "xep_0249", "xep_0313", "xep_0359", "xep_0421"):
            self.register_plugin(p)
        self.gc = asyncio.Queue()
        self.pres = asyncio.Queue()
        self.pms = asyncio.Queue()
        self.direct = asyncio.Queue()
        self.mediated = asyncio.Queue()
        self.add_event_handler("groupchat_message", lambda m: self.gc.put_nowait(m))
        self.add_event_handler("groupchat_presence", lambda p: self.pres.put_nowait(p))
        self.add_event_handler("groupchat_direct_invite", lambda m: self.direct.put_nowait(m))
        self.add_event_handler("groupchat_invite", lambda m: self.mediated.put_nowait(m))
        self.add_event_handler("message", self._pm)
        # slixmpp's MUC plugin makes the roster ignore presence from a
        # room's bare JID; a raw handler sees the avatar updates.
        self.avatars = asyncio.Queue()
        self.register_handler(Callback("room avatar", MatchXPath(f"{{{self.default_ns}}}presence/{{vcard-temp:x:update}}x"),
                                       lambda p: self.avatars.put_nowait(p)))

    def _pm(self, msg):
        if msg["type"] in ("chat", "normal") and msg.xml.find(f"{{{MUC_USER}}}x") is not None and msg["body"]:
            self.pms.put_nowait(msg)

    async def presence(self, frm, ptype=None, role=None, timeout=TIMEOUT):
        """The next room presence from the occupant JID frm (others are
        dropped); ptype 'unavailable' or None for available, with the
        role if given."""
        while True:
            p = await asyncio.wait_for(self.pres.get(), timeout)
            if str(p["from"]) == frm and (p["type"] == "unavailable") == (ptype == "unavailable") and \
                    (role is None or item_of(p).get("role") == role):
                return p

    async def groupchat(self, body, timeout=TIMEOUT):
        """The next live group chat message with body."""
        while True:
            m = await asyncio.wait_for(self.gc.get(), timeout)
            if m["body"] == body and m.xml.find(f"{{{DELAY}}}delay") is None:
                return m

    async def raw_iq(self, to, xml, itype="set"):
        iq = self.Iq(stype=itype)
        iq["to"] = to
        iq.append(ET.fromstring(xml))
        return await iq.send(timeout=TIMEOUT)


def status_codes(stanza):
    return sorted(int(s.get("code")) for s in stanza.xml.findall(f"{{{MUC_USER}}}x/{{{MUC_USER}}}status"))


def item_of(stanza):
    return stanza.xml.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item")


def occupant_id(stanza):
    el = stanza.xml.find(f"{{{OCCUPANT_ID}}}occupant-id")
    return el.get("id") if el is not None else None


def stanza_id(stanza, room):
    for el in stanza.xml.findall(f"{{{SID}}}stanza-id"):
        if el.get("by") == room:
            return el.get("id")
    return None


async def join_error(c, room, nick, **kw):
    try:
        await c["xep_0045"].join_muc_wait(room, nick, timeout=TIMEOUT, **kw)
    except PresenceError as e:
        return e.condition
    raise AssertionError(f"{c.boundjid.bare} joined {room} as {nick}")


def submit_form(c, **fields):
    form = c["xep_0004"].make_form(ftype="submit")
    form.add_field(var="FORM_TYPE", ftype="hidden", value=MUC + "#roomconfig")
    for k, v in fields.items():
        if isinstance(v, bool):
            v = "1" if v else "0"
        form.add_field(var="muc#roomconfig_" + k, value=v)
    return form


async def archive_bodies(c, room, page=2):
    """Every message of a room archive, paged with RSM, as (id, body,
    message) tuples."""
    out = []
    async for m in c["xep_0313"].iterate(jid=room, rsm={"max": page}):
        fwd = m["mam_result"]["forwarded"]["stanza"]
        out.append((m["mam_result"]["id"], fwd["body"], fwd))
    return out


async def scenario_rooms(args):
    """Create and configure a members-only moderated room, then use it:
    refusals, nick conflict, history, subject, private messages, voice,
    kick and ban with their status codes, occupant-id across a nick
    change, the archive paged with MAM, moderation, self-ping,
    invitations and destruction."""
    o_jid, m_jid, x_jid, d_jid = (jid(args, u) for u in args.users[:4])
    service = "conference." + args.domain
    room = "coven@" + service
    o = await MucClient(o_jid, args.password, args).online()
    m = await MucClient(m_jid, args.password, args).online()
    x = await MucClient(x_jid, args.password, args).online()
    d = await MucClient(d_jid, args.password, args).online()

    items = await o["xep_0030"].get_items(jid=args.domain, timeout=TIMEOUT)
    expect(service in [i[0] for i in items["disco_items"]["items"]], "the host lists its group chat service (disco#items)")
    info = await o["xep_0030"].get_info(jid=service, timeout=TIMEOUT)
    expect(MUC in info["disco_info"]["features"] and ("conference", "text") in
           [(i[0], i[1]) for i in info["disco_info"]["identities"]], "the service is a conference/text with MUC")

    # A reserved room (§10.1.3): created locked, then configured.
    pres, _, _, _ = await o["xep_0045"].join_muc_wait(room, "firstwitch", timeout=TIMEOUT)
    expect(status_codes(pres) == [110, 201] and item_of(pres).get("affiliation") == "owner",
           "the creator is the owner of a new room (110, 201)")
    form = await o["xep_0045"].get_room_config(room, timeout=TIMEOUT)
    fields = form.get_fields()
    expect("muc#roomconfig_membersonly" in fields and "muc#roomconfig_moderatedroom" in fields,
           "the owner gets the configuration form")
    await o["xep_0045"].set_room_config(room, submit_form(
        o, roomname="A Dark Cave", persistentroom=True, membersonly=True, moderatedroom=True,
        publicroom=False, changesubject=False), timeout=TIMEOUT)
    info = await x["xep_0030"].get_info(jid=room, timeout=TIMEOUT)
    feats = info["disco_info"]["features"]
    expect(all(f in feats for f in ("muc_membersonly", "muc_moderated", "muc_persistent", "muc_hidden",
                                    OCCUPANT_ID, MODERATE, "urn:xmpp:mam:2")),
           "disco#info shows the configured room and its extensions")

    # Members only (§7.2.7).
    cond = await join_error(x, room, "stranger")
    expect(cond == "registration-required", f"a non-member is refused ({cond})")
    await o["xep_0045"].set_affiliation(room, "member", jid=m_jid, nick="secondwitch", timeout=TIMEOUT)
    members = await o["xep_0045"].get_affiliation_list(room, "member", timeout=TIMEOUT)
    expect(m_jid in [str(j) for j in members], "the member list has the new member")

    # History and subject.
    o["xep_0045"].set_subject(room, "Spells")
    for i in range(3):
        o.send_message(mto=room, mbody=f"line {i}", mtype="groupchat")
        await o.groupchat(f"line {i}")

    # Nick conflict (§7.2.9), then entry with two messages of history.
    cond = await join_error(m, room, "firstwitch")
    expect(cond == "conflict", f"a taken nick conflicts ({cond})")
    pres, subject, occupants, history = await m["xep_0045"].join_muc_wait(room, "secondwitch", maxstanzas=2, timeout=TIMEOUT)
    expect(item_of(pres).get("role") == "participant" and item_of(pres).get("affiliation") == "member",
           "a member enters a moderated room as participant")
    expect([h["body"] for h in history] == ["line 1", "line 2"], f"two messages of history ({[h['body'] for h in history]})")
    expect(subject["subject"] == "Spells", "the subject follows the history")
    expect(occupant_id(pres), "presence carries an occupant-id")

    # §8.1: a participant may not change the subject here.
    m["xep_0045"].set_subject(room, "Mine")
    err = await asyncio.wait_for(m.errors.get(), TIMEOUT)
    expect(err["error"]["condition"] == "forbidden", "a participant may not change the subject")

    # Private messages (§7.5).
    m.send_message(mto=room + "/firstwitch", mbody="psst", mtype="chat")
    pm = await asyncio.wait_for(o.pms.get(), TIMEOUT)
    expect(str(pm["from"]) == room + "/secondwitch" and pm["body"] == "psst", "a private message arrives from the occupant JID")

    # Voice (§8.4, §8.3).
    await o["xep_0045"].set_role(room, "secondwitch", "visitor", timeout=TIMEOUT)
    await m.presence(room + "/secondwitch", role="visitor")
    expect(True, "voice revoked")
    m.send_message(mto=room, mbody="may I?", mtype="groupchat")
    err = await asyncio.wait_for(m.errors.get(), TIMEOUT)
    expect(err["error"]["condition"] == "forbidden", "a visitor may not speak")
    await o["xep_0045"].set_role(room, "secondwitch", "participant", timeout=TIMEOUT)
    await m.presence(room + "/secondwitch", role="participant")

    # Kick (§8.2): 307 with the reason.
    await o["xep_0045"].set_affiliation(room, "member", jid=x_jid, timeout=TIMEOUT)
    await x["xep_0045"].join_muc_wait(room, "thirdwitch", maxchars=0, timeout=TIMEOUT)
    await o["xep_0045"].set_role(room, "thirdwitch", "none", reason="Avaunt", timeout=TIMEOUT)
    kicked = await x.presence(room + "/thirdwitch", "unavailable")
    expect(status_codes(kicked) == [110, 307] and item_of(kicked).findtext(f"{{{MUC_USER}}}reason") == "Avaunt",
           "the kicked occupant gets 110, 307 and the reason")
    seen = await m.presence(room + "/thirdwitch", "unavailable")
    expect(status_codes(seen) == [307], "the others see 307")

    # Ban (§9.1): 301, and no way back.
    await x["xep_0045"].join_muc_wait(room, "thirdwitch", maxchars=0, timeout=TIMEOUT)
    await o["xep_0045"].set_affiliation(room, "outcast", jid=x_jid, reason="Treason", timeout=TIMEOUT)
    banned = await x.presence(room + "/thirdwitch", "unavailable")
    expect(status_codes(banned) == [110, 301] and item_of(banned).get("affiliation") == "outcast",
           "the banned occupant gets 110 and 301")
    seen = await m.presence(room + "/thirdwitch", "unavailable")
    expect(status_codes(seen) == [301], "the others see 301")
    cond = await join_error(x, room, "thirdwitch")
    expect(cond == "forbidden", f"a banned user is refused ({cond})")

    # occupant-id stays across a nick change (XEP-0421), 303 (§7.6).
    m.send_message(mto=room, mbody="before", mtype="groupchat")
    before = await o.groupchat("before")
    m.send_presence(pto=room + "/hecate")
    changed = await o.presence(room + "/secondwitch", "unavailable")
    expect(status_codes(changed) == [303] and item_of(changed).get("nick") == "hecate", "a nick change is 303 with the new nick")
    await o.presence(room + "/hecate")
    m.send_message(mto=room, mbody="after", mtype="groupchat")
    after = await o.groupchat("after")
    expect(str(after["from"]) == room + "/hecate", "messages come from the new nick")
    expect(occupant_id(before) and occupant_id(before) == occupant_id(after), "the occupant-id is the same across the nick change")
    expect(stanza_id(before, room), "the room gives every message a stanza-id")

    # The room archive, paged two at a time (XEP-0313 with XEP-0059).
    msgs = await archive_bodies(m, room)
    bodies = [b for _, b, _ in msgs if b]
    expect(bodies == ["line 0", "line 1", "line 2", "before", "after"], f"the archive pages through every message ({bodies})")
    expect(msgs[-2][0] == stanza_id(before, room), "archive IDs are the stanza-ids")

    # A moderator retracts a message (XEP-0425), the archive keeps a tombstone.
    await o.raw_iq(room, f"<moderate xmlns='{MODERATE}' id='{stanza_id(before, room)}'><retract xmlns='{RETRACT}'/>"
                         f"<reason>spam</reason></moderate>")
    while True:
        ann = await asyncio.wait_for(m.gc.get(), TIMEOUT)
        r = ann.xml.find(f"{{{RETRACT}}}retract")
        if r is not None:
            break
    expect(r.get("id") == stanza_id(before, room) and r.find(f"{{{MODERATE}}}moderated").get("by") == room + "/firstwitch",
           "occupants learn of the retraction and by whom")
    msgs = await archive_bodies(m, room)
    tomb = [f for i, _, f in msgs if i == stanza_id(before, room)][0]
    expect(tomb["body"] == "" and tomb.xml.find(f"{{{RETRACT}}}retracted") is not None,
           "the archive keeps a tombstone in place of the retracted message")
    try:
        await m.raw_iq(room, f"<moderate xmlns='{MODERATE}' id='{stanza_id(after, room)}'><retract xmlns='{RETRACT}'/></moderate>")
        raise AssertionError("a participant retracted a message")
    except IqError as e:
        expect(e.iq["error"]["condition"] == "forbidden", "only moderators retract others' messages")

    # A room avatar: a vCard on the room JID, announced by its hash in
    # presence from the room and in disco#info (XEP-0486).
    sha = hashlib.sha1(PNG).hexdigest()
    await o.raw_iq(room, f"<vCard xmlns='{VCARD}'><PHOTO><TYPE>image/png</TYPE><BINVAL>"
                         f"{base64.b64encode(PNG).decode()}</BINVAL></PHOTO></vCard>")
    while True:
        p = await asyncio.wait_for(m.avatars.get(), TIMEOUT)
        if str(p["from"]) == room:
            break
    expect(p.xml.findtext("{vcard-temp:x:update}x/{vcard-temp:x:update}photo") == sha, "occupants learn the room's avatar hash")
    vc = await m["xep_0054"].get_vcard(room, cached=False, timeout=TIMEOUT)
    binval = vc.xml.find(f"{{{VCARD}}}vCard/{{{VCARD}}}PHOTO/{{{VCARD}}}BINVAL")
    expect(binval is not None and base64.b64decode(binval.text) == PNG, "the room's vCard holds the avatar")
    info = await m["xep_0030"].get_info(jid=room, timeout=TIMEOUT)
    roominfo = info["disco_info"].xml.find("{jabber:x:data}x")
    hashes = [v.text for f in roominfo.findall("{jabber:x:data}field") if f.get("var") == "muc#roominfo_avatarhash"
              for v in f.findall("{jabber:x:data}value")]
    expect(hashes == [sha], "disco#info carries the avatar hash")

    # Self-ping (XEP-0410).
    await m["xep_0199"].ping(room + "/hecate", timeout=TIMEOUT)
    expect(True, "a self-ping of an occupant succeeds")
    try:
        await d["xep_0199"].ping(room + "/hecate", timeout=TIMEOUT)
        raise AssertionError("a non-occupant's self-ping succeeded")
    except IqError as e:
        expect(e.iq["error"]["condition"] == "not-acceptable", "a non-occupant's self-ping is not-acceptable")

    # A mediated invitation into the members-only room (§7.8.2).
    o["xep_0045"].invite(room, d_jid, reason="join us")
    inv = await asyncio.wait_for(d.mediated.get(), TIMEOUT)
    expect(inv["from"].bare == room and inv["muc"]["invite"]["reason"] == "join us", "a mediated invitation arrives")
    await d["xep_0045"].join_muc_wait(room, "hecate2", maxchars=0, timeout=TIMEOUT)
    expect(True, "the invitee, made a member, enters")

    # A direct invitation (XEP-0249) to an open room, then its destruction
    # with an alternate venue (§10.9).
    heath = "heath@" + service
    await o["xep_0045"].join_muc_wait(heath, "firstwitch", timeout=TIMEOUT)
    await o["xep_0045"].set_room_config(heath, submit_form(o), timeout=TIMEOUT)
    o["xep_0249"].send_invitation(d_jid, heath, reason="over here")
    dinv = await asyncio.wait_for(d.direct.get(), TIMEOUT)
    expect(str(dinv["groupchat_invite"]["jid"]) == heath, "a direct invitation arrives")
    await d["xep_0045"].join_muc_wait(heath, "dee", maxchars=0, timeout=TIMEOUT)
    await o["xep_0045"].destroy(heath, reason="moving", altroom=room, timeout=TIMEOUT)
    gone = await d.presence(heath + "/dee", "unavailable")
    destroy = gone.xml.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}destroy")
    expect(destroy is not None and destroy.get("jid") == room and destroy.findtext(f"{{{MUC_USER}}}reason") == "moving",
           "destruction sends the occupants to the alternate venue")
    for c in (o, m, x, d):
        await c.offline()


async def scenario_persist(args):
    """Make a persistent members-only room with a member, a subject and
    messages, for scenario_persisted to find after a restart. The room is
    named after the first user."""
    o_jid, m_jid = (jid(args, u) for u in args.users[:2])
    room = f"kept-{args.users[0]}@conference." + args.domain
    o = await MucClient(o_jid, args.password, args).online()
    await o["xep_0045"].join_muc_wait(room, "keeper", timeout=TIMEOUT)
    await o["xep_0045"].set_room_config(room, submit_form(o, roomname="Kept room", persistentroom=True, membersonly=True),
                                        timeout=TIMEOUT)
    await o["xep_0045"].set_affiliation(room, "member", jid=m_jid, timeout=TIMEOUT)
    o["xep_0045"].set_subject(room, "Still here")
    for i in range(3):
        o.send_message(mto=room, mbody=f"kept {i}", mtype="groupchat")
        await o.groupchat(f"kept {i}")
    expect(True, "the room is made")
    await o.offline()


async def scenario_persisted(args):
    """After a restart: the configuration, affiliations, subject and
    archive of scenario_persist's room are there."""
    o_jid, m_jid, x_jid = (jid(args, u) for u in args.users[:3])
    room = f"kept-{args.users[0]}@conference." + args.domain
    o = await MucClient(o_jid, args.password, args).online()
    m = await MucClient(m_jid, args.password, args).online()
    x = await MucClient(x_jid, args.password, args).online()
    cond = await join_error(x, room, "stranger")
    expect(cond == "registration-required", "members-only survived the restart")
    pres, subject, _, history = await m["xep_0045"].join_muc_wait(room, "member", timeout=TIMEOUT)
    expect(item_of(pres).get("affiliation") == "member", "the membership survived")
    expect(subject["subject"] == "Still here", "the subject survived")
    expect([h["body"] for h in history] == ["kept 0", "kept 1", "kept 2"], "the history survived")
    msgs = await archive_bodies(m, room)
    expect([b for _, b, _ in msgs if b] == ["kept 0", "kept 1", "kept 2"], "the archive survived")
    await o["xep_0045"].join_muc_wait(room, "keeper", maxchars=0, timeout=TIMEOUT)
    form = await o["xep_0045"].get_room_config(room, timeout=TIMEOUT)
    fields = form.get_fields()
    expect(fields["muc#roomconfig_roomname"]["value"] == "Kept room" and
           fields["muc#roomconfig_persistentroom"]["value"] in (True, "1"),
           "the configuration survived")
    for c in (o, m, x):
        await c.offline()


async def scenario_register(args):
    """Registration with a room (§7.10): a user gets the form, registers
    a nick and becomes a member, which the occupants see; the nick is
    the user's reserved nick (§7.12), others conflict with it, the owner
    sees the member on the member list; unregistering (XEP-0077 <remove/>)
    undoes it all."""
    o_jid, m_jid, x_jid = (jid(args, u) for u in args.users[:3])
    room = f"moor-{args.users[0]}@conference." + args.domain
    o = await MucClient(o_jid, args.password, args).online()
    m = await MucClient(m_jid, args.password, args).online()
    x = await MucClient(x_jid, args.password, args).online()
    await o["xep_0045"].join_muc_wait(room, "firstwitch", timeout=TIMEOUT)
    await o["xep_0045"].set_room_config(room, submit_form(o, roomname="Blasted heath"), timeout=TIMEOUT)
    await m["xep_0045"].join_muc_wait(room, "hag", maxchars=0, timeout=TIMEOUT)
    await o.presence(room + "/hag")

    info = await m["xep_0030"].get_info(jid=room, timeout=TIMEOUT)
    expect(REGISTER in info["disco_info"]["features"], "the room advertises jabber:iq:register")
    res = await m["xep_0077"].get_registration(jid=room, timeout=TIMEOUT)
    fields = res["register"]["form"].get_fields()
    # slixmpp reads a hidden field's value as a list.
    expect(fields["FORM_TYPE"]["value"] in (MUC + "#register", [MUC + "#register"]) and
           fields["muc#register_roomnick"]["required"],
           "the room sends the registration form with a required nickname")

    iq = m.Iq(stype="set", sto=room)
    form = m["xep_0004"].make_form(ftype="submit")
    form.add_field(var="FORM_TYPE", ftype="hidden", value=MUC + "#register")
    form.add_field(var="muc#register_roomnick", value="thirdwitch")
    iq["register"].append(form)
    await iq.send(timeout=TIMEOUT)
    pres = await o.presence(room + "/hag")
    expect(item_of(pres).get("affiliation") == "member", "the occupants see the new member")

    info = await m["xep_0030"].get_info(jid=room, node="x-roomuser-item", timeout=TIMEOUT)
    expect([i[3] for i in info["disco_info"]["identities"]] == ["thirdwitch"], "x-roomuser-item names the registered nick")
    res = await m["xep_0077"].get_registration(jid=room, timeout=TIMEOUT)
    expect(res["register"]["registered"] and res["register"]["username"] == "thirdwitch",
           "a registered user gets <registered/> with the nick")
    cond = await join_error(x, room, "thirdwitch")
    expect(cond == "conflict", f"another user may not take the registered nick ({cond})")
    res = await o.raw_iq(room, f"<query xmlns='{MUC}#admin'><item affiliation='member'/></query>", itype="get")
    members = [(i.get("jid"), i.get("nick")) for i in res.xml.iter(f"{{{MUC}#admin}}item")]
    expect(members == [(m_jid, "thirdwitch")], f"the owner's member list has the registered member ({members})")

    await m["xep_0077"].cancel_registration(jid=room, timeout=TIMEOUT)
    pres = await o.presence(room + "/hag")
    expect(item_of(pres).get("affiliation") == "none", "unregistering ends the membership")
    info = await m["xep_0030"].get_info(jid=room, node="x-roomuser-item", timeout=TIMEOUT)
    expect(not info["disco_info"]["identities"], "no reserved nick after unregistering")
    await x["xep_0045"].join_muc_wait(room, "thirdwitch", maxchars=0, timeout=TIMEOUT)
    expect(True, "the nick is free again")
    for c in (o, m, x):
        await c.offline()


async def scenario_approve(args):
    """Registration with a members-only room awaits approval ("Approving
    Registration Requests"): a stranger asks, gets the empty result of a
    request received, the owner gets the approval form as a message and
    approves it, and the stranger is a member with the nick, invited
    (§9.5), and can then enter."""
    o_jid, x_jid = (jid(args, u) for u in args.users[:2])
    room = f"cavern-{args.users[0]}@conference." + args.domain
    o = await MucClient(o_jid, args.password, args).online()
    x = await MucClient(x_jid, args.password, args).online()
    forms = asyncio.Queue()
    # slixmpp's "message" event is for messages with a body; the form
    # comes alone.
    o.add_event_handler("message_xform", lambda m: forms.put_nowait(m))
    await o["xep_0045"].join_muc_wait(room, "firstwitch", timeout=TIMEOUT)
    await o["xep_0045"].set_room_config(room, submit_form(o, membersonly=True, persistentroom=True), timeout=TIMEOUT)
    cond = await join_error(x, room, "thirdwitch")
    expect(cond == "registration-required", f"the stranger may not enter the members-only room ({cond})")
    # slixmpp's groupchat_invite event leaves out invitations to a room
    # the client tried to join; a raw handler sees them.
    invites = asyncio.Queue()
    x.register_handler(Callback("room invitation", MatchXPath(f"{{{x.default_ns}}}message/{{{MUC_USER}}}x/{{{MUC_USER}}}invite"),
                                lambda m: invites.put_nowait(m)))

    res = await x["xep_0077"].get_registration(jid=room, timeout=TIMEOUT)
    expect("muc#register_roomnick" in res["register"]["form"].get_fields(), "the stranger gets the registration form")
    iq = x.Iq(stype="set", sto=room)
    form = x["xep_0004"].make_form(ftype="submit")
    form.add_field(var="FORM_TYPE", ftype="hidden", value=MUC + "#register")
    form.add_field(var="muc#register_roomnick", value="thirdwitch")
    iq["register"].append(form)
    res = await iq.send(timeout=TIMEOUT)
    expect(res["type"] == "result" and len(res.xml) == 0, "the room says the request was received")
    info = await x["xep_0030"].get_info(jid=room, node="x-roomuser-item", timeout=TIMEOUT)
    expect(not info["disco_info"]["identities"], "no reserved nick before approval")

    msg = await asyncio.wait_for(forms.get(), TIMEOUT)
    fields = msg["form"].get_fields()
    # slixmpp reads a hidden field's value as a list.
    expect(str(msg["from"]) == room and fields["FORM_TYPE"]["value"] in (MUC + "#register", [MUC + "#register"]) and
           fields["muc#register_roomnick"]["value"] == "thirdwitch" and fields["x-samtal#register_jid"]["value"] == x_jid and
           fields["muc#register_allow"]["type"] == "boolean",
           "the owner gets the approval form with the requester's JID and nick")
    answer = o.Message(sto=room)
    form = o["xep_0004"].make_form(ftype="submit")
    for var in ("FORM_TYPE", "x-samtal#register_jid", "muc#register_roomnick"):
        value = fields[var]["value"]
        form.add_field(var=var, value=value[0] if isinstance(value, list) else value)
    form.add_field(var="muc#register_allow", value="1")
    answer.append(form)
    answer.send()

    inv = await asyncio.wait_for(invites.get(), TIMEOUT)
    expect(str(inv["from"]) == room, "the approved user is invited (§9.5)")
    info = await x["xep_0030"].get_info(jid=room, node="x-roomuser-item", timeout=TIMEOUT)
    expect([i[3] for i in info["disco_info"]["identities"]] == ["thirdwitch"], "the approved user has the nick reserved")
    await x["xep_0045"].join_muc_wait(room, "thirdwitch", maxchars=0, timeout=TIMEOUT)
    pres = await o.presence(room + "/thirdwitch")
    expect(item_of(pres).get("affiliation") == "member", "the approved user enters as a member")
    for c in (o, x):
        await c.offline()


async def scenario_orphan(args):
    """A room whose only owner removed their account (XEP-0077 <remove/>)
    is left with no owner; the host's administrator acts as its owner, as
    Prosody's server admins do: enters the members-only room as owner and
    moderator, and names a new owner, who may then configure it. A user
    who is not an administrator may not."""
    o_jid, a_jid, x_jid = (jid(args, u) for u in args.users[:3])
    room = f"orphan-{args.users[0]}@conference." + args.domain
    o = await MucClient(o_jid, args.password, args).online()
    await o["xep_0045"].join_muc_wait(room, "founder", timeout=TIMEOUT)
    await o["xep_0045"].set_room_config(room, submit_form(o, persistentroom=True, membersonly=True), timeout=TIMEOUT)
    await o["xep_0077"].cancel_registration(timeout=TIMEOUT)
    a = await MucClient(a_jid, args.password, args).online()
    x = await MucClient(x_jid, args.password, args).online()

    pres, _, _, _ = await a["xep_0045"].join_muc_wait(room, "root", maxchars=0, timeout=TIMEOUT)
    expect(item_of(pres).get("affiliation") == "owner" and item_of(pres).get("role") == "moderator",
           "the administrator enters the members-only room as owner and moderator")
    owners = None
    for _ in range(50):
        # The room forgets the removed account just after the account's
        # removal is answered.
        res = await a.raw_iq(room, f"<query xmlns='{MUC}#admin'><item affiliation='owner'/></query>", itype="get")
        owners = [i.get("jid") for i in res.xml.iter(f"{{{MUC}#admin}}item")]
        if not owners:
            break
        await asyncio.sleep(0.1)
    expect(owners == [], f"the room has no owner left, and the administrator is not listed as one ({owners})")
    try:
        await x["xep_0045"].get_room_config(room, timeout=TIMEOUT)
        raise AssertionError("a user who is no owner got the configuration form")
    except IqError as e:
        expect(e.iq["error"]["condition"] == "forbidden", "a user who is no owner may not configure the room")
    await a["xep_0045"].set_affiliation(room, "owner", jid=x_jid, timeout=TIMEOUT)
    form = await x["xep_0045"].get_room_config(room, timeout=TIMEOUT)
    expect(form.get_fields()["muc#roomconfig_roomowners"]["value"] == [x_jid],
           "the owner the administrator named configures the room")
    for c in (a, x):
        await c.offline()


if __name__ == "__main__":
    run_scenarios(globals(), timeout=150)
