// Builds the dashboard into OUT_DIR (the only argument): the page, its script and stylesheet
// under content-hashed names, the icon, the licenses of the bundled npm packages, and
// manifest.json, which build.rs turns into the table of files compiled into the binary.
//
//   OUT_DIR/index.html                  served at "/" (no-cache: it names the current assets)
//   OUT_DIR/licenses.txt                served at "/licenses.txt" (no-cache)
//   OUT_DIR/assets/main-HASH.js|.css    served at "/assets/…" (immutable: the name is the content)
//   OUT_DIR/assets/icon-HASH.svg
//   OUT_DIR/manifest.json               [{ url, file, immutable, sha256 }]
//
// Deterministic: the same sources and lockfile give the same bytes and names, wherever the
// checkout is.

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

// Named by a hash of their bytes (esbuild's own [hash] also depends on where the checkout is):
// the same sources give the same names on every machine, so an upgrade that leaves a file
// unchanged keeps it cached. The script does not refer to the stylesheet, so renaming is safe.
const hashedName = (file, bytes) => {
  const extension = path.extname(file);
  return path.join(outDir, 'assets', `${path.basename(file, extension)}-${sha256(bytes).slice(0, 12)}${extension}`);
};
const built = result.outputFiles.map((output) => {
  const file = hashedName(output.path, output.contents);
  writeFileSync(file, output.contents);
  return file;
});
const pick = (extension) => {
  const matches = built.filter((file) => file.endsWith(extension));
  if (matches.length !== 1) throw new Error(`expected one ${extension} output, got ${matches.length}`);
  return matches[0];
};
const script = pick('.js');
const stylesheet = pick('.css');

const iconBytes = readFileSync(path.join(here, 'src/icon.svg'));
const icon = hashedName('icon.svg', iconBytes);
writeFileSync(icon, iconBytes);

const relative = (file) => path.relative(outDir, file).split(path.sep).join('/');

// Relative references ("assets/…"), so the page also works under a reverse proxy's sub-path.
const placeholders = { 'main.js': script, 'main.css': stylesheet, 'icon.svg': icon };
let html = readFileSync(path.join(here, 'index.html'), 'utf8');
html = html.replace(/\{\{([a-z.]+)\}\}/g, (whole, name) => {
  if (!placeholders[name]) throw new Error(`index.html names an unknown asset ${whole}`);
  return relative(placeholders[name]);
});
writeFileSync(path.join(outDir, 'index.html'), html);

writeFileSync(path.join(outDir, 'licenses.txt'), licenses(result.metafile));

const files = [
  { url: '/', file: 'index.html', immutable: false },
  { url: '/licenses.txt', file: 'licenses.txt', immutable: false },
  ...[script, stylesheet, icon].map((file) => ({ url: `/${relative(file)}`, file: relative(file), immutable: true })),
].map((entry) => ({ ...entry, sha256: sha256(readFileSync(path.join(outDir, entry.file))) }));
writeFileSync(path.join(outDir, 'manifest.json'), `${JSON.stringify(files, null, 2)}\n`);

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
