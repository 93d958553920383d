// Builds the dashboard into OUT_DIR (the only argument): the page, its modules and stylesheet
// under content-hashed names, the icon, the licenses of the bundled npm packages, and
// manifest.json, which build.rs turns into the table of files compiled into the binary.
//
//   OUT_DIR/index.html                  served at "/" (no-cache: it names the current assets)
//   OUT_DIR/licenses.txt                served at "/licenses.txt" (no-cache)
//   OUT_DIR/assets/main-HASH.js         the page's code; preloads chunk-HASH.js (shared code)
//   OUT_DIR/assets/charts-HASH.js       ECharts and the chart options, imported once the cards
//                                       are on screen (93 % of the weight, slow to run on phones)
//   OUT_DIR/assets/main-HASH.css, icon-HASH.svg
//   OUT_DIR/manifest.json               [{ url, file, immutable, sha256 }]
//
// Everything under assets/ is immutable (the name is the content). Deterministic: the same
// sources and lockfile give the same bytes and names, wherever the checkout is.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node build.mjs OUT_DIR');
  process.exit(2);
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

rmSync(outDir, { recursive: true, force: true });
mkdirSync(path.join(outDir, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: [path.join(here, 'src/main.js')],
  bundle: true,
  // main.js loads charts.js (and ECharts with it) by a dynamic import: a module of its own.
  splitting: true,
  minify: true,
  format: 'esm',
  // Browsers from 2020 on, including older tablets on the LAN (ECharts needs no newer).
  target: ['chrome80', 'firefox78', 'safari14.1'],
  outdir: path.join(outDir, 'assets'),
  write: false,
  metafile: true,
  legalComments: 'none', // the licenses are served in full at licenses.txt instead
  logLevel: 'warning',
  charset: 'utf8',
});

const built = renameByContent(result.outputFiles);
const pick = (predicate, what) => {
  const matches = built.filter(predicate);
  if (matches.length !== 1) throw new Error(`expected one ${what}, got ${matches.length}`);
  return matches[0];
};
const script = pick((file) => /\/main-[0-9a-f]+\.js$/.test(file), 'main script');
const stylesheet = pick((file) => file.endsWith('.css'), 'stylesheet');
const modules = built.filter((file) => file.endsWith('.js') && file !== script);

const iconBytes = readFileSync(path.join(here, 'src/icon.svg'));
const icon = path.join(outDir, 'assets', hashedName('icon.svg', iconBytes));
writeFileSync(icon, iconBytes);

const relative = (file) => path.relative(outDir, file).split(path.sep).join('/');

// Relative references ("assets/…"), so the page also works under a reverse proxy's sub-path.
// The shared chunk is preloaded (main.js needs it at once). The charts module is not: preloading
// it made the cards appear later on a slowed CPU (www/README.md), and fetched when main.js asks
// for it, it costs one round trip on the LAN.
const placeholders = {
  'main.js': relative(script),
  'main.css': relative(stylesheet),
  'icon.svg': relative(icon),
  modulepreload: modules.filter((file) => !path.basename(file).startsWith('charts-')).map((file) => `<link rel="modulepreload" href="${relative(file)}">`).join('\n'),
};
let html = readFileSync(path.join(here, 'index.html'), 'utf8');
html = html.replace(/\{\{([a-z.]+)\}\}/g, (whole, name) => {
  if (placeholders[name] === undefined) throw new Error(`index.html names an unknown asset ${whole}`);
  return placeholders[name];
});
writeFileSync(path.join(outDir, 'index.html'), html);

writeFileSync(path.join(outDir, 'licenses.txt'), licenses(result.metafile));

const files = [
  { url: '/', file: 'index.html', immutable: false },
  { url: '/licenses.txt', file: 'licenses.txt', immutable: false },
  ...[script, ...modules, stylesheet, icon].map((file) => ({ url: `/${relative(file)}`, file: relative(file), immutable: true })),
].map((entry) => ({ ...entry, sha256: sha256(readFileSync(path.join(outDir, entry.file))) }));
writeFileSync(path.join(outDir, 'manifest.json'), `${JSON.stringify(files, null, 2)}\n`);

/** `name` with a hash of `bytes` before its extension: "icon.svg" → "icon-92952ab6608f.svg". */
function hashedName(name, bytes) {
  const extension = path.extname(name);
  return `${path.basename(name, extension)}-${sha256(bytes).slice(0, 12)}${extension}`;
}

/**
 * Write esbuild's outputs under names made of a hash of their bytes, and return their paths.
 * esbuild's own [hash] also depends on where the checkout is; these are the same on every
 * machine, so an upgrade that leaves a file unchanged keeps it cached. A module that imports
 * another names it, so the imported one is renamed first and the name inside the importer
 * rewritten before the importer is hashed (esbuild's chunks form no cycles).
 */
function renameByContent(outputs) {
  const pending = new Map(outputs.map((output) => [path.basename(output.path), output.text]));
  const renamed = new Map(); // esbuild's name → ours
  const written = [];
  while (pending.size) {
    const ready = [...pending].find(([, text]) => [...pending.keys()].every((other) => !text.includes(other)));
    if (!ready) throw new Error(`esbuild's modules import each other in a cycle: ${[...pending.keys()]}`);
    const [name, original] = ready;
    let text = original;
    for (const [from, to] of renamed) text = text.split(from).join(to);
    const stem = name.replace(/-[A-Z0-9]{8}(\.[a-z]+)$/, '$1');
    const target = hashedName(stem, text);
    writeFileSync(path.join(outDir, 'assets', target), text);
    renamed.set(name, target);
    written.push(path.join(outDir, 'assets', target));
    pending.delete(name);
  }
  return written;
}

/** The license texts of every npm package that put bytes into the bundle. */
function licenses(metafile) {
  const packages = new Map();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input.split(path.sep).join('/'));
      if (match && bytesInOutput > 0) packages.set(match[1], path.resolve(match[1]));
    }
  }
  const sections = [...packages.values()].sort().map((root) => {
    const meta = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    const texts = ['LICENSE', 'LICENSE.txt', 'LICENSE.md', 'NOTICE']
      .map((name) => path.join(root, name))
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file, 'utf8').trim());
    return [`${meta.name} ${meta.version} (${meta.license})`, '='.repeat(72), ...texts].join('\n\n');
  });
  return [
    'NetTraffic-Sentinel dashboard: third-party packages bundled into the page',
    '',
    ...sections,
    '',
  ].join('\n');
}
