#!/usr/bin/python3
"""PEP scenarios (XEP-0163 on XEP-0060) driven by slixmpp: OMEMO device
lists and bundles as clients publish them, +notify delivery through
entity capabilities (XEP-0115), last items on presence, publish-options
preconditions, access models, bookmarks kept in step between private
storage and PEP (XEP-0049, XEP-0402, XEP-0411), vCard avatars
published as XEP-0084 (XEP-0398), and explicit subscriptions (XEP-0163
§5) of a client that does not announce +notify.

    slix_pep.py SCENARIO --port 5222 --tls-port 5223 --domain localhost --ca CERT ...
"""
import asyncio
import base64
import hashlib
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError

from slix import TIMEOUT, Client, expect, jid, run_scenarios

PUBSUB = "http://jabber.org/protocol/pubsub"
LEGACY_DEVICES = "eu.siacs.conversations.axolotl.devicelist"
LEGACY_NS = "eu.siacs.conversations.axolotl"
OMEMO2 = "urn:xmpp:omemo:2"
OMEMO2_DEVICES = "urn:xmpp:omemo:2:devices"
OMEMO2_BUNDLES = "urn:xmpp:omemo:2:bundles"
BOOKMARKS2 = "urn:xmpp:bookmarks:1"
AVATAR_META = "urn:xmpp:avatar:metadata"
AVATAR_DATA = "urn:xmpp:avatar:data"
NICK = "http://jabber.org/protocol/nick"
# A 1x1 PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


class PepClient(Client):
    """A client that announces +notify interests in its entity
    capabilities (XEP-0115) from its first presence on, and queues the
    PEP notifications it gets."""

    def __init__(self, jid_, password, args, interests=(), **kw):
        super().__init__(jid_, password, args, **kw)
        for p in ("xep_0004", "xep_0048", "xep_0049", "xep_0054", "xep_0060", "xep_0115", "xep_0163"):
            self.register_plugin(p)
        self["xep_0048"].auto_join = False
        self.interests = interests
        self.events = asyncio.Queue()
        self.retractions = asyncio.Queue()
        self.add_event_handler("pubsub_publish", lambda m: self.events.put_nowait(m))
        self.add_event_handler("pubsub_retract", lambda m: self.retractions.put_nowait(m))

    async def _start(self, _):
        for ns in self.interests:
            self["xep_0030"].add_feature(ns + "+notify")
        await self["xep_0115"].update_caps(broadcast=False)
        await super()._start(_)

    async def pep_event(self, node, timeout=TIMEOUT):
        """The next notification of node (others are dropped)."""
        while True:
            m = await asyncio.wait_for(self.events.get(), timeout)
            if m["pubsub_event"]["items"]["node"] == node:
                return m

    async def no_pep_event(self, node, what):
        """Fails with what if a notification of node comes within 2 s."""
        try:
            m = await self.pep_event(node, timeout=2)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"{what}: {payload_of(m)[0]}")

    def options(self, **fields):
        form = self["xep_0004"].make_form(ftype="submit")
        form.add_field(var="FORM_TYPE", ftype="hidden", value=PUBSUB + "#publish-options")
        for k, v in fields.items():
            form.add_field(var="pubsub#" + k, value=v)
        return form

    async def publish(self, node, id_, xml, to=None, **opts):
        return await self["xep_0060"].publish(to or self.boundjid.bare, node, id=id_, payload=ET.fromstring(xml),
                                              options=self.options(**opts) if opts else None, timeout=TIMEOUT)

    async def items(self, owner, node, **kw):
        iq = await self["xep_0060"].get_items(owner, node, timeout=TIMEOUT, **kw)
        return {it["id"]: it.xml.find("*") for it in iq["pubsub"]["items"]}


def payload_of(msg):
    """The first item's id and payload element of a notification."""
    item = list(msg["pubsub_event"]["items"])[0]
    return item["id"], item.xml.find("*")


async def pep_error(coro):
    try:
        await coro
    except IqError as e:
        return e.iq["error"]["condition"], e.iq["error"].xml
    raise AssertionError("the request succeeded")


