// The dashboard in headless Chromium against the real monitor (started by tests/dashboard.rs in
// a network namespace, with a history filled by `import`). Every expected value comes from the
// API's own answers fetched here, or from calendar arithmetic on the server's "today".
//
// Environment: BASE_URL (the monitor's page), SCREENSHOTS (a directory), REPLAY_IFACE and
// REPLAY_FILE (live traffic for the header's rate while the screenshots are taken), QUOTA_LEVEL
// (the level the billing-cycle card must be at: the monitor's QUOTA was chosen for it).
// Prints "ok - …" / "not ok - …" per check and "metric NAME VALUE" lines; exits 1 on a failure.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { check, finish } from './checks.mjs';
import { assertCardShows, cycleDrawn, readCycleCard } from './cycle.mjs';

const BASE = process.env.BASE_URL || 'http://127.0.0.1:8080/';
const SCREENSHOTS = process.env.SCREENSHOTS || path.join(tmpdir(), 'nts-dashboard-screenshots');
const base = new URL(BASE);
const QUOTA_LEVEL = process.env.QUOTA_LEVEL || null;


function metric(name, value) {
  console.log(`metric ${name} ${value}`);
}

// ---------------------------------------------------------------------------------------------
// The API, asked directly
// ---------------------------------------------------------------------------------------------

