// Browser test of samtal's built-in web client: Debian's Chromium driven
// by playwright-core. Two users log in to the converse.js page in two
// browser contexts, add each other, exchange plain messages, a file and
// OMEMO-encrypted messages (one of them while the recipient is offline,
// so that the test driver can check what the server stored), join a
// group chat when the server has one, and log in over BOSH.
//
// It talks to its driver (test/e2e/webclient_test.go) on stdin/stdout:
// "CHECK <what> <arg>" asks the driver to check the server's store and
// waits for "OK" or "FAIL <why>". Configuration comes from the
// environment: SAMTAL_URL (the page), SAMTAL_DOMAIN, SAMTAL_USERS
// ("alice:pw,bob:pw,carol:pw"), SAMTAL_MUC (the group chat service, or
// empty), SAMTAL_ARTIFACTS (where screenshots go).
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

const base = process.env.SAMTAL_URL;
const domain = process.env.SAMTAL_DOMAIN;
const muc = process.env.SAMTAL_MUC || '';
const artifacts = process.env.SAMTAL_ARTIFACTS || 'artifacts';
const users = Object.fromEntries(process.env.SAMTAL_USERS.split(',').map((u) => u.split(':')));
const origin = new URL(base).origin;
const wsOrigin = origin.replace(/^http/, 'ws');
mkdirSync(artifacts, { recursive: true });

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function check(what, arg) {
  console.log(`CHECK ${what} ${arg}`);
  const { value } = await lines.next();
  if (value !== 'OK') throw new Error(`server check ${what} failed: ${value}`);
}

// makePNG returns a PNG of random colour stripes: a real image that the
// page shows, different in every run.
function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c;
}

function makePNG(w, h) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const colours = randomBytes(3 * 8);
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + 3 * w);
    for (let x = 0; x < w; x++) colours.copy(row, 1 + 3 * x, 3 * Math.floor((x * 8) / w), 3 * Math.floor((x * 8) / w) + 3);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0)),
  ]);
}

let step = 0;
async function shot(page, name) {
  step++;
  await page.screenshot({ path: join(artifacts, `${String(step).padStart(2, '0')}-${name}.png`) });
}

function log(msg) {
  console.log(`# ${msg}`);
}