async def befriend(a, b):
    """A mutual presence subscription between two online clients."""
    for x, y in ((a, b), (b, a)):
        x.roster[x.boundjid.bare].auto_authorize = True
        x.roster[x.boundjid.bare].auto_subscribe = True
    a.send_presence(pto=b.boundjid.bare, ptype="subscribe")
    for _ in range(100):
        if (a.client_roster[b.boundjid.bare]["subscription"] == "both"
                and b.client_roster[a.boundjid.bare]["subscription"] == "both"):
            break
        await asyncio.sleep(0.1)
    expect(a.client_roster[b.boundjid.bare]["subscription"] == "both", f"{a.boundjid.bare} and {b.boundjid.bare} share presence")
    await asyncio.sleep(0.5)  # presence and caps queries settle


def devicelist(*ids):
    return f"<list xmlns='{LEGACY_NS}'>" + "".join(f"<device id='{i}'/>" for i in ids) + "</list>"


def bundle_legacy(i):
    return (f"<bundle xmlns='{LEGACY_NS}'><signedPreKeyPublic signedPreKeyId='1'>BQ{i}</signedPreKeyPublic>"
            f"<signedPreKeySignature>c2ln</signedPreKeySignature><identityKey>aWs{i}</identityKey>"
            f"<prekeys><preKeyPublic preKeyId='1'>cGs=</preKeyPublic></prekeys></bundle>")


def devices2(*ids):
    return f"<devices xmlns='{OMEMO2}'>" + "".join(f"<device id='{i}' label='phone'/>" for i in ids) + "</devices>"


def bundle2(i):
    return (f"<bundle xmlns='{OMEMO2}'><spk id='1'>c3Br{i}</spk><spks>c2ln</spks><ik>aWs{i}</ik>"
            f"<prekeys><pk id='1'>cGs=</pk><pk id='2'>cGs=</pk></prekeys></bundle>")