/** GET a path of the server: status, headers and the raw body bytes (no decompression). */
function get(pathAndQuery, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(pathAndQuery.replace(/^\//, ''), BASE), { headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function api(pathAndQuery) {
  const answer = await get(`api/${pathAndQuery}`);
  return { status: answer.status, json: JSON.parse(answer.body.toString('utf8')) };
}

async function apiOk(pathAndQuery) {
  const { status, json } = await api(pathAndQuery);
  assert.equal(status, 200, `api/${pathAndQuery} answered ${status}: ${JSON.stringify(json)}`);
  return json;
}

async function waitForServer() {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const answer = await get('api/health');
      if (answer.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the monitor at ${BASE} did not answer within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// ---------------------------------------------------------------------------------------------
// Calendar arithmetic for the expectations (on "YYYY-MM-DD", in UTC Date objects as a calculator)
// ---------------------------------------------------------------------------------------------

const asDate = (day) => new Date(`${day}T00:00:00Z`);
const asDay = (date) => date.toISOString().slice(0, 10);
const plusDays = (day, n) => asDay(new Date(asDate(day).getTime() + n * 86_400_000));
const daysInMonth = (year, month) => new Date(Date.UTC(year, month, 0)).getUTCDate(); // month 1..12

function todayIn(timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
      .formatToParts(new Date())
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** What each quick button must ask for, and how many points the answer must have. */
function expectedQuick(today) {
  const year = Number(today.slice(0, 4));
  const month = Number(today.slice(5, 7));
  const day = Number(today.slice(8, 10));
  const prevYear = month === 1 ? year - 1 : year;
  const prevMonth = month === 1 ? 12 : month - 1;
  const prevLast = daysInMonth(prevYear, prevMonth);
  const pad = (n) => String(n).padStart(2, '0');
  return {
    today: { start: today, end: today, granularity: 'hour', points: 24 },
    yesterday: { start: plusDays(today, -1), end: plusDays(today, -1), granularity: 'hour', points: 24 },
    last7: { start: plusDays(today, -6), end: today, granularity: 'day', points: 7 },
    last30: { start: plusDays(today, -29), end: today, granularity: 'day', points: 30 },
    thisMonth: { start: `${today.slice(0, 8)}01`, end: today, granularity: 'day', points: day },
    lastMonth: {
      start: `${prevYear}-${pad(prevMonth)}-01`,
      end: `${prevYear}-${pad(prevMonth)}-${pad(prevLast)}`,
      granularity: 'day',
      points: prevLast,
    },
    thisYear: { start: `${year}-01-01`, end: today, granularity: 'month', points: month },
  };
}

// ---------------------------------------------------------------------------------------------
// Browser
// ---------------------------------------------------------------------------------------------

// Playwright gives every launch a fresh, temporary profile (it refuses --user-data-dir here).
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});

const consoleErrors = [];
const foreignRequests = [];

/**
 * A fresh context (own localStorage) whose console errors (when `watch`) and requests to any other
 * host than `host` are recorded.
 */
async function open({ width = 1440, height = 900, scale = 1, watch = true, storage, host = base.host } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: scale });
  // Every Content-Security-Policy violation of the page, as the browser reports it.
  await context.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}: ${event.sample}`);
    });
  });
  if (storage) {
    await context.addInitScript((entries) => {
      if (!sessionStorage.getItem('nts.test.seeded')) {
        for (const [key, value] of Object.entries(entries)) localStorage.setItem(key, value);
        sessionStorage.setItem('nts.test.seeded', '1');
      }
    }, storage);
  }
  const page = await context.newPage();
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.host !== host && url.protocol !== 'data:') foreignRequests.push(req.url());
  });
  if (watch) {
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(`${message.text()} (${JSON.stringify(message.location())})`);
    });
    page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
  }
  return { context, page };
}

/** Load the page and wait until the cards, the charts and the first query are drawn. */
async function load(page) {
  await page.goto(BASE);
  await page.waitForFunction(() => {
    const nts = window.NTS;
    if (!nts) return false;
    const drawn = (chart) => Boolean(chart) && (chart.getOption()?.series?.[0]?.data?.length ?? 0) > 0;
    return document.querySelector('#card-today [data-field="total"]').textContent !== '—'
      && drawn(nts.charts.days) && drawn(nts.charts.months) && drawn(nts.charts.hours) && drawn(nts.charts.past)
      && nts.state.cycle && nts.state.data.quota
      && nts.state.data.query && drawn(nts.charts.query)
      && document.querySelector('#top-today').children.length > 0;
  }, null, { timeout: 15_000 });
}

/** Whether a URL is the /api/query of this range. */
function isQuery(url, want) {
  if (!url.includes('/api/query')) return false;
  const params = new URL(url).searchParams;
  return params.get('start') === want.start && params.get('end') === want.end && params.get('granularity') === want.granularity;
}

const seriesLengths = (page, name) => page.evaluate((n) => window.NTS.charts[n].getOption().series.map((s) => s.data.length), name);
const seriesData = (page, name) => page.evaluate((n) => window.NTS.charts[n].getOption().series.map((s) => s.data), name);
const text = (page, selector) => page.locator(selector).first().textContent();
const digits = (s) => s.replace(/[^0-9]/g, '');

await waitForServer();
const summary = await apiOk('summary');
const timezone = summary.timezone;
const days30 = (await apiOk('history/30days')).days;
const today = todayIn(timezone);
const quick = expectedQuick(today);

await check('the server names its zone and the interfaces, and agrees on today', async () => {
  assert.equal(typeof timezone, 'string');
  assert.ok(Array.isArray(summary.interfaces) && summary.interfaces.length >= 2, JSON.stringify(summary.interfaces));
  assert.equal(days30[days30.length - 1].day, today, 'the last day of history/30days is today in the server zone');
  assert.ok(summary.year.total_bytes > summary.today.total_bytes && summary.today.total_bytes > 0,
    `the imported history gives non-zero, distinct figures: ${JSON.stringify(summary)}`);
});

await check('the page and its assets: content types, caching, gzip, ETag revalidation', async () => {
  const page = await get('');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(page.headers['cache-control'], 'no-cache');
  const html = page.body.toString('utf8');
  const assets = [...html.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), assets.join());
  const types = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' };
  for (const asset of new Set(assets)) {
    const plain = await get(asset);
    assert.equal(plain.status, 200, asset);
    assert.equal(plain.headers['content-type'], types[asset.split('.').pop()], asset);
    assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable', asset);
    const zipped = await get(asset, { 'Accept-Encoding': 'gzip' });
    assert.equal(zipped.headers['content-encoding'], 'gzip', asset);
    assert.ok(zipped.body.length < plain.body.length, asset);
    const again = await get(asset, { 'If-None-Match': plain.headers.etag });
    assert.equal(again.status, 304, asset);
  }
});

await check('page weight (what a first visit downloads, as the browser counted it)', async () => {
  const { context, page: fresh } = await open();
  await load(fresh);
  const files = await fresh.evaluate(() => [
    performance.getEntriesByType('navigation')[0],
    ...performance.getEntriesByType('resource').filter((entry) => !new URL(entry.name).pathname.includes('/api/')),
  ].map((entry) => ({ url: entry.name, raw: entry.decodedBodySize, sent: entry.encodedBodySize })));
  await context.close();
  const sum = (key) => files.reduce((total, file) => total + file[key], 0);
  assert.ok(files.some((f) => /charts-[0-9a-f]+\.js$/.test(f.url)), files.map((f) => f.url).join());
  assert.ok(sum('sent') < sum('raw') / 2, 'sent compressed');
  metric('page_files', files.length);
  metric('page_bytes_raw', sum('raw'));
  metric('page_bytes_gzip', sum('sent'));
});

// ---------------------------------------------------------------------------------------------

const { context: desk, page } = await open();
const queries = [];
const networkRequests = [];
page.on('request', (req) => {
  if (req.url().includes('/api/query')) queries.push(new URL(req.url()));
  if (req.url().includes('/api/networks')) networkRequests.push(req.url());
});
await load(page);

await check('the page works under its Content-Security-Policy: no violation, tooltips styled', async () => {
  const answer = await get('');
  const policy = answer.headers['content-security-policy'] ?? '';
  const directives = policy.split(';').map((d) => d.trim());
  for (const needed of ["script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"]) {
    assert.ok(directives.includes(needed), `${needed} in ${JSON.stringify(policy)}`);
  }
  assert.ok(!policy.includes('unsafe-'), `no inline script or style allowed: ${policy}`);
  assert.equal(answer.headers['x-content-type-options'], 'nosniff');
  assert.ok(answer.headers['referrer-policy'], 'a Referrer-Policy');
  // Every chart's tooltip (HTML with style attributes, written by ECharts) under the policy.
  const dots = await page.evaluate(() => Object.values(window.NTS.charts).map((chart) => {
    chart.dispatchAction({ type: 'showTip', seriesIndex: 0, dataIndex: 0 });
    const dot = chart.getDom().querySelector('.tt-dot');
    const colour = dot && getComputedStyle(dot).backgroundColor;
    chart.dispatchAction({ type: 'hideTip' });
    // The axis pointer's shadow stays after hideTip: leave the chart as it was (screenshots).
    chart.dispatchAction({ type: 'updateAxisPointer', currTrigger: 'leave' });
    return colour;
  }));
  assert.ok(dots.length >= 4 && dots.every((c) => c && c !== 'rgba(0, 0, 0, 0)'), JSON.stringify(dots));
  assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
});

await check('the policy is enforced: an injected inline script does not run', async () => {
  const { context, page: fresh } = await open({ watch: false });
  await load(fresh);
  const outcome = await fresh.evaluate(async () => {
    const script = document.createElement('script');
    script.textContent = 'window.injected = true;';
    document.body.append(script);
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { ran: window.injected === true, violations: window.cspViolations };
  });
  await context.close();
  assert.equal(outcome.ran, false);
  assert.ok(outcome.violations.some((v) => v.startsWith('script-src')), JSON.stringify(outcome.violations));
});

await check('without GEOIP_DB: no networks and countries panels, no place under an address, /api/networks not asked', async () => {
  const refused = await api(`networks?start=${today}&end=${today}&by=asn`);
  assert.equal(refused.status, 400);
  assert.match(refused.json.error, /GEOIP_DB/);
  assert.equal(await page.locator('#places').isVisible(), false);
  assert.equal(await page.locator('.toplist .place').count(), 0);
  assert.deepEqual(networkRequests, []);
  assert.equal(await page.locator('#errors').isVisible(), false);
});

await check('Chinese by default', async () => {
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
  assert.equal(await text(page, '#card-today h2'), '今日总流量');
  assert.equal(await text(page, '[data-range="last7"]'), '近 7 天');
});

await check('the four cards show the API\'s figures', async () => {
  const now = await apiOk('summary');
  // The billing cycle's instant and forecast move with the clock; the counted bytes may not.
  const counted = ({ cycle, ...rest }) => ({
    ...rest,
    cycle: cycle && { ...cycle, ts: undefined, forecast_bytes: undefined, forecast_fmt: undefined,
      forecast_percent: undefined, runs_out_on: undefined, runs_out_ts: undefined },
  });
  assert.deepEqual(counted(now), counted(summary),
    'no traffic arrived while the page loaded (the comparison is exact)');
  for (const [card, period] of [['#card-today', 'today'], ['#card-month', 'month'], ['#card-year', 'year']]) {
    const figures = summary[period];
    assert.equal(await text(page, `${card} [data-field="total"]`), figures.total_fmt, `${card} total`);
    assert.equal(await text(page, `${card} [data-field="up"]`), `↑ ${figures.up_fmt}`, `${card} up`);
    assert.equal(await text(page, `${card} [data-field="down"]`), `↓ ${figures.down_fmt}`, `${card} down`);
    const exact = await page.locator(`${card} [data-field="total"]`).getAttribute('title');
    assert.equal(digits(exact), String(figures.total_bytes), `${card} exact bytes on hover`);
  }
  assert.equal(await text(page, '#card-updown [data-field="up"]'), summary.today.up_fmt);
  assert.equal(await text(page, '#card-updown [data-field="down"]'), summary.today.down_fmt);
  assert.equal(await text(page, '#timezone'), timezone);
});

await check('the billing-cycle card shows /api/quota\'s figures, coloured by its level', async () => {
  const answer = await apiOk('quota');
  await cycleDrawn(page);
  const card = await readCycleCard(page);
  const level = assertCardShows(card, answer);
  if (QUOTA_LEVEL) assert.equal(level, QUOTA_LEVEL, `the monitor's QUOTA puts the cycle at ${answer.cycle.percent} %`);
  // At the level the monitor was started for: before the screenshots' live traffic adds to it.
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.locator('#cycle').screenshot({ path: path.join(SCREENSHOTS, 'dashboard-cycle.png') });
  assert.deepEqual(answer.interfaces, [], 'QUOTA_IFACES unset: every interface counts');
  assert.equal(card.fields.scope.text, '全部网卡');
  assert.equal(card.fields.basis.text, '上行 + 下行');
  assert.equal(await text(page, '#cycle-title'), '计费周期');
  for (const label of ['已用', '剩余', '剩余天数', '周期末预计', '前 12 个周期', '配额']) {
    assert.ok(card.labels.includes(label), `${label} in ${JSON.stringify(card.labels)}`);
  }
  if (answer.cycle.runs_out_on) {
    assert.equal(card.fields['runs-out'].text, `按当前速度，配额将于 ${answer.cycle.runs_out_on} 用完`);
  }
});

