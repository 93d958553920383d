// The billing-cycle card of a monitor without QUOTA (started by tests/web/dashboard.rs on the
// imported history before the main run): the cycle, its usage, the days left and the forecast,
// and no meter, percentage, remaining or quota line. Expected values come from /api/quota.
//
// Environment: BASE_URL (the monitor's page). Prints "ok - …" / "not ok - …" per check; exits 1
// on a failure.

import assert from 'node:assert/strict';

import { chromium } from 'playwright-core';

import { check, finish } from './checks.mjs';
import { apiOkAt } from './server.mjs';
import { assertCardShows, cycleDrawn, readCycleCard } from './cycle.mjs';

const BASE = process.env.BASE_URL || 'http://127.0.0.1:8080/';

const apiOk = (pathAndQuery) => apiOkAt(BASE, pathAndQuery);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
const page = await context.newPage();
const problems = [];
page.on('console', (message) => {
  if (message.type() === 'error') problems.push(message.text());
});
page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));

await check('without QUOTA: cycle, usage, days left and forecast; no meter, percentage, remaining or line', async () => {
  const answer = await apiOk('quota');
  assert.equal(answer.cycle.quota_bytes, null, 'the monitor runs without QUOTA');
  await page.goto(BASE);
  await cycleDrawn(page);
  await page.waitForFunction(() => (window.NTS.charts.past?.getOption()?.series?.[0]?.data?.length ?? 0) > 0, null, { timeout: 15_000 });
  const card = await readCycleCard(page);
  assert.equal(assertCardShows(card, answer), 'none');
  assert.equal(card.fields['no-quota'].text, '未设置配额（QUOTA）：只统计用量');
  assert.equal(card.fields['runs-out'].visible, false);
  const line = await page.evaluate(() => window.NTS.charts.past.getOption().series.some((s) => s.markLine?.data?.length));
  assert.equal(line, false, 'no quota line');
  assert.equal(await page.locator('#cycle .legend i.limit').isVisible(), false);
  await page.click('[data-lang="en"]');
  assert.equal((await readCycleCard(page)).fields['no-quota'].text, 'No quota set (QUOTA): usage only');
  const [scrollWidth, clientWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(scrollWidth <= clientWidth, `390 px: scrollWidth ${scrollWidth} > ${clientWidth}`);
  assert.deepEqual(problems, []);
});

await browser.close();
finish();