async def scenario_omemo(args):
    """OMEMO device lists and bundles, both namespaces, published with
    the open access model as Conversations and Dino do; a contact with
    +notify gets the lists; a stranger can read them; publish-options
    that conflict with a node fail with precondition-not-met; a
    whitelist node is readable by its owner only; the last item reaches
    a contact that comes online."""
    a_jid, b_jid, c_jid = (jid(args, u) for u in args.users[:3])
    interests = (LEGACY_DEVICES, OMEMO2_DEVICES, NICK)
    a = await PepClient(a_jid, args.password, args, interests=interests).online()
    b = await PepClient(b_jid + "/phone", args.password, args, interests=interests).online()
    c = await PepClient(c_jid, args.password, args).online()
    await befriend(a, b)

    info = await a["xep_0030"].get_info(a_jid, timeout=TIMEOUT)
    ids = {(i[0], i[1]) for i in info["disco_info"]["identities"]}
    feats = set(info["disco_info"]["features"])
    expect(("pubsub", "pep") in ids, "the account is a pubsub/pep service (XEP-0163 §6.1)")
    expect({PUBSUB + "#publish-options", PUBSUB + "#auto-create", PUBSUB + "#filtered-notifications",
            PUBSUB + "#last-published", PUBSUB + "#access-open", PUBSUB + "#persistent-items"} <= feats,
           "the account advertises the pubsub features")

    # Legacy OMEMO (eu.siacs.conversations.axolotl), as Conversations publishes it.
    await a.publish(LEGACY_DEVICES, "current", devicelist(1001), access_model="open")
    await a.publish(LEGACY_NS + ".bundles:1001", "current", bundle_legacy(1001), access_model="open")
    m = await b.pep_event(LEGACY_DEVICES)
    iid, p = payload_of(m)
    expect(m["from"] == a_jid and m["type"] == "headline", "the notification comes from the bare JID as a headline")
    expect(iid == "current" and p.find(f"{{{LEGACY_NS}}}device").get("id") == "1001", "the contact got the legacy device list (+notify)")

    # OMEMO 2 (urn:xmpp:omemo:2), with the publish options of XEP-0384 §5.3.
    await a.publish(OMEMO2_DEVICES, "current", devices2(2002), access_model="open")
    await a.publish(OMEMO2_BUNDLES, "2002", bundle2(2002), access_model="open", max_items="max")
    await a.publish(OMEMO2_BUNDLES, "2003", bundle2(2003), access_model="open", max_items="max")
    m = await b.pep_event(OMEMO2_DEVICES)
    iid, p = payload_of(m)
    expect(p.find(f"{{{OMEMO2}}}device").get("id") == "2002", "the contact got the OMEMO 2 device list")

    # A stranger reads the open nodes (no subscription needed).
    got = await c.items(a_jid, OMEMO2_BUNDLES)
    expect(set(got) == {"2002", "2003"} and got["2003"].find(f"{{{OMEMO2}}}ik").text == "aWs2003",
           "a non-contact retrieves both OMEMO 2 bundles from the open node")
    got = await c.items(a_jid, OMEMO2_BUNDLES, item_ids=["2002"])
    expect(set(got) == {"2002"}, "retrieval of one bundle by item id")
    got = await c.items(a_jid, LEGACY_NS + ".bundles:1001")
    expect("current" in got, "a non-contact retrieves the legacy bundle")
    got = await c.items(a_jid, OMEMO2_BUNDLES, max_items=1)
    expect(list(got) == ["2003"], "max_items=1 returns the newest item")
    expect(b.events.empty(), "no notification for nodes the contact is not interested in (filtered)")

    # User nickname (XEP-0172), with the default presence access model.
    await a.publish(NICK, "current", f"<nick xmlns='{NICK}'>Alice</nick>")
    m = await b.pep_event(NICK)
    _, p = payload_of(m)
    expect(p.text == "Alice", "the contact got the nickname (XEP-0172)")
    cond, _ = await pep_error(c.items(a_jid, NICK))
    expect(cond == "not-authorized", "a stranger cannot read the nickname")

    # Preconditions.
    cond, _ = await pep_error(a.publish(OMEMO2_DEVICES, "current", devices2(2002), access_model="whitelist"))
    expect(cond == "conflict", "publish-options that conflict with the node fail with conflict")
    _, err = await pep_error(a.publish(OMEMO2_DEVICES, "current", devices2(2002), access_model="whitelist"))
    expect(err.find("{http://jabber.org/protocol/pubsub#errors}precondition-not-met") is not None,
           "... and <precondition-not-met/>")
    await a.publish(OMEMO2_DEVICES, "current", devices2(2002, 2004), access_model="open")
    expect(True, "publish-options that match the node succeed")

    # Private PEP storage (XEP-0223).
    await a.publish("urn:xmpp:test:secret", "current", "<secret xmlns='urn:xmpp:test:secret'>x</secret>",
                    persist_items="true", access_model="whitelist")
    cond, _ = await pep_error(c.items(a_jid, "urn:xmpp:test:secret"))
    expect(cond == "not-allowed", "a whitelist node is not readable by a stranger")
    cond, _ = await pep_error(b.items(a_jid, "urn:xmpp:test:secret"))
    expect(cond == "not-allowed", "... nor by a contact")
    got = await a.items(a_jid, "urn:xmpp:test:secret")
    expect("current" in got, "its owner reads it")
    # A presence-access node: contacts only.
    await a.publish("urn:xmpp:test:mood", "1", "<mood xmlns='urn:xmpp:test:mood'/>")
    cond, _ = await pep_error(c.items(a_jid, "urn:xmpp:test:mood"))
    expect(cond == "not-authorized", "a presence-access node is not readable by a stranger")
    got = await b.items(a_jid, "urn:xmpp:test:mood")
    expect("1" in got, "... but is by a contact")

    # Node discovery lists what the requester may read (XEP-0163 §6.2).
    seen = await c["xep_0030"].get_items(a_jid, timeout=TIMEOUT)
    nodes = {i[1] for i in seen["disco_items"]["items"]}
    expect(OMEMO2_BUNDLES in nodes and LEGACY_DEVICES in nodes and "urn:xmpp:test:mood" not in nodes
           and "urn:xmpp:test:secret" not in nodes, "disco#items shows a stranger the open nodes only")
    seen = await b["xep_0030"].get_items(a_jid, timeout=TIMEOUT)
    nodes = {i[1] for i in seen["disco_items"]["items"]}
    expect("urn:xmpp:test:mood" in nodes and "urn:xmpp:test:secret" not in nodes,
           "... and a contact the presence nodes too")

    # The last item on presence.
    await b.offline()
    await a.publish(LEGACY_DEVICES, "current", devicelist(1001, 1005), access_model="open")
    b2 = await PepClient(b_jid + "/laptop", args.password, args, interests=interests).online()
    m = await b2.pep_event(LEGACY_DEVICES)
    _, p = payload_of(m)
    expect({d.get("id") for d in p} == {"1001", "1005"}, "a contact coming online gets the last device list")
    m = await b2.pep_event(OMEMO2_DEVICES)
    _, p = payload_of(m)
    expect({d.get("id") for d in p} == {"2002", "2004"}, "... of both namespaces")

    # Retraction with notify, and node deletion.
    await a["xep_0060"].retract(a_jid, OMEMO2_BUNDLES, "2003", notify=True, timeout=TIMEOUT)
    got = await c.items(a_jid, OMEMO2_BUNDLES)
    expect(set(got) == {"2002"}, "a retracted item is gone")
    await a["xep_0060"].delete_node(a_jid, OMEMO2_BUNDLES, timeout=TIMEOUT)
    cond, _ = await pep_error(c.items(a_jid, OMEMO2_BUNDLES))
    expect(cond == "item-not-found", "a deleted node is gone")
    cond, _ = await pep_error(c.publish(OMEMO2_DEVICES, "current", devices2(1), to=a_jid))
    expect(cond == "forbidden", "only the owner publishes")
    for x in (a, b2, c):
        await x.offline()


