// A line-oriented driver around irc-framework, the IRC client library
// behind KiwiIRC, for samtal's black-box tests: it reads JSON commands on
// stdin and writes what its clients see as JSON lines on stdout.
//
//   {"client": "a", "op": "connect", "options": {...irc-framework options}}
//   {"client": "a", "op": "call", "method": "join", "args": ["#room"]}
//   {"client": "a", "op": "raw", "line": "CHATHISTORY LATEST #room * 10"}
//
// Output: {"client": "a", "event": "privmsg", "data": {...}}; server
// lines also come as {"event": "raw", "data": {"line": ...}}.
'use strict';
const fs = require('fs');
const readline = require('readline');
const IRC = require('irc-framework');

const clients = {};
const events = ['registered', 'join', 'part', 'kick', 'quit', 'privmsg', 'notice', 'action', 'topic',
    'mode', 'away', 'back', 'nick', 'invite', 'sasl failed', 'loggedin', 'userlist', 'close', 'socket close',
    'irc error', 'tagmsg', 'users online', 'users offline', 'monitorList'];

function out(client, event, data) {
    process.stdout.write(JSON.stringify({ client, event, data }) + '\n');
}

function connect(name, options) {
    const c = new IRC.Client();
    clients[name] = c;
    for (const e of events) {
        c.on(e, (data) => out(name, e, data));
    }
    c.on('raw', (ev) => {
        if (ev.from_server) {
            out(name, 'raw', { line: ev.line });
        }
    });
    if (options.client_certificate) {
        options.client_certificate = {
            private_key: fs.readFileSync(options.client_certificate.private_key, 'utf8'),
            certificate: fs.readFileSync(options.client_certificate.certificate, 'utf8'),
        };
    }
    for (const cap of options.caps || []) {
        c.requestCap(cap);
    }
    options.auto_reconnect = false;
    c.connect(options);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
    let cmd;
    try {
        cmd = JSON.parse(line);
    } catch (e) {
        out('', 'driver error', { error: String(e) });
        return;
    }
    try {
        switch (cmd.op) {
        case 'connect':
            connect(cmd.client, cmd.options);
            break;
        case 'call':
            clients[cmd.client][cmd.method](...(cmd.args || []));
            break;
        case 'raw':
            clients[cmd.client].raw(cmd.line);
            break;
        default:
            out(cmd.client, 'driver error', { error: 'unknown op ' + cmd.op });
        }
    } catch (e) {
        out(cmd.client, 'driver error', { error: String(e) });
    }
});
rl.on('close', () => process.exit(0));
