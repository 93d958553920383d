// The dashboard of a monitor with GEOIP_DB (started by tests/web/dashboard.rs on an imported
// history, with GeoLite2 City 2018 and a test ASN file): each address's country badge and network
// in the top lists, and the By-network and By-country panels of the range, row by row, against
// /api/top_ips and /api/networks fetched here; both languages; a phone's width.
//
// Environment: BASE_URL (the monitor's page), SCREENSHOTS (a directory), LIVE_IFACE (an
// interface with live traffic, where the imported history has none). Prints "ok - …" /
// "not ok - …" per check; exits 1 on a failure.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { check, finish } from './checks.mjs';
import { apiOkAt, waitForServerAt } from './server.mjs';
import { expectedPlace, expectedPlaceRows, flag, readAddressRows, readPlaceRows } from './places.mjs';

const BASE = process.env.BASE_URL || 'http://127.0.0.1:8080/';
const SCREENSHOTS = process.env.SCREENSHOTS || path.join(tmpdir(), 'nts-dashboard-screenshots');
const base = new URL(BASE);
const LIMIT = 10; // the page's PLACES_LIMIT
const LIVE_IFACE = process.env.LIVE_IFACE || 'vb';

const apiOk = (pathAndQuery) => apiOkAt(BASE, pathAndQuery);

const waitForServer = () => waitForServerAt(BASE);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const problems = [];
const foreign = [];

async function open({ width = 1440, height = 900, scale = 1, lang } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: scale });
  if (lang) await context.addInitScript((l) => localStorage.setItem('nts.lang', l), lang);
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('request', (req) => {
    if (new URL(req.url()).host !== base.host) foreign.push(req.url());
  });
  return { context, page };
}

/** Load the page and wait until the range's query and both panels are drawn. */
async function load(page) {
  await page.goto(BASE);
  await page.waitForFunction(() => window.NTS?.state.data.query, null, { timeout: 15_000 });
  await placesShown(page, await page.evaluate(() => window.NTS.state.data.query.request));
}

/** Wait until the query and both panels show the range `want` ({start, end}). */
function placesShown(page, want) {
  return page.waitForFunction((w) => {
    const { query, places } = window.NTS.state.data;
    const is = (request) => request.start === w.start && request.end === w.end;
    return query && places && is(query.request) && is(places.request)
      && !document.querySelector('#places').hidden && document.querySelector('#by-country li');
  }, want, { timeout: 15_000 });
}

/**
 * Click a quick range and wait until the query and both panels show it; resolves to {start, end}.
 * The button writes its range into the form before it asks (the panels may still show the one
 * before until the answers arrive).
 */
async function showRange(page, key) {
  await page.click(`[data-range="${key}"]`);
  const want = { start: await page.inputValue('#start'), end: await page.inputValue('#end') };
  await placesShown(page, want);
  return want;
}

/** The range the page shows now. */
const shownRange = (page) => page.evaluate(() => window.NTS.state.data.places.request);

/** Both panels against /api/networks for `range` (and `limit`, `iface`) in `lang`. */
async function assertPanels(page, range, lang, { limit = LIMIT, iface = '' } = {}) {
  const scope = iface ? `&iface=${iface}` : '';
  for (const by of ['asn', 'country']) {
    const answer = await apiOk(`networks?start=${range.start}&end=${range.end}&by=${by}&limit=${limit}${scope}`);
    const shown = await readPlaceRows(page, `#by-${by}`);
    assert.deepEqual(shown, expectedPlaceRows(answer, lang), `${by}, ${range.start}…${range.end}`);
    // The rows add up to the total the panel shows last.
    const parts = shown.slice(0, -1).reduce((sum, row) => sum + row.exact, 0);
    assert.equal(parts, shown[shown.length - 1].exact, `${by}: the rows add up to the total`);
    seen.push(...shown.map((row) => `${by}:${row.kind}`));
  }
}

/** Run `assertion` until it passes, for at most 5 s (then its last failure is thrown). */
async function eventually(assertion) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Every kind of row the panels showed over the checks (each must have been seen once). */
const seen = [];

