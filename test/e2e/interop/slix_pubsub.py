#!/usr/bin/python3
"""Publish-subscribe service scenarios (XEP-0060 at pubsub.DOMAIN) driven
by slixmpp, as Movim uses the service for its communities: a node created
with a configuration, subscriptions, Atom entries published and notified,
items retrieved (all, by ID, the newest, and in pages of XEP-0059),
disco of nodes and their metadata, affiliations, retraction,
unsubscription, deletion, a whitelist node, and an authorize node whose
owner approves and denies subscriptions by the forms of XEP-0060 §8.6.

    slix_pubsub.py SCENARIO --port 5222 --tls-port 5223 --domain localhost --ca CERT ...
"""
import asyncio
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0059 import Set
from slixmpp.plugins.xep_0060.stanza import Pubsub
from slixmpp.xmlstream import register_stanza_plugin

from slix import TIMEOUT, Client, expect, jid, run_scenarios

PUBSUB = "http://jabber.org/protocol/pubsub"
ATOM = "http://www.w3.org/2005/Atom"

# slixmpp 1.8 pages pubsub items with XEP-0059 (get_items(iterator=True))
# but does not register <set/> inside <pubsub/>.
register_stanza_plugin(Pubsub, Set)


class PubsubClient(Client):
    """A client that queues the notifications of the pubsub service."""

    def __init__(self, jid_, password, args, **kw):
        super().__init__(jid_, password, args, **kw)
        for p in ("xep_0004", "xep_0059", "xep_0060"):
            self.register_plugin(p)
        self.service = "pubsub." + args.domain
        self.events = asyncio.Queue()
        for kind in ("publish", "retract", "delete", "purge"):
            self.add_event_handler("pubsub_" + kind, lambda m, kind=kind: self.events.put_nowait((kind, m)))

    async def notification(self, timeout=TIMEOUT):
        """The next notification: (kind, node, item id or None)."""
        kind, m = await asyncio.wait_for(self.events.get(), timeout)
        ev = m["pubsub_event"]
        if kind in ("publish", "retract"):
            item = list(ev["items"])[0]
            return kind, ev["items"]["node"], item["id"]
        return kind, ev[kind]["node"], None

    async def none(self, wait=1.5):
        """Fails if a notification comes within wait seconds."""
        try:
            got = await self.notification(timeout=wait)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected notification {got}")

    def config(self, **fields):
        form = self["xep_0004"].make_form(ftype="submit")
        form.add_field(var="FORM_TYPE", ftype="hidden", value=PUBSUB + "#node_config")
        for k, v in fields.items():
            form.add_field(var="pubsub#" + k, value=v)
        return form

    async def publish(self, node, id_, title):
        entry = ET.fromstring(f"<entry xmlns='{ATOM}'><title>{title}</title>"
                              f"<content type='text'>{title} body</content>"
                              f"<published>2026-01-01T00:00:00Z</published></entry>")
        return await self["xep_0060"].publish(self.service, node, id=id_, payload=entry, timeout=TIMEOUT)

    async def items(self, node, **kw):
        iq = await self["xep_0060"].get_items(self.service, node, timeout=TIMEOUT, **kw)
        return [it["id"] for it in iq["pubsub"]["items"]]


async def error_of(coro):
    """The condition and the pubsub#errors condition of a failed request."""
    try:
        await coro
    except IqError as e:
        app = [c.tag.split("}")[1] for c in e.iq["error"].xml if c.tag.startswith("{" + PUBSUB + "#errors}")]
        return e.iq["error"]["condition"], (app[0] if app else None)
    raise AssertionError("the request succeeded")


