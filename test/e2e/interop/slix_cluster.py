#!/usr/bin/python3
"""Cluster scenarios driven by slixmpp: users connected to different
nodes of one samtal cluster chat one to one and in a room; one node is
killed during traffic (the test does it when the scenario prints KILL)
and no message the sender's stream management acknowledged is lost.

    slix_cluster.py cluster --ports P1 P2 P3 --domain localhost --ca CERT \
        --password PW --control DIR --users alice bob carol dave
"""
import asyncio
import copy
import os

from slix import TIMEOUT, Client, bodies, cut_while_sent, exactly_once, expect, jid, mam_query, quiet_abort, run_scenarios
from slix_muc import MucClient, submit_form
from slix_pep import LEGACY_DEVICES, PepClient, befriend, devicelist


def at(args, i):
    """The arguments of a client of node i (0-based)."""
    a = copy.copy(args)
    a.port = args.ports[i]
    return a


async def wait_file(path, timeout=60):
    deadline = asyncio.get_event_loop().time() + timeout
    while not os.path.exists(path):
        if asyncio.get_event_loop().time() > deadline:
            raise AssertionError(f"{path} did not appear")
        await asyncio.sleep(0.05)


async def drain(q, settle):
    """What a queue gets until it has been quiet for settle seconds."""
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(q.get(), settle))
        except asyncio.TimeoutError:
            return out


async def scenario_cluster(args):
    a_jid, b_jid, c_jid, d_jid = (jid(args, u) for u in args.users[:4])
    room = "cluster@conference." + args.domain

    # One to one across nodes: RFC 6121 over the resources of every node.
    alice = await MucClient(a_jid + "/n1", args.password, at(args, 0), plugins=("xep_0198",)).online()
    bob_hi = await MucClient(b_jid + "/high", args.password, at(args, 1), priority=5).online()
    bob_lo = Client(b_jid + "/low", args.password, at(args, 2), priority=1, plugins=("xep_0280",))
    carbons = asyncio.Queue()
    bob_lo.add_event_handler("carbon_received", lambda m: carbons.put_nowait(m))
    await bob_lo.online()
    await bob_lo["xep_0280"].enable()
    await asyncio.sleep(1)  # the directory reaches every node
    expect(any(e[0] == "presence" and e[1] == b_jid + "/high" for e in bob_lo.log),
           "a resource on node 3 got the presence of the user's resource on node 2")
    alice.send_message(mto=b_jid, mbody="to the bare JID", mtype="chat")
    m = await bob_hi.next_message()
    expect(m["body"] == "to the bare JID" and m["from"] == alice.boundjid,
           "a message to the bare JID reached the highest-priority resource, on another node")
    c = await asyncio.wait_for(carbons.get(), TIMEOUT)
    expect(c["carbon_received"]["body"] == "to the bare JID", "the resource on a third node got a carbon (XEP-0280)")
    expect(bob_lo.messages.empty(), "and no copy of its own")
    alice.send_message(mto=b_jid + "/low", mbody="to the full JID", mtype="chat")
    m = await bob_lo.next_message()
    expect(m["body"] == "to the full JID", "a message to a full JID reached that resource on its node")
    bob_hi.send_message(mto=a_jid, mbody="reply", mtype="chat")
    m = await alice.next_message()
    expect(m["body"] == "reply", "the answer came back across nodes")

    # Blocking holds whichever node a message comes through: node 1 has
    # bob's blocklist cached from the messages above.
    await bob_hi["xep_0191"].block([a_jid])
    alice.send_message(mto=b_jid, mbody="blocked?", mtype="chat")
    e = await asyncio.wait_for(alice.errors.get(), TIMEOUT)
    expect(e["error"]["condition"] == "service-unavailable",
           "a block made on node 2 stops messages sent through node 1 (XEP-0191)")
    await bob_hi["xep_0191"].unblock([a_jid])
    alice.send_message(mto=b_jid, mbody="unblocked", mtype="chat")
    m = await bob_hi.next_message()
    expect(m["body"] == "unblocked", "and the unblock too")

    # A room owned by node 3: carol makes it there first.
    carol = await MucClient(c_jid, args.password, at(args, 2)).online()
    await carol["xep_0045"].join_muc_wait(room, "carol", timeout=TIMEOUT)
    await carol["xep_0045"].set_room_config(room, submit_form(carol, roomname="Cluster room", persistentroom=True),
                                            timeout=TIMEOUT)
    await alice["xep_0045"].join_muc_wait(room, "alice", timeout=TIMEOUT)
    await bob_hi["xep_0045"].join_muc_wait(room, "bob", timeout=TIMEOUT)
    alice.send_message(mto=room, mbody="hello room", mtype="groupchat")
    for cl in (alice, bob_hi, carol):
        await cl.groupchat("hello room")
    expect(True, "a room message from node 1 reached the occupants on nodes 1, 2 and 3")

    # Traffic while node 3 dies.
    dave = await Client(d_jid, args.password, at(args, 2)).online()
    acked = set()
    alice.add_event_handler("stanza_acked",
                            lambda s: acked.add(s["body"]) if s.name == "message" and s["body"].startswith("kill ") else None)
    n = 60
    for i in range(n):
        alice.send_message(mto=d_jid, mbody=f"kill {i}", mtype="chat")
        if i % 5 == 4:
            alice["xep_0198"].request_ack()
        if i == 20:
            print("KILL", flush=True)
            await wait_file(os.path.join(args.control, "killed"))
        await asyncio.sleep(0.03)
    alice["xep_0198"].request_ack()
    for _ in range(100):
        if len(acked) == n:
            break
        await asyncio.sleep(0.1)
    expect(len(acked) == n, f"node 1 acknowledged all {n} messages (XEP-0198), got {len(acked)}")
    live = {m["body"] for m in await drain(dave.messages, 0.5) if m["body"]}
    for cl in (dave, bob_lo, carol):
        quiet_abort(cl)

    # dave comes back on node 1: what his dead node did not deliver is in
    # offline storage, and everything is in his archive.
    dave2 = await Client(d_jid + "/back", args.password, at(args, 0)).online()
    offline = {m["body"] for m in await drain(dave2.messages, 2) if m["body"]}
    archived = set()
    results, _ = await mam_query(dave2, fields={"with": a_jid}, rsm={"max": "200"})
    archived = {body for (_, _, body, _) in results if body}
    got = live | offline | archived
    missing = sorted(acked - got, key=lambda b: int(b.split()[1]))
    print(f"live {len(live)}, offline {len(offline)}, archived {len(archived)}", flush=True)
    expect(not missing, f"every acknowledged message reached dave (missing {missing})")
    expect(any(f"kill {i}" in offline for i in range(21, n)),
           "messages sent after the crash went to offline storage")

    # The room goes on on another node: its occupants rejoin there.
    await alice["xep_0045"].join_muc_wait(room, "alice", timeout=TIMEOUT)
    await bob_hi["xep_0045"].join_muc_wait(room, "bob", timeout=TIMEOUT)
    alice.send_message(mto=room, mbody="after the crash", mtype="groupchat")
    m = await bob_hi.groupchat("after the crash")
    expect(m["from"] == room + "/alice", "the room, owned by the killed node, goes on on another")
    for cl in (alice, bob_hi, dave2):
        await cl.offline()