await waitForServer();
const summary = await apiOk('summary');
const { context: deskContext, page } = await open();

await check('the flag of a code is its two regional indicator symbols', async () => {
  assert.equal(flag('US'), '\u{1F1FA}\u{1F1F8}');
  assert.equal(flag('DE'), '\u{1F1E9}\u{1F1EA}');
});

await check('the top lists name each address\'s country and network as /api/top_ips does', async () => {
  await load(page);
  const today = (await apiOk('top_ips')).top_ips;
  assert.ok(today.some((entry) => entry.country) && today.some((entry) => entry.org), JSON.stringify(today));
  // Reverse-DNS names arrive while this runs (the page's own requests queue them): they are
  // checked on their own below, so here both sides leave them out.
  const withoutName = (e) => ({ ...e, name: undefined });
  const withoutHost = (rows) => rows.map((r) => ({ ip: r.ip, place: r.place && r.place.badge === null && r.place.network === null ? null : r.place && { ...r.place, host: null } }));
  assert.deepEqual(
    withoutHost(await readAddressRows(page, '#top-today')),
    withoutHost(today.map((e) => ({ ip: e.ip, place: expectedPlace(withoutName(e)) }))),
  );
  const range = await shownRange(page);
  const top = (await apiOk(`top_ips?start=${range.start}&end=${range.end}&limit=10`)).top_ips;
  assert.deepEqual(
    withoutHost(await readAddressRows(page, '#top-range')),
    withoutHost(top.map((e) => ({ ip: e.ip, place: expectedPlace(withoutName(e)) }))),
  );
  // The badge names the country on hover; the flag is text, no image is fetched.
  const titles = await page.locator('#top-today .cc').evaluateAll((items) => items.map((item) => item.title));
  assert.ok(titles.every(Boolean), `${titles}`);
  assert.equal(await page.locator('#top-today .place img').count(), 0);
});

