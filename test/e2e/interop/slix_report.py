#!/usr/bin/python3
"""Spam and abuse reports (XEP-0377) made with the blocking command
(XEP-0191) from slixmpp, and received by the host's administrators.

slixmpp's own xep_0377 plugin puts the obsolete urn:xmpp:reporting:0
report on the <block/> rather than in the item, so the block requests are
built here from elements.

    slix_report.py report --port 5222 --tls-port 5223 --domain localhost --ca CERT \
        --password PW --users ADMIN OFFLINE_ADMIN REPORTER SPAMMER
"""
import asyncio

from slixmpp.xmlstream import ET

from slix import TIMEOUT, Client, expect, jid, run_scenarios

NS_BLOCKING = "urn:xmpp:blocking"
NS_REPORTING = "urn:xmpp:reporting:1"
NS_REPORTING_0 = "urn:xmpp:reporting:0"
NS_SID = "urn:xmpp:sid:0"
NS_JID = "urn:xmpp:jid:0"
NS_FORWARD = "urn:xmpp:forward:0"
NS_DELAY = "urn:xmpp:delay"
NS_CLIENT = "jabber:client"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


async def block_and_report(c, who, report):
    """Block who with report (an element) in the item; returns the
    result iq."""
    iq = c.Iq()
    iq["type"] = "set"
    block = ET.SubElement(iq.xml, "{%s}block" % NS_BLOCKING)
    item = ET.SubElement(block, "{%s}item" % NS_BLOCKING, jid=who)
    item.append(report)
    return await iq.send(timeout=TIMEOUT)


def report_v1(reason, text, stanza_ids=(), by=None):
    r = ET.Element("{%s}report" % NS_REPORTING, reason=reason)
    for i in stanza_ids:
        ET.SubElement(r, "{%s}stanza-id" % NS_SID, by=by, id=i)
    t = ET.SubElement(r, "{%s}text" % NS_REPORTING)
    t.set(XML_LANG, "en")
    t.text = text
    return r


def report_v0(kind, text):
    """The form of Conversations before 2.13."""
    r = ET.Element("{%s}report" % NS_REPORTING_0)
    ET.SubElement(r, "{%s}%s" % (NS_REPORTING_0, kind))
    ET.SubElement(r, "{%s}text" % NS_REPORTING_0).text = text
    return r


def check_report(m, args, what, reporter, reported, reason, text, bodies):
    """Check a report message as an administrator gets it."""
    expect(str(m["from"]) == args.domain and m["type"] == "normal",
           f"{what}: a normal message from {args.domain} ({m['from']}, {m['type']})")
    body = m["body"]
    kind = "spam from" if reason.endswith("spam") else "abuse by"
    expect(body.startswith(f"{reporter} reported {kind} {reported}: {text}"), f"{what}: the body says it ({body!r})")
    r = m.xml.find("{%s}report" % NS_REPORTING)
    expect(r is not None and r.get("reason") == reason, f"{what}: the report, reason {reason}")
    expect(r.findtext("{%s}jid" % NS_JID) == reported, f"{what}: the report names {reported}")
    expect(r.findtext("{%s}text" % NS_REPORTING) == text, f"{what}: with the reporter's text")
    fwd = m.xml.findall("{%s}forwarded" % NS_FORWARD)
    got = [f.findtext("{%s}message/{%s}body" % (NS_CLIENT, NS_CLIENT)) for f in fwd]
    expect(got == bodies, f"{what}: the reported messages forwarded ({got})")
    expect(all(f.find("{%s}delay" % NS_DELAY) is not None for f in fwd), f"{what}: each with its time")


async def scenario_report(args):
    """The server advertises reporting; mallory spams alice; alice blocks
    and reports mallory with the message's stanza-id from her archive;
    the administrator online gets the report with the message, the one
    offline gets it when logging in; a report in the legacy form works
    too; the block holds."""
    admin_nick, root_nick, a_nick, m_nick = args.users[:4]
    a_jid, m_jid = jid(args, a_nick), jid(args, m_nick)
    admin = await Client(jid(args, admin_nick), args.password, args).online()
    alice = await Client(a_jid, args.password, args).online()
    mallory = await Client(m_jid, args.password, args).online()

    info = await alice["xep_0030"].get_info(jid=args.domain, timeout=TIMEOUT)
    features = info["disco_info"]["features"]
    expect(NS_REPORTING in features, "the server advertises urn:xmpp:reporting:1")

    mallory.send_message(mto=a_jid, mbody="Cheap pills, click here", mtype="chat")
    m = await alice.next_message()
    sids = [s.get("id") for s in m.xml.findall("{%s}stanza-id" % NS_SID) if s.get("by") == a_jid]
    expect(m["body"] == "Cheap pills, click here" and len(sids) == 1, "alice gets the spam, with its stanza-id")

    r = await block_and_report(alice, m_jid, report_v1("urn:xmpp:reporting:spam", "Selling pills", sids, a_jid))
    expect(r["type"] == "result", "the block with a report succeeds")
    blocked = await alice["xep_0191"].get_blocked()
    expect(m_jid in {str(j) for j in blocked["blocklist"]["items"]}, "the blocklist lists mallory")

    m = await admin.next_message()
    check_report(m, args, "the administrator's report", a_jid, m_jid, "urn:xmpp:reporting:spam", "Selling pills",
                 ["Cheap pills, click here"])

    r = await block_and_report(alice, "eve@" + args.domain, report_v0("abuse", "Threats"))
    expect(r["type"] == "result", "the block with a legacy report succeeds")
    m = await admin.next_message()
    check_report(m, args, "the legacy report", a_jid, "eve@" + args.domain, "urn:xmpp:reporting:abuse", "Threats", [])

    mallory.send_message(mto=a_jid, mbody="still there?", mtype="chat")
    e = await asyncio.wait_for(mallory.errors.get(), TIMEOUT)
    expect(e["error"]["condition"] == "service-unavailable", "mallory's next message bounces")
    await asyncio.sleep(0.5)
    expect(alice.messages.empty(), "and alice does not get it")

    root = await Client(jid(args, root_nick), args.password, args).online()
    first = await root.next_message()
    second = await root.next_message()
    check_report(first, args, "the offline administrator's first report", a_jid, m_jid, "urn:xmpp:reporting:spam",
                 "Selling pills", ["Cheap pills, click here"])
    check_report(second, args, "and the second", a_jid, "eve@" + args.domain, "urn:xmpp:reporting:abuse", "Threats", [])

    for c in (admin, alice, mallory, root):
        await c.offline()


if __name__ == "__main__":
    run_scenarios(globals())
