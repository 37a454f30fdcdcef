#!/usr/bin/python3
"""samtal's publish-subscribe service (XEP-0060 at pubsub.DOMAIN) used
from another server, driven with slixmpp: one client on samtal (--local),
which owns the nodes, and one on the other server (--remote), whose
requests and notifications cross the servers. Exits 0 and prints PASS on
success, raises otherwise.

    federation_pubsub.py --local JID,PORT,CA --remote JID,PORT,CA --password PW [--register remote]

Steps: the local user creates an open node and publishes an item; the
remote user discovers the service, subscribes, is notified of the next
item, retrieves both, and after unsubscribing is notified no more. Then
an authorize node: the remote user's subscription is pending, the local
owner approves it with the form of XEP-0060 §8.6, and the remote user is
told and notified of the next item.
"""
import argparse
import asyncio
import logging
import uuid
import xml.etree.ElementTree as ET

import federation
from federation import register

TIMEOUT = 20
PUBSUB = "http://jabber.org/protocol/pubsub"
ATOM = "http://www.w3.org/2005/Atom"


class Client(federation.Client):
    """federation.py's client, which queues the service's notifications,
    subscription changes and authorization requests."""

    def __init__(self, spec, password, service):
        super().__init__(spec, password)
        self.service = service
        self.items = asyncio.Queue()  # (node, item id) of notifications
        self.changes = asyncio.Queue()  # (node, state) of subscription changes
        self.forms = asyncio.Queue()  # authorization requests
        for p in ("xep_0004", "xep_0060"):
            self.register_plugin(p)
        self.add_event_handler("pubsub_publish", self._publish)
        self.add_event_handler("pubsub_subscription", lambda m: self.changes.put_nowait(
            (m["pubsub_event"]["subscription"]["node"], m["pubsub_event"]["subscription"]["subscription"])))
        self.add_event_handler("message", self._form)

    def _publish(self, m):
        if m["from"] != self.service:
            return
        ev = "{http://jabber.org/protocol/pubsub#event}"
        for items in m.xml.findall(f"{ev}event/{ev}items"):
            for it in items.findall(f"{ev}item"):
                self.items.put_nowait((items.get("node"), it.get("id")))

    def _form(self, m):
        if m["from"] == self.service and m.xml.find("{jabber:x:data}x") is not None:
            self.forms.put_nowait(m)

    async def publish(self, node, id_):
        entry = ET.fromstring(f"<entry xmlns='{ATOM}'><title>{id_}</title></entry>")
        await self["xep_0060"].publish(self.service, node, id=id_, payload=entry, timeout=TIMEOUT)

    def config(self, access_model):
        form = self["xep_0004"].make_form(ftype="submit")
        form.add_field(var="FORM_TYPE", ftype="hidden", value=PUBSUB + "#node_config")
        form.add_field(var="pubsub#access_model", value=access_model)
        return form

    async def notified(self, node, id_):
        got = await asyncio.wait_for(self.items.get(), TIMEOUT)
        assert got == (node, id_), f"notification {got}, want {(node, id_)}"


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--local", required=True, help="a samtal account, owner of the nodes")
    p.add_argument("--remote", required=True, help="an account of the other server")
    p.add_argument("--password", required=True)
    p.add_argument("--register", choices=["remote", "none"], default="none")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR)

    if args.register == "remote":
        await register(args.remote, args.password)
    service = "pubsub." + args.local.split(",")[0].split("@")[1]
    a = await Client(args.local, args.password, service).online()
    b = await Client(args.remote, args.password, service).online()
    tag = uuid.uuid4().hex[:8]

    node = "news-" + tag
    await a["xep_0060"].create_node(service, node, config=a.config("open"), timeout=TIMEOUT)
    await a.publish(node, "n1")
    info = await b["xep_0030"].get_info(service, timeout=TIMEOUT)
    assert any(i[0] == "pubsub" and i[1] == "service" for i in info["disco_info"]["identities"]), info
    print("ok: the remote user discovers the service across the servers", flush=True)
    sub = await b["xep_0060"].subscribe(service, node, timeout=TIMEOUT)
    assert sub["pubsub"]["subscription"]["subscription"] == "subscribed", sub
    print("ok: the remote user subscribes", flush=True)
    await a.publish(node, "n2")
    await b.notified(node, "n2")
    print("ok: the remote user is notified of a new item", flush=True)
    iq = await b["xep_0060"].get_items(service, node, timeout=TIMEOUT)
    got = [it["id"] for it in iq["pubsub"]["items"]]
    assert got == ["n2", "n1"], got
    print("ok: the remote user retrieves the items", flush=True)
    await b["xep_0060"].unsubscribe(service, node, timeout=TIMEOUT)
    await a.publish(node, "n3")
    try:
        got = await asyncio.wait_for(b.items.get(), 2)
        raise AssertionError(f"notified after unsubscribing: {got}")
    except asyncio.TimeoutError:
        pass
    print("ok: unsubscribed, the remote user is notified no more", flush=True)

    club = "club-" + tag
    await a["xep_0060"].create_node(service, club, config=a.config("authorize"), timeout=TIMEOUT)
    sub = await b["xep_0060"].subscribe(service, club, timeout=TIMEOUT)
    assert sub["pubsub"]["subscription"]["subscription"] == "pending", sub
    m = await asyncio.wait_for(a.forms.get(), TIMEOUT)
    # slixmpp gives hidden fields as lists of values.
    values = {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in m["form"].get_values().items()}
    assert values["pubsub#node"] == club and str(values["pubsub#subscriber_jid"]) == b.boundjid.bare, values
    reply = a.make_message(mto=service)
    reply["id"] = m["id"]
    form = a["xep_0004"].make_form(ftype="submit")
    for var in ("FORM_TYPE", "pubsub#subid", "pubsub#node", "pubsub#subscriber_jid"):
        form.add_field(var=var, value=str(values[var]))
    form.add_field(var="pubsub#allow", value="1")
    reply.append(form)
    reply.send()
    got = await asyncio.wait_for(b.changes.get(), TIMEOUT)
    assert got == (club, "subscribed"), got
    print("ok: the local owner approves the remote user's pending subscription, who is told", flush=True)
    await a.publish(club, "c1")
    await b.notified(club, "c1")
    print("ok: the approved remote user is notified", flush=True)

    a.disconnect()
    b.disconnect()
    print("PASS federation pubsub", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