async def scenario_community(args):
    """Alice's open community: bob subscribes, reads, is made publisher,
    gets retractions, unsubscribes, and learns of the node's deletion."""
    a_jid, b_jid = (jid(args, u) for u in args.users[:2])
    alice = await PubsubClient(a_jid + "/movim", args.password, args).online()
    bob = await PubsubClient(b_jid + "/phone", args.password, args).online()
    ps = alice["xep_0060"]
    node = "cats"

    info = await alice["xep_0030"].get_info(alice.service, timeout=TIMEOUT)
    expect(any(i[0] == "pubsub" and i[1] == "service" for i in info["disco_info"]["identities"]), "the service is pubsub/service")
    expect(PUBSUB + "#publish-options" in info["disco_info"]["features"], "... with publish-options")
    items = await alice["xep_0030"].get_items(args.domain, timeout=TIMEOUT)
    expect(alice.service in [i[0] for i in items["disco_items"]["items"]], "the host lists the service")

    await ps.create_node(alice.service, node, config=alice.config(title="Cats", access_model="open"), timeout=TIMEOUT)
    sub = await bob["xep_0060"].subscribe(bob.service, node, timeout=TIMEOUT)
    expect(sub["pubsub"]["subscription"]["subscription"] == "subscribed" and sub["pubsub"]["subscription"]["subid"],
           "bob subscribes and gets a subscription ID")

    await alice.publish(node, "e1", "First")
    await alice.publish(node, "e2", "Second")
    got = [await bob.notification(), await bob.notification()]
    expect(got == [("publish", node, "e1"), ("publish", node, "e2")], "bob is notified of both entries")

    expect(await bob.items(node) == ["e2", "e1"], "bob retrieves every item, newest first")
    expect(await bob.items(node, item_ids=["e1"]) == ["e1"], "... one by ID")
    expect(await bob.items(node, max_items=1) == ["e2"], "... the newest with max_items")
    iq = bob.Iq(stype="get", sto=bob.service)
    iq["pubsub"]["items"]["node"] = node
    pages = []
    async for page in bob["xep_0059"].iterate(iq, "pubsub", amount=1, iq_options={"timeout": TIMEOUT}):
        pages.append([it["id"] for it in page["pubsub"]["items"]])
    expect(pages[:2] == [["e2"], ["e1"]] and all(p == [] for p in pages[2:]), f"... and page by page with RSM: {pages}")

    items = await bob["xep_0030"].get_items(bob.service, timeout=TIMEOUT)
    expect((bob.service, node, "Cats") in [tuple(i) for i in items["disco_items"]["items"]], "disco#items lists the node with its title")
    info = await bob["xep_0030"].get_info(bob.service, node=node, timeout=TIMEOUT)
    meta = info["disco_info"].xml.find("{jabber:x:data}x")
    fields = {f.get("var"): [v.text for v in f.findall("{jabber:x:data}value")] for f in meta.findall("{jabber:x:data}field")}
    expect(fields["FORM_TYPE"] == [PUBSUB + "#meta-data"] and fields["pubsub#num_subscribers"] == ["1"]
           and fields["pubsub#title"] == ["Cats"] and fields["pubsub#owner"] == [a_jid], "the node's metadata counts one subscriber")

    expect(await error_of(bob.publish(node, "b1", "Bob's")) == ("forbidden", None), "bob may not publish")
    await ps.modify_affiliations(alice.service, node, affiliations=[(b_jid, "publisher")], timeout=TIMEOUT)
    await bob.publish(node, "b1", "Bob's")
    expect(await bob.notification() == ("publish", node, "b1"), "made publisher, bob publishes")

    await ps.retract(alice.service, node, "e1", notify=True, timeout=TIMEOUT)
    expect(await bob.notification() == ("retract", node, "e1"), "bob is notified of a retraction")

    await bob["xep_0060"].unsubscribe(bob.service, node, timeout=TIMEOUT)
    await alice.publish(node, "e3", "Third")
    await bob.none()
    expect(True, "unsubscribed, bob gets no more notifications")

    await bob["xep_0060"].subscribe(bob.service, node, timeout=TIMEOUT)
    await ps.delete_node(alice.service, node, timeout=TIMEOUT)
    expect(await bob.notification() == ("delete", node, None), "subscribed again, bob learns of the deletion")
    expect((await error_of(bob.items(node)))[0] == "item-not-found", "the node is gone")
    for c in (alice, bob):
        await c.offline()


async def scenario_whitelist(args):
    """A whitelist node is invisible and closed to a stranger, open to a
    member."""
    a_jid, c_jid = (jid(args, u) for u in args.users[:2])
    alice = await PubsubClient(a_jid, args.password, args).online()
    carol = await PubsubClient(c_jid, args.password, args).online()
    node = "private"
    await alice["xep_0060"].create_node(alice.service, node, config=alice.config(access_model="whitelist"), timeout=TIMEOUT)
    await alice.publish(node, "s1", "Secret")
    items = await carol["xep_0030"].get_items(carol.service, timeout=TIMEOUT)
    expect(node not in [i[1] for i in items["disco_items"]["items"]], "the whitelist node is not listed to a stranger")
    expect(await error_of(carol.items(node)) == ("not-allowed", "closed-node"), "... nor readable")
    expect(await error_of(carol["xep_0060"].subscribe(carol.service, node, timeout=TIMEOUT)) == ("not-allowed", "closed-node"),
           "... nor open to subscription")
    await alice["xep_0060"].modify_affiliations(alice.service, node, affiliations=[(c_jid, "member")], timeout=TIMEOUT)
    expect(await carol.items(node) == ["s1"], "a member reads it")
    for c in (alice, carol):
        await c.offline()


