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
