#!/usr/bin/python3
"""Service administration (XEP-0133) driven by slixmpp's XEP-0050 and
XEP-0133 plugins, as an administrator's XMPP client runs the commands.

    slix_admin.py admin --port 5222 --tls-port 5223 --domain localhost --ca CERT \
        --password PW --users ADMIN USER NEWBIE
"""
import asyncio

from slix import TIMEOUT, Client, expect, jid, run_scenarios

FORM_TYPE = "http://jabber.org/protocol/admin"
PLUGINS = ("xep_0004", "xep_0050", "xep_0133")


async def command(c, name, values=None):
    """Run an XEP-0133 command with slixmpp's client side of XEP-0050:
    execute it and, when it shows a form, fill it in with values and
    complete it. Returns the last response."""
    done = asyncio.get_event_loop().create_future()

    def finish(iq, _session):
        if not done.done():
            done.set_result(iq)

    def fill(iq, session):
        if iq["type"] == "error" or iq["command"]["status"] != "executing" or values is None:
            finish(iq, session)
            return
        f = c["xep_0004"].make_form(ftype="submit")
        f.add_field(var="FORM_TYPE", ftype="hidden", value=FORM_TYPE)
        for var, v in values.items():
            if isinstance(v, list):
                f.add_field(var=var, ftype="jid-multi", value=v)
            else:
                f.add_field(var=var, value=v)
        session["payload"] = f
        session["next"] = finish
        c["xep_0050"].complete_command(session)

    getattr(c["xep_0133"], name.replace("-", "_"))(session={"next": fill, "error": finish})
    return await asyncio.wait_for(done, TIMEOUT)


async def session_ends(c, action):
    """Run action (a coroutine) and wait for c's stream to end: the
    action's result and the stream error conditions c got."""
    errors = []
    c.add_event_handler("stream_error", lambda e: errors.append(e["condition"]))
    gone = asyncio.ensure_future(c.wait_until("disconnected", TIMEOUT))
    r = await action
    await gone
    return r, errors


def condition(iq):
    return iq["error"]["condition"] if iq["type"] == "error" else None


def results(iq):
    return iq["command"]["form"].get_values()


async def login_failure(args, user, password):
    """Log in: None when it works, else the SASL failure conditions of
    the mechanisms slixmpp tried, in order."""
    c = Client(jid(args, user), password, args)
    conditions = []
    c.add_event_handler("failed_auth", lambda f: conditions.append(f["condition"]))
    try:
        await c.online()
    except AssertionError:
        await c.offline()
        return conditions
    await c.offline()
    return None


async def login_fails(args, user, password):
    return await login_failure(args, user, password) is not None


async def scenario_admin(args):
    """The administrator adds an account, which then logs in; counts and
    lists who is online; announces to everyone online; changes a
    password; ends a user's sessions; disables the account, whose session
    ends and whose password is refused with account-disabled, and enables
    it again; deletes the account, whose session ends and which can no
    longer log in. Another user can run none of it."""
    a_nick, b_nick, n_nick = args.users[:3]
    admin = await Client(jid(args, a_nick), args.password, args, plugins=PLUGINS).online()
    bob = await Client(jid(args, b_nick), args.password, args, plugins=PLUGINS).online()

    expect(condition(await command(bob, "get-online-users-num")) == "forbidden",
           "a user who is not an administrator is refused (forbidden)")
    items = await admin["xep_0050"].get_commands(jid=args.domain)
    nodes = {i[1] for i in items["disco_items"]["items"]}
    expect({FORM_TYPE + "#add-user", FORM_TYPE + "#announce", FORM_TYPE + "#delete-user"} <= nodes,
           "the administrator finds the commands among the server's")

    r = await command(admin, "add-user", {"accountjid": jid(args, n_nick), "password": "first pw", "password-verify": "first pw"})
    expect(r["command"]["status"] == "completed", "add-user creates an account")
    r = await command(admin, "add-user", {"accountjid": jid(args, n_nick), "password": "x", "password-verify": "x"})
    expect(condition(r) == "conflict", "adding it again is a conflict")
    newbie = await Client(jid(args, n_nick), "first pw", args).online()
    expect(True, "the new account logs in")

    r = await command(admin, "get-online-users-num")
    expect(results(r)["onlineusersnum"] == "3", f"get-online-users-num counts 3 ({results(r)})")
    r = await command(admin, "get-online-users-list", {"max_items": "none"})
    online = results(r)["onlineuserjids"]
    expect(sorted(str(j) for j in online) == sorted(jid(args, u) for u in (a_nick, b_nick, n_nick)),
           "get-online-users-list lists them")
    r = await command(admin, "get-registered-users-num")
    expect(int(results(r)["registeredusersnum"]) >= 3, "get-registered-users-num counts the accounts")

    await command(admin, "announce", {"announcement": "Maintenance at noon"})
    for c in (bob, newbie):
        m = await c.next_message()
        expect(m["body"] == "Maintenance at noon" and str(m["from"]) == args.domain,
               f"{c.boundjid.bare} gets the announcement from the server")

    await command(admin, "change-user-password", {"accountjid": jid(args, n_nick), "password": "second pw"})
    expect(await login_fails(args, n_nick, "first pw"), "after change-user-password the old password fails")
    again = await Client(jid(args, n_nick), "second pw", args).online()
    expect(True, "and the new one works")
    await again.offline()

    _, errors = await session_ends(bob, command(admin, "end-user-session", {"accountjids": [jid(args, b_nick)]}))
    expect(errors == ["reset"], f"end-user-session ends the user's session with reset ({errors})")

    await newbie.update_roster(jid(args, b_nick), name="Bob")
    r, errors = await session_ends(newbie, command(admin, "disable-user", {"accountjids": [jid(args, n_nick)]}))
    expect(r["command"]["status"] == "completed", "disable-user disables the account")
    expect(errors == ["not-authorized"], f"its session ends with not-authorized ({errors})")
    r = await command(admin, "get-disabled-users-list", {"max_items": "none"})
    listed = [str(j) for j in results(r)["disableduserjids"]]
    expect(listed == [jid(args, n_nick)], f"get-disabled-users-list lists it ({listed})")
    r = await command(admin, "get-disabled-users-num")
    expect(results(r)["disabledusersnum"] == "1", "get-disabled-users-num counts it")
    conditions = await login_failure(args, n_nick, "second pw")
    expect(conditions and set(conditions) == {"account-disabled"},
           f"its right password is refused with account-disabled ({conditions})")
    conditions = await login_failure(args, n_nick, "a wrong pw")
    expect(conditions and "account-disabled" not in conditions,
           f"a wrong password learns nothing of it ({conditions})")
    r = await command(admin, "reenable-user", {"accountjids": [jid(args, n_nick)]})
    expect(r["command"]["status"] == "completed", "reenable-user enables it again")
    newbie = await Client(jid(args, n_nick), "second pw", args).online()
    expect(newbie.client_roster.has_jid(jid(args, b_nick)) and newbie.client_roster[jid(args, b_nick)]["name"] == "Bob",
           "and it logs in, its roster as it was")

    r, errors = await session_ends(newbie, command(admin, "delete-user", {"accountjids": [jid(args, n_nick)]}))
    expect(r["command"]["status"] == "completed", "delete-user deletes the account")
    expect(errors == ["not-authorized"], f"its session ends with not-authorized ({errors})")
    expect(await login_fails(args, n_nick, "second pw"), "and it can no longer log in")
    await admin.offline()


if __name__ == "__main__":
    run_scenarios(globals())
