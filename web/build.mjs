// Copies the parts of converse.js that the web client serves into the
// directory the samtal binary embeds (internal/webclient/files/dist). Run
// after `npm ci`; scripts/webclient.sh does both when needed.
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'node_modules', 'converse.js');
const out = join(here, '..', 'internal', 'webclient', 'files', 'dist');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// converse.js itself (MPL-2.0), its OMEMO library (libomemo, GPL-3.0) with
// the curve25519 WebAssembly module it loads, and the assets it asks for:
// emoji data, images, sounds, fonts and translations. Source maps stay out.
const files = [
  'converse.min.js', 'converse.min.css', 'libomemo.esm.min.js',
  'curve25519_compiled.wasm', 'emoji.json',
];
for (const f of files) {
  cpSync(join(src, 'dist', f), join(out, f));
}
for (const d of ['images', 'sounds', 'webfonts']) {
  cpSync(join(src, 'dist', d), join(out, d), { recursive: true });
}
const locales = join(src, 'dist', 'chunkjs', 'locales');
mkdirSync(join(out, 'chunkjs', 'locales'), { recursive: true });
for (const f of readdirSync(locales)) {
  if (f.endsWith('.js')) {
    cpSync(join(locales, f), join(out, 'chunkjs', 'locales', f));
  }
}
cpSync(join(src, 'LICENSE'), join(out, 'LICENSE.converse.txt'));
cpSync(join(src, 'COPYRIGHT'), join(out, 'COPYRIGHT.converse.txt'));

// The stamp records which lock file the files came from, so that the
// build step runs again only when the lock file changes.
const lock = readFileSync(join(here, 'package-lock.json'));
writeFileSync(join(out, '.stamp'), createHash('sha256').update(lock).digest('hex') + '\n');
console.log(`web client: converse.js copied to ${out}`);