async def scenario_authorize(args):
    """An authorize node (XEP-0060 §4.5): a subscription waits for the
    owner, who gets the authorization form of §8.6 and submits it; the
    subscriber learns that it was approved, then reads and is notified;
    another one is denied and told so."""
    a_jid, c_jid, d_jid = (jid(args, u) for u in args.users[:3])
    alice = await PubsubClient(a_jid + "/movim", args.password, args).online()
    carol = await PubsubClient(c_jid + "/phone", args.password, args).online()
    dave = await PubsubClient(d_jid, args.password, args).online()
    node = "club"
    forms, changes = asyncio.Queue(), asyncio.Queue()
    alice.add_event_handler("message", lambda m: forms.put_nowait(m) if m.xml.find("{jabber:x:data}x") is not None else None)
    for c in (carol, dave):
        c.add_event_handler("pubsub_subscription", lambda m, c=c: changes.put_nowait(
            (str(m["to"].bare), m["pubsub_event"]["subscription"]["subscription"])))

    info = await alice["xep_0030"].get_info(alice.service, timeout=TIMEOUT)
    expect(PUBSUB + "#access-authorize" in info["disco_info"]["features"], "the service offers the authorize access model")
    await alice["xep_0060"].create_node(alice.service, node, config=alice.config(access_model="authorize"), timeout=TIMEOUT)
    await alice.publish(node, "a1", "Members only")
    expect(await error_of(carol.items(node)) == ("not-authorized", "not-subscribed"), "a stranger may not read the node")

    async def ask(client, user):
        sub = await client["xep_0060"].subscribe(client.service, node, timeout=TIMEOUT)
        expect(sub["pubsub"]["subscription"]["subscription"] == "pending", f"{user}'s subscription is pending")
        m = await asyncio.wait_for(forms.get(), TIMEOUT)
        # slixmpp gives hidden fields as lists of values.
        values = {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in m["form"].get_values().items()}
        expect(values["FORM_TYPE"] == PUBSUB + "#subscribe_authorization" and values["pubsub#node"] == node
               and str(values["pubsub#subscriber_jid"]) == jid(args, user) and values["pubsub#subid"],
               f"the owner gets the authorization form for {user}")
        return m, values

    async def answer(m, values, allow):
        reply = alice.make_message(mto=alice.service)
        reply["id"] = m["id"]
        form = alice["xep_0004"].make_form(ftype="submit")
        for var in ("FORM_TYPE", "pubsub#subid", "pubsub#node", "pubsub#subscriber_jid"):
            form.add_field(var=var, value=str(values[var]))
        form.add_field(var="pubsub#allow", value="1" if allow else "0")
        reply.append(form)
        reply.send()

    m, values = await ask(carol, args.users[1])
    expect(await error_of(carol["xep_0060"].subscribe(carol.service, node, timeout=TIMEOUT)) == ("not-authorized", "pending-subscription"),
           "asking again while pending is refused")
    expect(await error_of(carol.items(node)) == ("not-authorized", "not-subscribed"), "a pending subscriber may not read")
    await answer(m, values, True)
    expect(await asyncio.wait_for(changes.get(), TIMEOUT) == (c_jid, "subscribed"), "the owner approves: carol is told")
    expect(await carol.items(node) == ["a1"], "carol reads the node")
    await alice.publish(node, "a2", "Second")
    expect(await carol.notification() == ("publish", node, "a2"), "carol is notified")

    m, values = await ask(dave, args.users[2])
    await answer(m, values, False)
    expect(await asyncio.wait_for(changes.get(), TIMEOUT) == (d_jid, "none"), "the owner denies: dave is told")
    subs = await dave["xep_0060"].get_subscriptions(dave.service, timeout=TIMEOUT)
    expect(len(list(subs["pubsub"]["subscriptions"])) == 0, "dave holds no subscription")
    for c in (alice, carol, dave):
        await c.offline()


if __name__ == "__main__":
    run_scenarios(globals())