await check('the 12 cycles before: one stacked bar each (zeros included), the quota as a line', async () => {
  const answer = await apiOk('quota');
  assert.equal(answer.past.length, 12);
  assert.ok(answer.past.filter((c) => c.used_bytes > 0).length >= 3,
    `traffic 40, 100 and 300 days ago falls in three past cycles: ${JSON.stringify(answer.past)}`);
  const [up, down] = await seriesData(page, 'past');
  assert.deepEqual(up, answer.past.map((c) => c.up_bytes), 'past up');
  assert.deepEqual(down, answer.past.map((c) => c.down_bytes), 'past down');
  const option = await page.evaluate(() => {
    const o = window.NTS.charts.past.getOption();
    return { labels: o.xAxis[0].data, line: o.series[1].markLine?.data?.[0]?.yAxis, top: o.yAxis[0].max };
  });
  assert.deepEqual(option.labels, answer.past.map((c) => c.start.slice(0, 7)));
  assert.equal(answer.cycle.basis, 'total');
  assert.equal(option.line, answer.cycle.quota_bytes, 'the quota line');
  assert.ok(option.top >= answer.cycle.quota_bytes, 'the y axis reaches the quota line');
  assert.equal(await page.locator('#cycle .legend i.limit').isVisible(), true);
});

