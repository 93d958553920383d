// The dashboard after the monitor was restarted on other interfaces (started by tests/dashboard.rs
// on the history of its first run) and with WEB_AUTH, opened the way a NAS owner types it:
// http://user:pass@nas:8080/. Expected values come from the API's own answers.
//
// Environment: BASE_URL (the page, with the user name and password in it), NOT_CAPTURED (an
// interface the history holds but the monitor does not capture now) and QUOTA_LEVEL (the level
// the billing-cycle card must be at: the monitor's QUOTA was chosen for it).
// Prints "ok - …" / "not ok - …" per check; exits 1 on a failure.

import assert from 'node:assert/strict';

import { chromium } from 'playwright-core';

import { check, finish } from './checks.mjs';
import { apiOkAt, waitForServerAt } from './server.mjs';
import { assertCardShows, cycleDrawn, readCycleCard } from './cycle.mjs';

const BASE = process.env.BASE_URL;
const NOT_CAPTURED = process.env.NOT_CAPTURED;
const QUOTA_LEVEL = process.env.QUOTA_LEVEL || null;
const base = new URL(BASE);
assert.ok(base.username && base.password, `BASE_URL must carry credentials: ${BASE}`);


const apiOk = (pathAndQuery) => apiOkAt(BASE, pathAndQuery);

const waitForServer = () => waitForServerAt(BASE);

await waitForServer();
const summary = await apiOk('summary');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
await context.addInitScript(() => {
  window.cspViolations = [];
  document.addEventListener('securitypolicyviolation', (event) => {
    window.cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`);
  });
});
const page = await context.newPage();
const consoleErrors = [];
page.on('console', (message) => {
  if (message.type() === 'error') consoleErrors.push(message.text());
});
page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
const apiStatuses = [];
page.on('response', (response) => {
  if (new URL(response.url()).pathname.startsWith('/api/')) apiStatuses.push(response.status());
});

const text = (selector) => page.locator(selector).first().textContent();
const errorsShown = () => page.evaluate(() => (document.querySelector('#errors').hidden ? '' : document.querySelector('#errors').textContent));

/** Wait for the cards to be filled, then long enough for every first request to have answered. */
async function settle() {
  await page.waitForFunction(() => document.querySelector('#card-today [data-field="total"]').textContent !== '—', null, { timeout: 15_000 });
  await page.waitForFunction(() => window.NTS && window.NTS.state.data.query && window.NTS.state.data.health, null, { timeout: 15_000 });
  await page.waitForTimeout(1_000);
}

await check('opened as http://user:pass@host/: every panel filled, no error banner, no console error', async () => {
  await page.goto(BASE);
  // The page's own address keeps the credentials: the case where fetch() refused every request.
  assert.ok((await page.evaluate(() => document.baseURI)).includes(`${base.username}:${base.password}@`),
    'the browser dropped the credentials from the address: this check would prove nothing');
  await settle();
  assert.equal(await errorsShown(), '');
  assert.equal(await text('#card-today [data-field="total"]'), summary.today.total_fmt);
  assert.equal(await text('#card-year [data-field="total"]'), summary.year.total_fmt);
  assert.ok(apiStatuses.length >= 8, `the page's API requests: ${apiStatuses}`);
  assert.deepEqual(apiStatuses.filter((status) => status !== 200), [], 'every API request answered 200 (authenticated)');
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
});

await check('the billing-cycle card shows /api/quota\'s figures at the level of its QUOTA', async () => {
  const answer = await apiOk('quota');
  await cycleDrawn(page);
  const level = assertCardShows(await readCycleCard(page), answer);
  if (QUOTA_LEVEL) assert.equal(level, QUOTA_LEVEL, `the monitor's QUOTA puts the cycle at ${answer.cycle.percent} %`);
});

await check(`the selector offers ${NOT_CAPTURED} (history only), marked as not captured now, in both languages`, async () => {
  assert.ok(summary.not_captured.includes(NOT_CAPTURED), JSON.stringify(summary));
  const options = await page.locator('#iface option').evaluateAll((o) => o.map((x) => [x.value, x.textContent]));
  assert.deepEqual(options.map(([value]) => value), ['', ...summary.interfaces]);
  const label = Object.fromEntries(options)[NOT_CAPTURED];
  assert.equal(label, `${NOT_CAPTURED} (当前未采集，仅有历史)`);
  assert.match(await text('#health'), new RegExp(`${NOT_CAPTURED} · 当前未采集`));
  await page.click('button[data-lang="en"]');
  const english = await page.locator(`#iface option[value="${NOT_CAPTURED}"]`).textContent();
  assert.equal(english, `${NOT_CAPTURED} (not captured now, history only)`);
  await page.click('button[data-lang="zh"]');
});

await check(`selecting ${NOT_CAPTURED} shows its history, without errors`, async () => {
  const history = await apiOk(`summary?iface=${NOT_CAPTURED}`);
  assert.ok(history.year.total_bytes > 0, `its history is in the file: ${JSON.stringify(history)}`);
  await page.selectOption('#iface', NOT_CAPTURED);
  await page.waitForFunction((want) => document.querySelector('#card-year [data-field="total"]').textContent === want,
    history.year.total_fmt, { timeout: 15_000 });
  await page.waitForTimeout(1_500);
  assert.equal(await errorsShown(), '');
  assert.equal(await page.locator('#iface').inputValue(), NOT_CAPTURED, 'the choice is kept, not reset to all');
  assert.equal(await text('#card-today [data-field="total"]'), history.today.total_fmt);
  assert.deepEqual(consoleErrors, []);
});

await browser.close();
finish();