await check('reverse-DNS names (REVERSE_DNS, a DNS server in the namespace) appear in the lists as /api/top_ips gives them', async () => {
  // The first answers queue the lookups; names come with a later one.
  const deadline = Date.now() + 30_000;
  let today = [];
  for (;;) {
    today = (await apiOk('top_ips')).top_ips;
    if (today.length && today.every((entry) => entry.name)) break;
    assert.ok(Date.now() < deadline, `no names within 30 s: ${JSON.stringify(today)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await load(page);
  const rows = await readAddressRows(page, '#top-today');
  assert.deepEqual(rows, today.map((e) => ({ ip: e.ip, place: expectedPlace(e) })));
  // The test's DNS server names every IPv4 address ip-A-B-C-D.hosts.example.net.
  for (const row of rows.filter((r) => !r.ip.includes(':'))) {
    assert.equal(row.place.host, `ip-${row.ip.replaceAll('.', '-')}.hosts.example.net`);
  }
});

for (const key of ['today', 'last30', 'thisYear', 'lastMonth']) {
  await check(`range ${key}: By network and By country equal /api/networks, rows add up to the total`, async () => {
    const range = await showRange(page, key);
    const query = await page.evaluate(() => window.NTS.state.data.query.request);
    assert.deepEqual([range.start, range.end], [query.start, query.end]);
    await assertPanels(page, range, 'zh');
    for (const field of await page.locator('#places [data-field="range"]').allTextContents()) {
      assert.equal(field, range.start === range.end ? range.start : `${range.start} → ${range.end}`);
    }
  });
}

await check('more groups than the list holds: a `more` row with their count (the page asks limit=1)', async () => {
  const { context, page: narrow } = await open();
  // The server's own answer for limit=1: the page's request is rewritten, nothing is made up.
  await narrow.route('**/api/networks?*', (route) => {
    const url = new URL(route.request().url());
    url.searchParams.set('limit', '1');
    route.continue({ url: url.href });
  });
  await load(narrow);
  const range = await showRange(narrow, 'thisYear');
  await assertPanels(narrow, range, 'zh', { limit: 1 });
  await context.close();
});

await check('the rest of the total is shown: more, unknown and untracked rows, and the total', async () => {
  // The test's ASN file covers every IPv4 address: only countries have unknown addresses.
  const kinds = ['group', 'more', 'untracked', 'total'].flatMap((kind) => [`asn:${kind}`, `country:${kind}`]);
  for (const kind of [...kinds, 'country:unknown']) {
    assert.ok(seen.includes(kind), `a ${kind} row was checked (seen: ${[...new Set(seen)].join(', ')})`);
  }
  console.log(`# row kinds checked: ${[...new Set(seen)].sort().join(', ')}`);
});

await check(`the panels follow the interface selector (${LIVE_IFACE}: live traffic only)`, async () => {
  assert.ok(summary.interfaces.includes(LIVE_IFACE), JSON.stringify(summary.interfaces));
  const name = LIVE_IFACE;
  const today = (await showRange(page, 'today')).start;
  const everything = await readPlaceRows(page, '#by-country');
  const asked = page.waitForResponse((res) => res.url().includes('/api/networks') && new URL(res.url()).searchParams.get('iface') === name);
  await page.selectOption('#iface', name);
  await asked;
  // Both answers arrive and are drawn: the panels then equal the API's for that interface.
  await eventually(() => assertPanels(page, { start: today, end: today }, 'zh', { iface: name }));
  const scoped = await readPlaceRows(page, '#by-country');
  assert.ok(scoped.some((row) => row.kind === 'group'), JSON.stringify(scoped));
  assert.notDeepEqual(scoped, everything);
  await page.selectOption('#iface', '');
  await eventually(() => assertPanels(page, { start: today, end: today }, 'zh'));
});

await check('Chinese and English headings and row labels', async () => {
  const range = await showRange(page, 'last30');
  assert.deepEqual(await page.locator('#places h2').allTextContents(), ['按网络', '按国家/地区']);
  await assertPanels(page, range, 'zh');
  await page.click('[data-lang="en"]');
  assert.deepEqual(await page.locator('#places h2').allTextContents(), ['By network', 'By country']);
  await assertPanels(page, range, 'en');
  await page.click('[data-lang="zh"]');
});

await check('a range reaching today: the query is refreshed every 10 s, the breakdowns not before a minute', async () => {
  await showRange(page, 'today');
  const asked = { query: 0, networks: 0 };
  const listener = (req) => {
    for (const key of Object.keys(asked)) if (req.url().includes(`/api/${key}`)) asked[key] += 1;
  };
  page.on('request', listener);
  await page.waitForTimeout(11_000);
  page.off('request', listener);
  assert.ok(asked.query >= 1, `the query was refreshed: ${JSON.stringify(asked)}`);
  assert.equal(asked.networks, 0, `the breakdowns were not: ${JSON.stringify(asked)}`);
});

await check('desktop screenshot: the range\'s top addresses and the two panels', async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const clip = await page.evaluate(() => {
    const top = document.querySelector('.query').getBoundingClientRect();
    const bottom = document.querySelector('#places').getBoundingClientRect();
    return { x: top.left, y: top.top + window.scrollY, width: top.width, height: bottom.bottom - top.top };
  });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-networks.png'), clip, fullPage: true });
});

await check('phone width (390 x 844): the panels and address rows fit, no horizontal scrolling', async () => {
  for (const lang of ['zh', 'en']) {
    const { context, page: phone } = await open({ width: 390, height: 844, scale: 2, lang });
    await load(phone);
    for (const key of ['thisYear', 'today']) {
      await showRange(phone, key);
      const fit = await phone.evaluate(() => {
        const root = document.documentElement;
        const right = Math.max(...[...document.querySelectorAll('#places li, #top-today li, #top-range li')]
          .map((item) => item.getBoundingClientRect().right));
        return { scroll: root.scrollWidth, client: root.clientWidth, right };
      });
      assert.ok(fit.scroll <= fit.client, `${lang}, ${key}: scrollWidth ${fit.scroll} > clientWidth ${fit.client}`);
      assert.ok(fit.right <= fit.client, `${lang}, ${key}: a row ends at ${fit.right} px`);
    }
    await context.close();
  }
});

await check('no console errors, no request leaves the server', async () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(foreign, []);
});

await deskContext.close();
await browser.close();
finish();