// Every request must stay on the server's own origin: the page's
// privacy starts with what it loads.
const foreign = [];
const cspViolations = [];
function watch(context, who) {
  context.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('blob:') && !u.startsWith('data:')) {
      foreign.push(`${who}: ${r.method()} ${u}`);
    }
  });
  context.on('page', (page) => watchPage(page, who));
}
function watchPage(page, who) {
  page.on('websocket', (ws) => {
    if (!ws.url().startsWith(wsOrigin + '/')) foreign.push(`${who}: WebSocket ${ws.url()}`);
  });
  page.on('console', (m) => {
    // The page's policy must allow all that the client needs.
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(`${who}: ${m.text().slice(0, 200)}`);
    if (m.type() === 'error' || /Content.Security.Policy/i.test(m.text())) {
      console.log(`# ${who} console ${m.type()}: ${m.text().slice(0, 300)}`);
    }
  });
  page.on('pageerror', (e) => console.log(`# ${who} page error: ${e.message}`));
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  // launch() gives the browser a fresh user data directory of its own.
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--host-resolver-rules=MAP ${domain} 127.0.0.1, MAP * ~NOTFOUND`,
  ],
});

async function open(who, url = base) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  watch(context, who);
  const page = await context.newPage();
  watchPage(page, who);
  await page.goto(url);
  return { context, page, who };
}

// loginIfAsked waits until the page shows the roster, logging in when it
// asks for credentials. A page that comes back may show the login form
// for a moment before converse.js resumes its stored session and takes
// it away again: a fill that misses the form is tried again.
async function loginIfAsked(u, name) {
  const { page } = u;
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (await page.locator('converse-roster').isVisible().catch(() => false)) return;
    const jid = page.locator('#converse-login-jid');
    if (await jid.isVisible().catch(() => false)) {
      try {
        await jid.fill(name, { timeout: 2000 });
        await page.locator('#converse-login-password').fill(users[name], { timeout: 2000 });
        await page.locator('converse-login-form [type=submit]').click({ timeout: 2000 });
      } catch (e) {
        log(`${u.who}: the login form went away (${e.message.split('\n')[0]})`);
      }
    }
    await page.waitForTimeout(250);
  }
  await page.locator('converse-roster').waitFor({ timeout: 1000 });
}

async function login(u, name) {
  const { page } = u;
  await page.locator('#converse-login-jid').fill(name);
  await page.locator('#converse-login-password').fill(users[name]);
  await shot(page, `${u.who}-login`);
  await page.locator('converse-login-form [type=submit]').click();
  await page.locator('converse-user-profile').waitFor({ timeout: 30000 });
  await page.locator('converse-roster').waitFor();
  await shot(page, `${u.who}-logged-in`);
}

async function addContact(u, jid) {
  const { page } = u;
  await page.locator('converse-roster .dropdown-toggle, #converse-roster converse-dropdown button').first().click();
  await page.locator('a.add-contact').click();
  const form = page.locator('form.add-xmpp-contact');
  await form.locator('input[name=jid]').fill(jid);
  await form.locator('input[name=name]').fill(jid.split('@')[0]);
  await shot(page, `${u.who}-add-contact`);
  await form.locator('[type=submit]').click();
}

async function acceptRequest(u, name) {
  const { page } = u;
  const req = page.locator('converse-roster .requesting-xmpp-contact', { hasText: name });
  await req.waitFor({ timeout: 30000 });
  await shot(page, `${u.who}-contact-request`);
  await req.locator('converse-dropdown .dropdown-toggle').click();
  await req.locator('.accept-xmpp-request').click();
  const modal = page.locator('converse-accept-contact-request-modal form');
  await modal.waitFor({ timeout: 10000 });
  await shot(page, `${u.who}-accept`);
  await modal.locator('[type=submit]').click();
}

async function openChat(u, name) {
  const { page } = u;
  await page.locator('converse-roster .list-item-link, converse-roster a.open-chat', { hasText: name }).first().click();
  const chat = page.locator(`converse-chat[jid="${name}@${domain}"]`);
  await chat.locator('textarea.chat-textarea').waitFor({ timeout: 30000 });
  return chat;
}

async function send(chat, text) {
  const ta = chat.locator('textarea.chat-textarea');
  await ta.fill(text);
  await ta.press('Enter');
}

async function expectMessage(u, chat, text) {
  await chat.locator('.chat-msg__text', { hasText: text }).first().waitFor({ timeout: 60000 });
  log(`${u.who} sees "${text}"`);
}

// OMEMO on or off in an open chat, by the toolbar's lock button, once
// converse.js has found that the contact has OMEMO devices (before that
// the button only explains why it cannot encrypt).
async function setOMEMO(chat, on) {
  const btn = chat.locator('converse-chat-toolbar .toggle-omemo');
  const icon = btn.locator('converse-icon');
  const deadline = Date.now() + 60000;
  const state = async () => {
    const title = (await btn.getAttribute('title').catch(() => '')) || '';
    const cls = (await icon.getAttribute('class').catch(() => '')) || '';
    return { supported: /plaintext|encrypted/.test(title), on: cls.split(/\s+/).includes('fa-lock') };
  };
  let clicked = false;
  for (;;) {
    const st = await state();
    if (st.supported && st.on === on) return;
    if (Date.now() > deadline) throw new Error(`OMEMO did not turn ${on ? 'on' : 'off'}: ${JSON.stringify(st)}`);
    if (st.supported && !clicked) {
      await btn.click();
      clicked = true;
    }
    await chat.page().waitForTimeout(250);
  }
}

try {
  const alice = await open('alice');
  await shot(alice.page, 'login-page');
  await login(alice, 'alice');
  const bob = await open('bob');
  await login(bob, 'bob');

  // Both have made their OMEMO keys and published their devices, so
  // that each finds the other's when a chat opens.
  await check('omemo-ready', 'alice,bob');

  // Contacts, both ways.
  await addContact(alice, `bob@${domain}`);
  await acceptRequest(bob, 'alice');
  await alice.page.locator('converse-roster .list-item-link', { hasText: 'bob' }).waitFor({ timeout: 30000 });
  await shot(alice.page, 'alice-roster');

  // Plain messages.
  const aliceChat = await openChat(alice, 'bob');
  await setOMEMO(aliceChat, false);
  await send(aliceChat, 'hello bob, in plain text');
  const bobChat = await openChat(bob, 'alice');
  await setOMEMO(bobChat, false);
  await expectMessage(bob, bobChat, 'hello bob, in plain text');
  await send(bobChat, 'hello alice, in plain text');
  await expectMessage(alice, aliceChat, 'hello alice, in plain text');
  await shot(bob.page, 'bob-plain');

  // A file: alice uploads it, bob's page shows it from the server and
  // downloads it byte for byte.
  const payload = makePNG(96, 64);
  const sha = createHash('sha256').update(payload).digest('hex');
  await aliceChat.locator('input.fileupload').setInputFiles({ name: 'picture.png', mimeType: 'image/png', buffer: payload });
  const img = bobChat.locator(`img[src^="${origin}/upload/"]`).first();
  await img.waitFor({ timeout: 60000 });
  const src = await img.getAttribute('src');
  const got = await bob.page.evaluate(async (u) => {
    const r = await fetch(u);
    const b = new Uint8Array(await r.arrayBuffer());
    const h = new Uint8Array(await crypto.subtle.digest('SHA-256', b));
    return { status: r.status, type: r.headers.get('content-type'), sha: [...h].map((x) => x.toString(16).padStart(2, '0')).join('') };
  }, src);
  if (got.status !== 200 || got.sha !== sha) throw new Error(`download of ${src}: ${JSON.stringify(got)}, want sha ${sha}`);
  log(`bob downloaded the upload (${got.type})`);
  await check('upload', new URL(src).pathname.split('/')[2]);
  await shot(bob.page, 'bob-upload');

  // OMEMO, both ways, online.
  await setOMEMO(aliceChat, true);
  await setOMEMO(bobChat, true);
  await send(aliceChat, 'a secret for bob');
  await expectMessage(bob, bobChat, 'a secret for bob');
  await send(bobChat, 'a secret for alice');
  await expectMessage(alice, aliceChat, 'a secret for alice');
  await shot(alice.page, 'alice-omemo');

  // OMEMO to bob while he is offline: the server stores the message
  // until he comes back, and it must hold only the encrypted payload.
  // Bob closes his page and comes back in the same browser profile, so
  // that he keeps his OMEMO device and its keys.
  await bob.page.close();
  await check('sessions', '1');
  const secret = `offline secret ${randomBytes(6).toString('hex')}`;
  await send(aliceChat, secret);
  await aliceChat.locator('.chat-msg__text', { hasText: secret }).waitFor();
  await check('offline-encrypted', secret);
  const bob2 = { context: bob.context, page: await bob.context.newPage(), who: 'bob-again' };
  await bob2.page.goto(base);
  await loginIfAsked(bob2, 'bob');
  const bobChat2 = await openChat(bob2, 'alice');
  await expectMessage(bob2, bobChat2, secret);
  await shot(bob2.page, 'bob-omemo-offline');
  await check('offline-delivered', secret);

  // Group chat, when the server has a group chat service.
  if (!muc) {
    console.log('SKIP muc: the server advertises no conference service in disco');
  } else {
    const room = `room-${randomBytes(3).toString('hex')}@${muc}`;
    for (const [u, nick] of [[alice, 'alice'], [bob2, 'bob']]) {
      await u.page.locator('#chatrooms converse-dropdown button, converse-rooms-list .dropdown-toggle').first().click();
      await u.page.locator('a.show-add-muc-modal').click();
      const form = u.page.locator('form.add-chatroom');
      await form.locator('input[name=chatroom]').fill(room);
      const nickInput = form.locator('input[name=nickname]');
      if (await nickInput.isVisible().catch(() => false)) await nickInput.fill(nick);
      await form.locator('[type=submit]').click();
      await u.page.locator(`converse-muc[jid="${room}"] textarea.chat-textarea`).waitFor({ timeout: 30000 });
    }
    const aliceRoom = alice.page.locator(`converse-muc[jid="${room}"]`);
    const bobRoom = bob2.page.locator(`converse-muc[jid="${room}"]`);
    await send(aliceRoom, 'hello room from alice');
    await expectMessage(bob2, bobRoom, 'hello room from alice');
    await send(bobRoom, 'hello room from bob');
    await expectMessage(alice, aliceRoom, 'hello room from bob');
    await shot(bob2.page, 'bob-muc');
  }

  // BOSH: the same page over /http-bind.
  const carol = await open('carol-bosh', base + '?transport=bosh');
  await login(carol, 'carol');
  await shot(carol.page, 'carol-bosh');
  log('carol logged in over BOSH');

  if (foreign.length) throw new Error(`requests left the server's origin:\n${foreign.join('\n')}`);
  if (cspViolations.length) throw new Error(`the page's Content-Security-Policy blocked:\n${cspViolations.join('\n')}`);
  console.log('PASS webclient');
} catch (e) {
  let i = 0;
  for (const c of browser.contexts()) {
    for (const p of c.pages()) await p.screenshot({ path: join(artifacts, `failure-${step}-${i++}.png`) }).catch(() => {});
  }
  console.log(`FAIL ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  process.exit(process.exitCode || 0);
}
