// The billing-cycle card as both browser scripts check it: what it shows, field by field, and the
// rules it must follow (docs/dashboard.md), written here independently of www/src.

import assert from 'node:assert/strict';

/** The page's quota percentage: one decimal, rounded down ("87.9 %"). */
export function percentText(percent) {
  return `${(Math.floor(percent * 10 + 1e-9) / 10).toFixed(1)} %`;
}

/**
 * The card's level for a cycle and the answer's ALERT_AT: "none" without a quota, "over" from
 * 100 %, "warn" from the lowest threshold below 100, else "ok".
 */
export function expectedLevel(cycle, alertAt) {
  if (cycle.percent === null) return 'none';
  if (cycle.percent >= 100) return 'over';
  const below = alertAt.filter((percent) => percent < 100);
  return below.length && cycle.percent >= Math.min(...below) ? 'warn' : 'ok';
}

/** The meter's colour per level (style.css: --ok, --accent, --danger). */
export const LEVEL_COLOURS = { ok: 'rgb(79, 179, 217)', warn: 'rgb(240, 180, 41)', over: 'rgb(255, 92, 92)' };

/** Everything the card shows, and the cycle object the page drew it from. */
export function readCycleCard(page) {
  return page.evaluate(() => {
    const box = document.querySelector('#cycle');
    const field = (name) => {
      const element = box.querySelector(`[data-field="${name}"]`);
      return { text: element.textContent, title: element.title, visible: element.checkVisibility() };
    };
    const fill = box.querySelector('[data-field="fill"]');
    const names = ['dates', 'basis', 'used', 'quota', 'percent', 'remaining', 'days-left', 'forecast', 'runs-out', 'no-quota', 'scope'];
    return {
      classes: [...box.classList],
      fields: Object.fromEntries(names.map((name) => [name, field(name)])),
      fillWidth: parseFloat(fill.style.width),
      fillColour: getComputedStyle(fill).backgroundColor,
      meterVisible: box.querySelector('.meter').checkVisibility(),
      labels: [...box.querySelectorAll('[data-i18n]')].filter((e) => e.checkVisibility()).map((e) => e.textContent),
      // Figures wider than their box (cut off, or spilling over what follows).
      cut: [...box.querySelectorAll('[data-field]')]
        .filter((e) => e.checkVisibility() && e.scrollWidth > e.clientWidth + 1)
        .map((e) => `${e.dataset.field}: ${e.textContent} (${e.scrollWidth} > ${e.clientWidth} px)`),
      overflows: box.scrollWidth > box.clientWidth + 1,
      drawn: window.NTS.state.cycle,
    };
  });
}

/** Wait until the card has been drawn from an answer (the used bytes are on screen). */
export function cycleDrawn(page) {
  return page.waitForFunction(() => window.NTS?.state.cycle
    && document.querySelector('#cycle [data-field="used"]').textContent !== '—', null, { timeout: 15_000 });
}

/**
 * Check the card against `answer` (the test's own /api/quota): every figure that does not move
 * with the clock is equal; the forecast is the one of the answer the page drew, which must agree
 * with `answer`'s within 0.1 % (it grows with the time between the two answers).
 */
export function assertCardShows(card, answer) {
  const cycle = answer.cycle;
  const { drawn, fields } = card;
  for (const key of ['start', 'end', 'days_left', 'basis', 'used_bytes', 'used_fmt', 'quota_bytes', 'quota_fmt',
    'remaining_bytes', 'remaining_fmt', 'percent', 'runs_out_on']) {
    assert.equal(drawn[key], cycle[key], `the cycle the card was drawn from: ${key}`);
  }
  assert.equal(fields.dates.text, `${cycle.start} → ${cycle.end}`);
  assert.equal(fields.used.text, cycle.used_fmt);
  assert.equal(fields.used.title.replace(/[^0-9]/g, ''), String(cycle.used_bytes), 'exact used bytes on hover');
  assert.equal(fields['days-left'].text, String(cycle.days_left));
  const hasQuota = cycle.quota_bytes !== null;
  assert.equal(card.meterVisible, hasQuota, 'the meter only with a quota');
  assert.equal(fields.remaining.visible, hasQuota, 'remaining only with a quota');
  assert.equal(fields['no-quota'].visible, !hasQuota, 'the no-quota note only without one');
  if (hasQuota) {
    assert.equal(fields.quota.text, cycle.quota_fmt);
    assert.equal(fields.remaining.text, cycle.remaining_fmt);
    assert.equal(fields.percent.text, percentText(cycle.percent));
    assert.ok(Math.abs(card.fillWidth - Math.min(100, cycle.percent)) < 0.01, `meter ${card.fillWidth}% for ${cycle.percent}`);
  }
  assert.equal(drawn.forecast_bytes === null, cycle.forecast_bytes === null, 'a forecast in both answers or in neither');
  if (cycle.forecast_bytes === null) {
    assert.equal(fields.forecast.text, '—');
  } else {
    const drift = Math.abs(drawn.forecast_bytes - cycle.forecast_bytes);
    assert.ok(drift <= cycle.forecast_bytes / 1000, `forecast ${drawn.forecast_bytes} vs ${cycle.forecast_bytes}`);
    const percent = drawn.forecast_percent === null ? '' : ` · ${percentText(drawn.forecast_percent)}`;
    assert.equal(fields.forecast.text, `${drawn.forecast_fmt}${percent}`);
  }
  assert.equal(fields['runs-out'].visible, cycle.runs_out_on !== null, 'runs out on: shown exactly when the answer has it');
  if (cycle.runs_out_on !== null) assert.ok(fields['runs-out'].text.includes(cycle.runs_out_on), fields['runs-out'].text);
  assert.deepEqual(card.cut, [], 'every figure fits its box');
  assert.equal(card.overflows, false, 'nothing sticks out of the card');
  const level = expectedLevel(cycle, answer.alert_at);
  assert.deepEqual(card.classes.filter((c) => c.startsWith('quota-')), [`quota-${level}`], `level for ${cycle.percent} %`);
  if (level !== 'none') assert.equal(card.fillColour, LEVEL_COLOURS[level], `the meter's colour at ${level}`);
  return level;
}