async def scenario_bookmarks(args):
    """Bookmarks set in private storage (XEP-0049) by a legacy client
    appear as XEP-0402 items with notifications, and XEP-0402 changes
    appear in private storage (XEP-0402 §5.3, XEP-0411)."""
    u = jid(args, args.users[0])
    old = await PepClient(u + "/legacy", args.password, args).online()
    new = await PepClient(u + "/modern", args.password, args, interests=(BOOKMARKS2,)).online()
    await asyncio.sleep(0.5)
    info = await new["xep_0030"].get_info(u, timeout=TIMEOUT)
    expect(BOOKMARKS2 + "#compat" in info["disco_info"]["features"], "the account advertises urn:xmpp:bookmarks:1#compat")

    bm = old["xep_0048"].stanza.Bookmarks()
    bm.add_conference("room1@conference." + args.domain, "dee", name="Room one", autojoin=True)
    await old["xep_0048"].set_bookmarks(bm, method="xep_0049", timeout=TIMEOUT)
    m = await new.pep_event(BOOKMARKS2)
    iid, p = payload_of(m)
    expect(iid == "room1@conference." + args.domain and p.get("autojoin") in ("true", "1") and p.get("name") == "Room one"
           and p.find(f"{{{BOOKMARKS2}}}nick").text == "dee",
           "a private-storage bookmark becomes a XEP-0402 item, notified to +notify resources")

    conf = (f"<conference xmlns='{BOOKMARKS2}' name='Room two' autojoin='false'><nick>dee</nick>"
            f"<extensions><x xmlns='urn:xmpp:test:ext'/></extensions></conference>")
    await new.publish(BOOKMARKS2, "room2@conference." + args.domain, conf, persist_items="true", max_items="max",
                      send_last_published_item="never", access_model="whitelist")
    got = await new.items(u, BOOKMARKS2)
    expect(set(got) == {"room1@conference." + args.domain, "room2@conference." + args.domain}, "the XEP-0402 node has both rooms")
    res = await old["xep_0048"].get_bookmarks(method="xep_0049", timeout=TIMEOUT)
    confs = {str(c["jid"]): c for c in res["private"]["bookmarks"]["conferences"]}
    expect(set(confs) == {"room1@conference." + args.domain, "room2@conference." + args.domain},
           "a XEP-0402 bookmark appears in private storage")
    expect(confs["room2@conference." + args.domain]["name"] == "Room two", "... with its name")

    await new["xep_0060"].retract(u, BOOKMARKS2, "room1@conference." + args.domain, notify=True, timeout=TIMEOUT)
    res = await old["xep_0048"].get_bookmarks(method="xep_0049", timeout=TIMEOUT)
    confs = {str(c["jid"]) for c in res["private"]["bookmarks"]["conferences"]}
    expect(confs == {"room2@conference." + args.domain}, "a retracted XEP-0402 bookmark leaves private storage")

    # A legacy rewrite that drops room2 retracts it, keeping room3 new.
    bm = old["xep_0048"].stanza.Bookmarks()
    bm.add_conference("room3@conference." + args.domain, "dee", name="Room three")
    await old["xep_0048"].set_bookmarks(bm, method="xep_0049", timeout=TIMEOUT)
    retracted = []
    while "room2@conference." + args.domain not in retracted:
        r = await asyncio.wait_for(new.retractions.get(), TIMEOUT)
        retracted.append(r["pubsub_event"]["items"]["retract"]["id"])
    expect(retracted == ["room1@conference." + args.domain, "room2@conference." + args.domain],
           "retractions are notified: by a XEP-0402 client, and for a bookmark removed in private storage")
    got = await new.items(u, BOOKMARKS2)
    expect(set(got) == {"room3@conference." + args.domain}, "the XEP-0402 node follows private storage")
    stranger = await PepClient(jid(args, args.users[1]), args.password, args).online()
    cond, _ = await pep_error(stranger.items(u, BOOKMARKS2))
    expect(cond == "not-allowed", "bookmarks are readable by their owner only")
    for x in (old, new, stranger):
        await x.offline()