async def scenario_pep(args):
    """PEP (XEP-0163) across nodes: a publish on one node notifies the
    contacts and the publisher's own resources on the others, as their
    entity capabilities (XEP-0115) ask."""
    e_jid, f_jid = (jid(args, u) for u in args.users[:2])
    erin = await PepClient(e_jid + "/n1", args.password, at(args, 0), interests=(LEGACY_DEVICES,)).online()
    frank = await PepClient(f_jid + "/n2", args.password, at(args, 1), interests=(LEGACY_DEVICES,)).online()
    await befriend(erin, frank)
    expect(True, "a presence subscription between users on nodes 1 and 2")
    erin3 = await PepClient(e_jid + "/n3", args.password, at(args, 2), interests=(LEGACY_DEVICES,)).online()
    await asyncio.sleep(1.5)  # caps queries and relayed presence settle
    for c in (erin, frank, erin3):
        await drain(c.events, 0.2)
    await erin.publish(LEGACY_DEVICES, "current", devicelist(1, 2))
    m = await frank.pep_event(LEGACY_DEVICES)
    expect(m["from"] == e_jid, "a contact on node 2 got the notification of a publish on node 1")
    m = await erin3.pep_event(LEGACY_DEVICES)
    expect(m["from"] == e_jid, "the publisher's own resource on node 3 got it too")
    await frank.publish(LEGACY_DEVICES, "current", devicelist(7))
    for c, where in ((erin, "node 1"), (erin3, "node 3")):
        m = await c.pep_event(LEGACY_DEVICES)
        while m["from"] != f_jid:  # erin's own publish came first
            m = await c.pep_event(LEGACY_DEVICES)
        expect(True, f"a publish on node 2 notified the contact's resource on {where}")
    for c in (erin, frank, erin3):
        await c.offline()