await check('30 days, 12 months and today\'s hours draw the API\'s series', async () => {
  const months = (await apiOk('history/12months')).months;
  const hours = (await apiOk('history/today_hours')).hours;
  assert.equal(days30.length, 30);
  assert.equal(months.length, 12);
  for (const [chart, rows] of [['days', days30], ['months', months], ['hours', hours]]) {
    const [up, down] = await seriesData(page, chart);
    assert.deepEqual(up, rows.map((r) => r.up_bytes), `${chart} up`);
    assert.deepEqual(down, rows.map((r) => r.down_bytes), `${chart} down`);
  }
  const labels = await page.evaluate(() => window.NTS.charts.months.getOption().xAxis[0].data);
  assert.deepEqual(labels, months.map((m) => m.month));
});

await check('today\'s top 10 addresses, with gold, silver and bronze', async () => {
  const top = (await apiOk('top_ips')).top_ips;
  assert.ok(top.length > 3, `enough addresses today to rank: ${top.length}`);
  const rows = page.locator('#top-today li');
  assert.equal(await rows.count(), top.length);
  for (let i = 0; i < top.length; i += 1) {
    assert.equal(await rows.nth(i).locator('.ip').textContent(), top[i].ip);
    assert.equal(await rows.nth(i).locator('.bytes').textContent(), top[i].bytes_fmt);
  }
  assert.deepEqual(
    await rows.evaluateAll((items) => items.slice(0, 4).map((item) => item.className)),
    ['rank-1', 'rank-2', 'rank-3', ''],
  );
  const colours = await rows.evaluateAll((items) => items.slice(0, 3).map((item) => getComputedStyle(item.querySelector('.rank')).backgroundColor));
  assert.equal(new Set(colours).size, 3, `three distinct medal colours: ${colours}`);
});

