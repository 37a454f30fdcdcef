// samtal's web client: converse.js set up for this server. Everything it
// loads comes from this origin; the page's Content-Security-Policy
// enforces it.
const meta = (name) => document.querySelector(`meta[name="samtal-${name}"]`).content;

const domain = meta('domain');
const page = new URL('.', location.href);
const ws = new URL(meta('websocket'), page);
ws.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
const bosh = new URL(meta('bosh'), page);
// ?transport=bosh uses BOSH (XEP-0206) instead of the WebSocket, for
// networks that break WebSockets.
const useBOSH = new URLSearchParams(location.search).get('transport') === 'bosh';

window.converse.plugins.add('samtal', {
  initialize() {
    const { api } = this._converse;
    // The stock footer of the full-screen login page shows the sponsors'
    // logos from the converse.js web site: a privacy-first page loads
    // nothing from another origin, so it has no such footer.
    api.elements.define('converse-footer', class extends HTMLElement {});

    // An OMEMO message can reach the client twice: from offline storage
    // and from the archive query converse.js makes after it reconnects
    // (XEP-0313 "User Archives" lets a server deliver both). Its keys
    // decrypt it once; converse.js skips the other copy's repeated
    // counter silently, keeping only its fallback body. When that copy is
    // parsed before the decrypted one is stored, it would show as a new
    // message saying the client cannot read OMEMO. Such a copy is never
    // news: turn it into a parse error, which converse.js drops. The
    // decrypted copy is or will be there; a message not encrypted for
    // this device carries an error of its own and still shows. (This runs
    // after the OMEMO plugin's own parseMessage listener.)
    const dropRepeatedCopy = (_stanza, attrs) =>
      attrs && attrs.is_encrypted && attrs.plaintext === undefined && !attrs.is_error && !attrs.is_only_key
        ? new Error(`samtal: a second copy of OMEMO message ${attrs.msgid} was dropped`)
        : attrs;
    api.listen.on('parseMessage', dropRepeatedCopy);
    api.listen.on('parseMUCMessage', dropRepeatedCopy);
  },
});

window.converse.initialize({
  whitelisted_plugins: ['samtal'],
  assets_path: new URL('dist', page).pathname,
  view_mode: 'fullscreen',
  websocket_url: useBOSH ? undefined : ws.href,
  bosh_service_url: useBOSH ? bosh.href : undefined,
  discover_connection_methods: false,
  default_domain: domain,
  locked_domain: domain,
  allow_registration: false,
  auto_reconnect: true,
  // OMEMO (XEP-0384) on by default; converse.js switches it off when
  // the cache is cleared on logout, so the cache stays.
  omemo_default: true,
  clear_cache_on_logout: false,
  // Nothing from another origin: no emoji images, no list of providers
  // in the contact form, no HEAD requests for links in messages, and
  // media shown in place only from this server (its uploads); links to
  // elsewhere stay links.
  use_system_emojis: true,
  autocomplete_providers_url: '',
  // The group chat search goes to this server, not to a public search
  // service elsewhere (which would learn what users look for).
  muc_search_service: domain,
  fetch_url_headers: false,
  allowed_image_domains: [location.hostname],
  allowed_audio_domains: [location.hostname],
  allowed_video_domains: [location.hostname],
  show_background: false,
  loglevel: 'warn',
});