async def scenario_sm_elsewhere(args):
    """Stream management (XEP-0198) when the client comes back on another
    node and its own node has no location to send it to: the resumption
    fails there (item-not-found) and the client binds its resource anew;
    that ends its session on the first node, and the messages it never
    acknowledged there reach the new session exactly once."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    b = await Client(b_jid + "/phone", args.password, at(args, 2), plugins=("xep_0198",)).online()
    expect(b["xep_0198"].sm_id is not None, "stream management enabled with resumption on node 3")
    a = await Client(a_jid, args.password, at(args, 0)).online()
    await cut_while_sent(a, b, b_jid, "moved ", 30)
    failed = asyncio.ensure_future(b.wait_until("sm_failed", TIMEOUT))
    started = asyncio.ensure_future(b.wait_until("session_start", TIMEOUT))
    b.connect(address=("127.0.0.1", args.ports[1]))
    f = await failed
    expect(f.xml.find("{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found") is not None,
           "node 2 cannot resume node 3's session: item-not-found")
    await started
    expect(str(b.boundjid) == b_jid + "/phone", "the client bound its resource anew on node 2")
    got = await bodies(b, "moved ", 30)
    expect(exactly_once(got, "moved ", 30), f"all 30 unacknowledged messages reached the new session exactly once (got {len(got)})")
    for c in (a, b):
        await c.offline()


async def scenario_sm_redirect(args):
    """Stream management (XEP-0198) when the client comes back on another
    node and its own node has a location: the other node sends it there
    (see-other-host, RFC 6120 §4.9.3.19), where it resumes its session
    and gets the messages it never acknowledged exactly once, in order,
    while its presence never changed for the user's other resource."""
    a_jid, b_jid = jid(args, args.users[0]), jid(args, args.users[1])
    b = await Client(b_jid + "/phone", args.password, at(args, 0), plugins=("xep_0198",)).online()
    sm = b["xep_0198"]
    expect(sm.sm_id is not None and sm.sm_id.endswith(".n1"), f"stream management enabled with resumption on node 1 ({sm.sm_id})")
    watcher = await Client(b_jid + "/watcher", args.password, at(args, 1), priority=-1).online()
    a = await Client(a_jid, args.password, at(args, 2)).online()
    await asyncio.sleep(0.5)
    watcher.log.clear()
    await cut_while_sent(a, b, b_jid, "redirected ", 30)
    # slixmpp 1.8 follows see-other-host itself by reconnecting without
    # an address, which makes ClientXMPP.connect look the domain up
    # again and lose the host it was sent to: here the application
    # follows it, as clients that implement it do.
    b.max_redirects = -1
    errors, gone = [], asyncio.Event()
    b.add_event_handler("stream_error", lambda e: errors.append(e))
    b.add_event_handler("disconnected", lambda _: gone.set())
    b.connect(address=("127.0.0.1", args.ports[1]))
    await asyncio.wait_for(gone.wait(), TIMEOUT)
    expect(len(errors) == 1 and errors[0]["condition"] == "see-other-host" and
           errors[0]["see_other_host"] == f"127.0.0.1:{args.ports[0]}",
           "node 2 sends the client to node 1's location (see-other-host)")
    host, port = errors[0]["see_other_host"].rsplit(":", 1)
    resumed = asyncio.ensure_future(b.wait_until("session_resumed", TIMEOUT))
    b.connect(address=(host, int(port)))
    await resumed
    expect(True, "where it resumed its session")
    got = await bodies(b, "redirected ", 30)
    expect(exactly_once(got, "redirected ", 30), f"all 30 unacknowledged messages arrived exactly once (got {len(got)})")
    expect([m["body"] for m in got] == [f"redirected {i}" for i in range(30)], "in the order they were sent")
    flaps = [e for e in watcher.log if e[0] == "presence" and e[1] == str(b.boundjid)]
    expect(not flaps, "the resumed resource's presence never changed for the user's other resource")
    a.send_message(mto=b_jid, mbody="after", mtype="chat")
    m = await b.next_message()
    expect(m["body"] == "after", "messages after resumption arrive")
    for c in (a, b, watcher):
        await c.offline()


def arguments(p):
    """The client ports of the nodes, and the directory of the files the
    test and the scenario signal each other with."""
    p.add_argument("--ports", type=int, nargs="+", required=True)
    p.add_argument("--control", required=True)


if __name__ == "__main__":
    run_scenarios(globals(), timeout=150, extra=arguments, one_server=False)