for (const [key, want] of Object.entries(quick)) {
  await check(`quick button ${key}: asks for ${want.start}…${want.end} by ${want.granularity}, draws ${want.points} points`, async () => {
    queries.length = 0;
    const answered = page.waitForResponse((res) => isQuery(res.url(), want));
    await page.click(`[data-range="${key}"]`);
    const response = await answered;
    // The click sent exactly this query (the page also re-asks for a range reaching today every
    // 10 s: such a refresh is the same query, or the previous range just before the click).
    const sent = queries.map((url) => Object.fromEntries(['start', 'end', 'granularity'].map((k) => [k, url.searchParams.get(k)])));
    const expected = { start: want.start, end: want.end, granularity: want.granularity };
    assert.ok(sent.length >= 1, 'a query was sent');
    for (const query of sent.slice(1)) assert.deepEqual(query, expected);
    assert.deepEqual(sent[sent.length - 1], expected);
    const result = await response.json();
    assert.equal(result.series.length, want.points, 'the API answers one row per period');
    await page.waitForFunction((w) => {
      const q = window.NTS.state.data.query;
      return q && q.request.start === w.start && q.request.end === w.end && q.request.granularity === w.granularity;
    }, want);
    assert.deepEqual(await seriesLengths(page, 'query'), [want.points, want.points]);
    const [up, down] = await seriesData(page, 'query');
    assert.deepEqual(up, result.series.map((r) => r.up_bytes));
    assert.deepEqual(down, result.series.map((r) => r.down_bytes));
    assert.equal(await text(page, '#query-summary [data-field="total"]'), result.summary.total_fmt);
    assert.equal(await text(page, '#query-summary [data-field="up"]'), result.summary.up_fmt);
    assert.equal(await text(page, '#query-summary [data-field="down"]'), result.summary.down_fmt);
    assert.equal(await page.inputValue('#start'), want.start);
    assert.equal(await page.inputValue('#end'), want.end);
    assert.equal(await page.getAttribute(`[data-range="${key}"]`, 'aria-pressed'), 'true');
    assert.equal(await page.getAttribute(`[data-granularity="${want.granularity}"]`, 'aria-pressed'), 'true');
    const top = (await apiOk(`top_ips?start=${want.start}&end=${want.end}&limit=10`)).top_ips;
    await page.waitForFunction((n) => document.querySelectorAll('#top-range li:not(.empty)').length === n, top.length);
    const ips = await page.locator('#top-range li .ip').allTextContents();
    assert.deepEqual(ips, top.map((t) => t.ip), 'the range\'s top addresses');
  });
}

await check('granularity override: last 7 days by hour', async () => {
  await page.click('[data-range="last7"]');
  await page.waitForFunction(() => window.NTS.state.data.query?.request.granularity === 'day');
  const answered = page.waitForResponse((res) => isQuery(res.url(), { ...quick.last7, granularity: 'hour' }));
  await page.click('[data-granularity="hour"]');
  await answered;
  await page.waitForFunction(() => window.NTS.state.data.query?.request.granularity === 'hour');
  assert.deepEqual(await seriesLengths(page, 'query'), [7 * 24, 7 * 24]);
});

await check('custom range with ▶: the inputs are limited by /api/date_range', async () => {
  const range = await apiOk('date_range');
  assert.equal(await page.getAttribute('#start', 'min'), range.min);
  assert.equal(await page.getAttribute('#end', 'max'), range.max > today ? range.max : today);
  const start = plusDays(today, -44);
  const end = plusDays(today, -40);
  await page.fill('#start', start);
  await page.fill('#end', end);
  await page.click('[data-granularity="day"]');
  const answered = page.waitForResponse((res) => isQuery(res.url(), { start, end, granularity: 'day' }));
  await page.click('#run');
  await answered;
  await page.waitForFunction((s) => window.NTS.state.data.query?.request.start === s, start);
  assert.deepEqual(await seriesLengths(page, 'query'), [5, 5]);
  assert.equal(await page.locator('[data-range][aria-pressed="true"]').count(), 0);
});

await check('the live rate is refreshed every 3 s and shows the API\'s answer', async () => {
  const times = [];
  let last = null;
  const listener = async (res) => {
    if (res.url().includes('/api/realtime')) {
      times.push(Date.now());
      last = await res.json();
    }
  };
  page.on('response', listener);
  await page.waitForTimeout(7_000);
  page.off('response', listener);
  assert.ok(times.length >= 2 && times.length <= 3, `realtime asked ${times.length} times in 7 s`);
  const gap = times[1] - times[0];
  assert.ok(gap > 2_500 && gap < 3_700, `every 3 s: ${gap} ms`);
  await page.waitForTimeout(300);
  const shown = await text(page, '#rate-up');
  const [value, unit] = shown.split(' ');
  const scale = { 'bit/s': 1, 'kbit/s': 1e3, 'Mbit/s': 1e6, 'Gbit/s': 1e9 }[unit];
  assert.ok(scale, `a bit rate: ${shown}`);
  assert.ok(Math.abs(Number(value) * scale - last.current_up_bps) <= Math.max(1, 0.01 * last.current_up_bps), `${shown} vs ${last.current_up_bps} bit/s`);
});

