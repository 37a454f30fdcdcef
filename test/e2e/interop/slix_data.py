#!/usr/bin/python3
"""Scenarios for the data an account keeps, driven by slixmpp: fill an
account with something of every kind (roster, vCard, PEP items, a
contact's subscription to a PEP node, private XML, blocklist, offline
messages, a pending subscription request, the message archive, a room
affiliation), check that it is all there after an export, removal and
import, and remove an account in-band (XEP-0077).

    slix_data.py SCENARIO --port 5222 --tls-port 5223 --domain localhost --ca CERT --users alice bob carol
"""
import asyncio
import uuid
import xml.etree.ElementTree as ET

from slix import TIMEOUT, Client, expect, jid, run_scenarios
from slix_muc import MucClient, submit_form
from slix_pep import NICK, PepClient, befriend

CUSTOM = "urn:example:samtal:data"
PRIVATE_NS = "exodus:prefs"


async def scenario_data_fill(args):
    a_jid, b_jid, c_jid = (jid(args, u) for u in args.users[:3])
    a = await PepClient(a_jid, args.password, args).online()
    b = await PepClient(b_jid, args.password, args).online()
    await befriend(a, b)
    vcard = a["xep_0054"].make_vcard()
    vcard["FN"] = "Alice Data"
    vcard["NICKNAME"] = "Ally"
    await a["xep_0054"].publish_vcard(vcard, timeout=TIMEOUT)
    await a.publish(NICK, "current", f"<nick xmlns='{NICK}'>Ally</nick>")
    for i in range(2):
        await a.publish(CUSTOM, f"item-{i}", f"<entry xmlns='{CUSTOM}'>entry {i} {args.expect}</entry>",
                        max_items="10", access_model="open")
    await b["xep_0060"].subscribe(a_jid, CUSTOM, timeout=TIMEOUT)
    iq = a.make_iq_set()
    q = ET.SubElement(iq.xml, "{jabber:iq:private}query")
    ET.SubElement(ET.SubElement(q, "{%s}exodus" % PRIVATE_NS), "{%s}defaultnick" % PRIVATE_NS).text = "Ally " + args.expect
    await iq.send(timeout=TIMEOUT)
    await a["xep_0191"].block(["spammer@" + args.domain], timeout=TIMEOUT)
    # A message while both are online: it goes to both archives (XEP-0313).
    b.send_message(mto=a_jid, mbody=f"archived {args.expect}", mtype="chat")
    m = await a.next_message()
    expect(m["body"] == f"archived {args.expect}", "the online message arrives")
    # A persistent room alice owns: an affiliation naming her (XEP-0045).
    o = await MucClient(a_jid, args.password, args).online()
    room = f"data-{uuid.uuid4().hex[:8]}@conference.{args.domain}"
    await o["xep_0045"].join_muc_wait(room, "ally", timeout=TIMEOUT)
    await o["xep_0045"].set_room_config(room, submit_form(o, roomname="Data room", persistentroom=True), timeout=TIMEOUT)
    await o.offline()
    await a.offline()
    await asyncio.sleep(0.5)
    for i in range(2):
        b.send_message(mto=a_jid, mbody=f"offline {i} {args.expect}", mtype="chat")
    c = await Client(c_jid, args.password, args).online()
    c.send_presence(pto=a_jid, ptype="subscribe")
    await asyncio.sleep(1)
    await b.offline()
    await c.offline()
    expect(True, "filled " + a_jid)


async def scenario_data_check(args):
    a_jid, b_jid, c_jid = (jid(args, u) for u in args.users[:3])
    a = PepClient(a_jid, args.password, args)
    requests = asyncio.Queue()
    a.add_event_handler("presence_subscribe", lambda p: requests.put_nowait(p))
    await a.online()
    got = sorted([(await a.next_message())["body"] for _ in range(2)])
    expect(got == [f"offline {i} {args.expect}" for i in range(2)], f"offline messages kept: {got}")
    expect(a.client_roster[b_jid]["subscription"] == "both", "the roster item with both subscriptions is there")
    req = await asyncio.wait_for(requests.get(), TIMEOUT)
    expect(req["from"].bare == c_jid, "the pending subscription request is shown again")
    v = await a["xep_0054"].get_vcard(jid=a_jid, local=False, timeout=TIMEOUT)
    expect(v["vcard_temp"]["FN"] == "Alice Data", "the vCard is there: " + str(v["vcard_temp"]["FN"]))
    nick = await a.items(a_jid, NICK)
    expect(nick.get("current") is not None and nick["current"].text == "Ally", "the PEP nickname is there")
    custom = await a.items(a_jid, CUSTOM)
    expect(sorted(custom) == ["item-0", "item-1"], f"both items of the custom node are there: {sorted(custom)}")
    expect(custom["item-1"].text == f"entry 1 {args.expect}", "item payloads are kept")
    iq = a.make_iq_get()
    ET.SubElement(ET.SubElement(iq.xml, "{jabber:iq:private}query"), "{%s}exodus" % PRIVATE_NS)
    res = await iq.send(timeout=TIMEOUT)
    nickel = res.xml.find(".//{%s}defaultnick" % PRIVATE_NS)
    expect(nickel is not None and nickel.text == "Ally " + args.expect, "the private XML is there")
    a.register_plugin("xep_0313")
    bodies = []
    async for r in a["xep_0313"].iterate(with_jid=b_jid, rsm={"max": 10}):
        bodies.append(r["mam_result"]["forwarded"]["stanza"]["body"])
    expect(bodies.count(f"archived {args.expect}") == 1, f"the archive holds the message once: {bodies}")
    blocked = await a["xep_0191"].get_blocked(timeout=TIMEOUT)
    expect([str(j) for j in blocked["blocklist"]["items"]] == ["spammer@" + args.domain], "the blocklist is there")
    # The contact still sees the user: the subscription survived on both sides.
    b = await PepClient(b_jid, args.password, args).online()
    for _ in range(50):
        if b.client_roster[a_jid].resources:
            break
        await asyncio.sleep(0.1)
    expect(bool(b.client_roster[a_jid].resources), "the contact gets the user's presence")
    iq = await b["xep_0060"].get_subscriptions(a_jid, timeout=TIMEOUT)
    subs = [(s["node"], s["jid"].bare, s["subscription"]) for s in iq["pubsub"]["subscriptions"]]
    expect(subs == [(CUSTOM, b_jid, "subscribed")], f"the contact's subscription to the custom node is there: {subs}")
    await a.offline()
    await b.offline()


async def scenario_data_remove(args):
    """The user removes the account in-band (XEP-0077 §3.2)."""
    a = await Client(jid(args, args.users[0]), args.password, args, plugins=("xep_0077",)).online()
    await a["xep_0077"].cancel_registration(timeout=TIMEOUT)
    await asyncio.sleep(0.5)
    expect(True, "account removed")


if __name__ == "__main__":
    run_scenarios(globals(), extra=lambda p: p.add_argument("--expect", default=""))