async def scenario_avatar(args):
    """A vCard photo is published as the XEP-0084 avatar, whose metadata
    notification reaches an interested contact, and its hash goes into
    the user's presence (XEP-0398)."""
    e_jid, f_jid = (jid(args, u) for u in args.users[:2])
    e = await PepClient(e_jid, args.password, args).online()
    f = await PepClient(f_jid, args.password, args, interests=(AVATAR_META,)).online()
    await befriend(e, f)
    info = await e["xep_0030"].get_info(e_jid, timeout=TIMEOUT)
    expect("urn:xmpp:pep-vcard-conversion:0" in info["disco_info"]["features"], "the account advertises the conversion")

    sha = hashlib.sha1(PNG).hexdigest()
    iq = e.Iq(stype="set")
    iq.append(ET.fromstring("<vCard xmlns='vcard-temp'><FN>E</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>"
                            + base64.b64encode(PNG).decode() + "</BINVAL></PHOTO></vCard>"))
    await iq.send(timeout=TIMEOUT)
    m = await f.pep_event(AVATAR_META)
    iid, p = payload_of(m)
    info = p.find(f"{{{AVATAR_META}}}info")
    expect(iid == sha and info.get("id") == sha and info.get("type") == "image/png" and info.get("bytes") == str(len(PNG))
           and info.get("width") == "1", "a vCard photo is published as XEP-0084 metadata")
    got = await f.items(e_jid, AVATAR_DATA, item_ids=[sha])
    expect(base64.b64decode(got[sha].text) == PNG, "... and data, which the contact retrieves")

    presences = asyncio.Queue()
    f.add_event_handler("presence_available", lambda pr: presences.put_nowait(pr) if pr["from"].bare == e_jid else None)
    e.send_presence()
    while True:
        pr = await asyncio.wait_for(presences.get(), TIMEOUT)
        x = pr.xml.find("{vcard-temp:x:update}x")
        if x is not None:
            break
    expect(x.find("{vcard-temp:x:update}photo").text == sha, "the server puts the photo hash in presence")

    # PEP to vCard: a new avatar published with XEP-0084 lands in the vCard.
    png2 = PNG[:-1] + b"\x83"
    sha2 = hashlib.sha1(png2).hexdigest()
    await e.publish(AVATAR_DATA, sha2, f"<data xmlns='{AVATAR_DATA}'>{base64.b64encode(png2).decode()}</data>")
    await e.publish(AVATAR_META, sha2, f"<metadata xmlns='{AVATAR_META}'><info id='{sha2}' bytes='{len(png2)}' type='image/png'/></metadata>")
    vc = await f["xep_0054"].get_vcard(e_jid, cached=False, timeout=TIMEOUT)
    binval = vc.xml.find("{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}BINVAL")
    expect(binval is not None and base64.b64decode(binval.text) == png2, "a XEP-0084 avatar is copied into the vCard")
    expect(vc.xml.find("{vcard-temp}vCard/{vcard-temp}FN").text == "E", "... keeping the rest of the vCard")
    for x in (e, f):
        await x.offline()