await check('the interface selector lists the monitored interfaces and scopes every request', async () => {
  const options = await page.locator('#iface option').evaluateAll((o) => o.map((x) => x.value));
  assert.deepEqual(options, ['', ...summary.interfaces]);
  assert.equal(await page.locator('#iface-box').isVisible(), true);
  const name = summary.interfaces[0];
  const sent = [];
  const listener = (req) => { if (req.url().includes('/api/')) sent.push(new URL(req.url())); };
  page.on('request', listener);
  const answered = page.waitForResponse((res) => res.url().includes('/api/summary') && res.url().includes(`iface=${name}`));
  try {
    await page.selectOption('#iface', name);
    await answered;
    await page.waitForTimeout(500);
    page.off('request', listener);
    // A periodic refresh (cards every 10 s, the live rate every 3 s) may leave just before the
    // selection changes, unscoped: every request from the first scoped one on must be scoped.
    const first = sent.findIndex((u) => u.searchParams.get('iface') === name);
    const after = sent.slice(first);
    assert.ok(first >= 0 && after.length >= 6, sent.map(String).join('\n'));
    // All but health: the footer lists the capture state of every interface whatever is selected.
    for (const url of after.filter((u) => !u.pathname.endsWith('/api/health'))) {
      assert.equal(url.searchParams.get('iface'), name, String(url));
    }
    const scoped = await apiOk(`summary?iface=${name}`);
    await page.waitForFunction((t) => document.querySelector('#card-today [data-field="total"]').textContent === t, scoped.today.total_fmt);
    // The billing cycle follows the API: that interface's usage against the quota.
    const quota = await apiOk(`quota?iface=${name}`);
    assert.deepEqual(quota.interfaces, [name]);
    await page.waitForFunction((n) => document.querySelector('#cycle [data-field="scope"]').textContent === n, name);
    assertCardShows(await readCycleCard(page), quota);
  } finally {
    // Back to all interfaces even when a step failed: the checks after this one expect it.
    page.off('request', listener);
    await page.selectOption('#iface', '');
  }
  await page.waitForFunction((t) => document.querySelector('#card-today [data-field="total"]').textContent === t, summary.today.total_fmt);
});

await check('language switch to English, remembered across a reload, and back', async () => {
  await page.click('[data-lang="en"]');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  assert.equal(await text(page, '#card-today h2'), 'Today');
  assert.equal(await text(page, '[data-range="last7"]'), 'Last 7 days');
  assert.equal(await page.evaluate(() => localStorage.getItem('nts.lang')), 'en');
  await load(page);
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  assert.equal(await text(page, '#card-today h2'), 'Today');
  assert.equal(await text(page, '#query-title'), 'Date range query');
  assert.equal(await text(page, '#cycle-title'), 'Billing cycle');
  const card = await readCycleCard(page);
  for (const label of ['Used', 'Remaining', 'Days left', 'Forecast at cycle end', 'The 12 cycles before', 'Quota', 'Counts: ']) {
    assert.ok(card.labels.includes(label), `${label} in ${JSON.stringify(card.labels)}`);
  }
  assert.equal(card.fields.basis.text, 'up + down');
  assert.equal(card.fields.scope.text, 'All interfaces');
  if (card.drawn.runs_out_on) {
    assert.equal(card.fields['runs-out'].text, `At this rate the quota runs out on ${card.drawn.runs_out_on}`);
  }
  await page.click('[data-lang="zh"]');
  assert.equal(await text(page, '#card-today h2'), '今日总流量');
  await load(page);
  assert.equal(await text(page, '#card-today h2'), '今日总流量');
});