async def scenario_subscribe(args):
    """A contact whose client does not announce NODE+notify subscribes
    explicitly (XEP-0060 §6.1): it gets the last item, then the
    notification of a publication, lists its subscription (§5.6),
    unsubscribes (§6.2) and gets nothing after; then the owner subscribes
    it and removes its subscription (§8.8.2)."""
    a_jid, b_jid = (jid(args, u) for u in args.users[:2])
    a = await PepClient(a_jid, args.password, args).online()
    b = await PepClient(b_jid, args.password, args).online()
    await befriend(a, b)
    node = "urn:example:status"
    info = await b["xep_0030"].get_info(a_jid, timeout=TIMEOUT)
    expect(PUBSUB + "#subscribe" in info["disco_info"]["features"]
           and PUBSUB + "#retrieve-subscriptions" in info["disco_info"]["features"],
           "the account advertises subscribe and retrieve-subscriptions")
    # The default configuration: presence access, the last item sent on
    # subscription and presence (XEP-0163 §5).
    await a.publish(node, "s1", "<status xmlns='urn:example:status'>one</status>")

    iq = await b["xep_0060"].subscribe(a_jid, node, timeout=TIMEOUT)
    sub = iq["pubsub"]["subscription"]
    expect(sub["node"] == node and sub["jid"].bare == b_jid and sub["subscription"] == "subscribed",
           "the subscription of the contact's bare JID is subscribed")
    m = await b.pep_event(node)
    expect(payload_of(m)[0] == "s1", "the subscriber gets the last item")
    await a.publish(node, "s2", "<status xmlns='urn:example:status'>two</status>")
    m = await b.pep_event(node)
    expect(payload_of(m)[0] == "s2", "the subscriber is notified of a publication")
    # XEP-0163 §4.3.3: nothing goes to a subscriber the user blocks.
    await a["xep_0191"].block([b_jid])
    await a.publish(node, "s2b", "<status xmlns='urn:example:status'>blocked</status>")
    await b.no_pep_event(node, "a blocked subscriber was notified")
    await a["xep_0191"].unblock([b_jid])

    iq = await b["xep_0060"].get_subscriptions(a_jid, timeout=TIMEOUT)
    subs = [(s["node"], s["jid"].bare, s["subscription"]) for s in iq["pubsub"]["subscriptions"]]
    expect(subs == [(node, b_jid, "subscribed")], f"the subscriber lists its subscription: {subs}")

    await b["xep_0060"].unsubscribe(a_jid, node, timeout=TIMEOUT)
    await a.publish(node, "s3", "<status xmlns='urn:example:status'>three</status>")
    await b.no_pep_event(node, "a notification after unsubscribing")
    iq = await b["xep_0060"].get_subscriptions(a_jid, timeout=TIMEOUT)
    expect(len(list(iq["pubsub"]["subscriptions"])) == 0, "no subscription is left")
    cond, _ = await pep_error(b["xep_0060"].unsubscribe(a_jid, node, timeout=TIMEOUT))
    expect(cond == "unexpected-request", "unsubscribing again is refused")

    # The owner manages the node's subscriptions (XEP-0060 §8.8.2): she
    # subscribes her contact, who is notified again, then removes him.
    info = await a["xep_0030"].get_info(a_jid, timeout=TIMEOUT)
    expect(PUBSUB + "#manage-subscriptions" in info["disco_info"]["features"],
           "the account advertises manage-subscriptions")
    await a["xep_0060"].modify_subscriptions(a_jid, node, [(b_jid, "subscribed")], timeout=TIMEOUT)
    iq = await a["xep_0060"].get_node_subscriptions(a_jid, node, timeout=TIMEOUT)
    subs = [(s["jid"].bare, s["subscription"]) for s in iq["pubsub_owner"]["subscriptions"]]
    expect(subs == [(b_jid, "subscribed")], f"the owner lists the subscription she made: {subs}")
    await a.publish(node, "s4", "<status xmlns='urn:example:status'>four</status>")
    m = await b.pep_event(node)
    expect(payload_of(m)[0] == "s4", "the contact the owner subscribed is notified")
    await a["xep_0060"].modify_subscriptions(a_jid, node, [(b_jid, "none")], timeout=TIMEOUT)
    await a.publish(node, "s5", "<status xmlns='urn:example:status'>five</status>")
    await b.no_pep_event(node, "a notification after the owner removed the subscription")
    for x in (a, b):
        await x.offline()


if __name__ == "__main__":
    run_scenarios(globals())