await check('time to first render on loopback (5 fresh loads, against a plain-text reference)', async () => {
  // The reference is the server's licenses.txt: the same browser, context creation and loopback
  // round trips, no script or stylesheet. The page's own cost is the difference.
  const paint = () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime;
  const runs = [];
  const reference = [];
  for (let i = 0; i < 5; i += 1) {
    // Not watched: a text document has no icon link, so the browser asks for /favicon.ico (404).
    const plain = await open({ watch: false });
    await plain.page.goto(new URL('licenses.txt', BASE).href);
    await plain.page.waitForFunction(paint);
    reference.push(await plain.page.evaluate(paint));
    await plain.context.close();

    const { context, page: fresh } = await open();
    await fresh.addInitScript(() => {
      new MutationObserver((_, observer) => {
        const card = document.querySelector('#card-today [data-field="total"]');
        if (card && card.textContent !== '—') {
          window.__cardsAt = performance.now();
          observer.disconnect();
        }
      }).observe(document, { subtree: true, childList: true, characterData: true });
    });
    await load(fresh);
    runs.push(await fresh.evaluate(() => ({
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
      dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
      cards: window.__cardsAt,
      charts: performance.now(), // an upper bound: when the test saw every panel drawn
    })));
    await context.close();
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const of = (key) => median(runs.map((r) => r[key]));
  for (const key of ['fcp', 'dcl', 'cards', 'charts']) assert.ok(Number.isFinite(of(key)), `${key}: ${JSON.stringify(runs)}`);
  assert.ok(Number.isFinite(median(reference)), JSON.stringify(reference));
  metric('reference_plain_text_first_contentful_paint_ms_median', median(reference).toFixed(0));
  metric('first_contentful_paint_ms_median', of('fcp').toFixed(0));
  metric('dom_content_loaded_ms_median', of('dcl').toFixed(0));
  metric('cards_filled_ms_median', of('cards').toFixed(0));
  metric('all_panels_drawn_ms_median_upper_bound', of('charts').toFixed(0));
});

await check('refresh cadence: live rate 3 s, cards 10 s, today 60 s, 30-day and 12-month bars and past cycles 2 min', async () => {
  const { context, page: fresh } = await open();
  await fresh.clock.install();
  await load(fresh);
  const asked = [];
  fresh.on('request', (req) => {
    const url = new URL(req.url());
    if (url.pathname.startsWith('/api/')) asked.push(url.pathname.slice(5) + (url.search.includes('start=') ? '?range' : ''));
  });
  await fresh.clock.runFor(120_000);
  await fresh.waitForTimeout(1_000);
  const count = (name) => asked.filter((a) => a === name).length;
  assert.deepEqual(
    Object.fromEntries(['realtime', 'summary', 'health', 'history/today_hours', 'top_ips', 'history/30days', 'history/12months', 'quota', 'date_range'].map((n) => [n, count(n)])),
    { realtime: 40, summary: 12, health: 4, 'history/today_hours': 2, top_ips: 2, 'history/30days': 1, 'history/12months': 1, quota: 1, date_range: 1 },
  );
  // Today's range on screen follows the cards (a refresh gives way while one is in flight).
  assert.ok(count('query?range') >= 1 && count('query?range') <= 12, `query refreshed ${count('query?range')} times`);
  await context.close();
});

await check('behind a reverse proxy under a sub-path (/nts/), every request stays under it', async () => {
  // The smallest reverse proxy: /nts/X on another port → X on the monitor, headers as they are.
  const proxy = createServer((req, res) => {
    if (!req.url.startsWith('/nts/')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end(`outside the sub-path: ${req.url}`);
      return;
    }
    const upstream = httpRequest(new URL(req.url.slice('/nts/'.length), BASE), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxied = `http://127.0.0.1:${proxy.address().port}/nts/`;
  const { context, page: fresh } = await open({ watch: false, host: new URL(proxied).host });
  const paths = [];
  const problems = [];
  fresh.on('request', (req) => paths.push(new URL(req.url()).pathname));
  fresh.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  fresh.on('pageerror', (e) => problems.push(e.message));
  await fresh.goto(proxied);
  await fresh.waitForFunction(() => window.NTS?.state.data.query && document.querySelector('#card-today [data-field="total"]').textContent !== '—', null, { timeout: 15_000 });
  assert.equal(await text(fresh, '#card-today [data-field="total"]'), summary.today.total_fmt);
  assert.ok(paths.length > 10, paths.join());
  assert.deepEqual(paths.filter((p) => !p.startsWith('/nts/')), []);
  assert.deepEqual(problems, []);
  await context.close();
  await new Promise((resolve) => proxy.close(resolve));
});

// ---------------------------------------------------------------------------------------------
// Errors are shown in the page (their own context: the browser logs failed requests)

await check('a remembered interface that is gone falls back to all interfaces', async () => {
  const gone = await api('summary?iface=nope0');
  assert.equal(gone.status, 400, 'the server refuses an unknown interface');
  const { context, page: fresh } = await open({ watch: false, storage: { 'nts.iface': 'nope0' } });
  await load(fresh);
  assert.equal(await text(fresh, '#card-today [data-field="total"]'), summary.today.total_fmt);
  assert.equal(await fresh.evaluate(() => localStorage.getItem('nts.iface')), null);
  await fresh.waitForFunction(() => document.querySelector('#errors').hidden);
  await context.close();
});

await check('API errors are shown in the page, not swallowed', async () => {
  const { context, page: fresh } = await open({ watch: false });
  await load(fresh);
  // A range the server refuses (more than 100,000 hourly points): its own message is shown.
  const start = '2000-01-01';
  const refused = await api(`query?start=${start}&end=${today}&granularity=hour`);
  assert.equal(refused.status, 400);
  await fresh.fill('#start', start);
  await fresh.fill('#end', today);
  await fresh.click('[data-granularity="hour"]');
  await fresh.click('#run');
  await fresh.waitForFunction(() => !document.querySelector('#query-error').hidden);
  const shown = await text(fresh, '#query-error');
  assert.ok(shown.includes(refused.json.error) && shown.includes('400'), `${shown} vs ${refused.json.error}`);
  // End before start is refused in the page, without a request.
  let sent = 0;
  fresh.on('request', (req) => { if (req.url().includes('/api/query')) sent += 1; });
  await fresh.fill('#start', today);
  await fresh.fill('#end', plusDays(today, -3));
  await fresh.click('#run');
  assert.equal(await text(fresh, '#query-error'), '结束日期不能早于开始日期');
  assert.equal(sent, 0);
  // The server unreachable: the banner says so, and clears when it answers again.
  await fresh.route('**/api/realtime*', (route) => route.abort('connectionrefused'));
  await fresh.waitForFunction(() => !document.querySelector('#errors').hidden, null, { timeout: 8_000 });
  assert.match(await text(fresh, '#errors'), /无法连接服务器 \(api\/realtime\)/);
  await fresh.unroute('**/api/realtime*');
  await fresh.waitForFunction(() => document.querySelector('#errors').hidden, null, { timeout: 8_000 });
  await context.close();
});

// ---------------------------------------------------------------------------------------------
// Phone width, screenshots (with live traffic for the header's rate)

let replay = null;
if (process.env.REPLAY_IFACE && process.env.REPLAY_FILE) {
  replay = spawn('tcpreplay', ['-q', '-i', process.env.REPLAY_IFACE, '--pps', '400', '--loop', '0', process.env.REPLAY_FILE], { stdio: 'ignore' });
}

await check('phone width (390 px): no horizontal scrolling, in both languages', async () => {
  for (const lang of ['zh', 'en']) {
    const { context, page: phone } = await open({ width: 390, height: 844, scale: 2, storage: { 'nts.lang': lang } });
    await load(phone);
    for (const key of ['thisYear', 'last30', 'today']) {
      await phone.click(`[data-range="${key}"]`);
      await phone.waitForFunction((k) => window.NTS.state.quick === k && window.NTS.state.data.query?.request.granularity, key);
      const [scrollWidth, innerWidth] = await phone.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert.ok(scrollWidth <= innerWidth, `${lang}, ${key}: scrollWidth ${scrollWidth} > ${innerWidth}`);
    }
    // The billing-cycle card: inside the viewport, every figure whole.
    const fit = await phone.evaluate(() => {
      const root = document.documentElement;
      const box = document.querySelector('#cycle');
      return { scroll: root.scrollWidth, client: root.clientWidth, right: box.getBoundingClientRect().right };
    });
    assert.ok(fit.scroll <= fit.client, `${lang}: scrollWidth ${fit.scroll} > clientWidth ${fit.client}`);
    assert.ok(fit.right <= fit.client, `${lang}: the card ends at ${fit.right} px`);
    const card = await readCycleCard(phone);
    assert.deepEqual(card.cut, [], `${lang}: figures cut off`);
    assert.equal(card.overflows, false, `${lang}: the card overflows`);
    if (lang === 'zh') {
      await phone.waitForTimeout(3_500); // one live-rate refresh with traffic flowing
      mkdirSync(SCREENSHOTS, { recursive: true });
      await phone.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-phone.png'), fullPage: true });
    }
    await context.close();
  }
});

await check('desktop screenshot (1440 px)', async () => {
  await page.reload();
  await load(page);
  await page.waitForTimeout(3_500);
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-desktop.png'), fullPage: true });
});

if (replay) replay.kill();

await check('no console errors, no request leaves the server', async () => {
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(foreignRequests, []);
  assert.deepEqual(networkRequests, [], 'without GEOIP_DB the page never asks for /api/networks');
});

await desk.close();
await browser.close();
finish();
