// The dashboard: loads every panel from the JSON API, refreshes each at its own pace (live rate
// 3 s, cards and the billing cycle's figures 10 s, today's hours and addresses 60 s, 30-day and
// 12-month bars and the past billing cycles 2 min; paused while the tab is hidden), and shows
// every failed request in the page instead of swallowing it.

import './style.css';
import { ApiError, getJson } from './api.js';
import { QUICK_RANGES, isDay, localToday, todayIn } from './dates.js';
import { formatBitRate, formatBytes, formatExactBytes, formatPercent, formatShare } from './format.js';
import { applyStatic, setLang, t } from './i18n.js';

const $ = (selector) => document.querySelector(selector);
const IFACE_KEY = 'nts.iface';

const state = {
  iface: readStored(IFACE_KEY) || '',
  timezone: null,
  lastDay30: null, // the last day of /api/history/30days: the server's today when its zone is unknown to the browser
  dateRange: null,
  granularity: 'hour',
  quick: null,
  data: {},
  cycle: null, // the billing cycle the card shows: summary's or quota's, whichever is newer
  querySeq: 0,
  queryBusy: false,
};

// ECharts is 93 % of the page's weight: it is a separate module, fetched in parallel (the page
// preloads it) but parsed after this one, so the cards and their numbers are on screen before the
// charts are ready. `chartKit` is charts.js once it has arrived.
let chartKit = null;
const charts = {};

// For debugging from the console and for the browser tests: what each chart really drew.
window.NTS = { charts, state };

function readStored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function writeStored(key, value) {
  try {
    if (value) localStorage.setItem(key, value);
    else localStorage.removeItem(key);
  } catch {
    // Storage disabled: the choice lasts for this page only.
  }
}

/** The server's today: by its zone, else the last day of its 30-day history, else ours. */
function serverToday() {
  return todayIn(state.timezone) || state.lastDay30 || localToday();
}

function withIface(params = {}) {
  return state.iface ? { ...params, iface: state.iface } : params;
}

// ---------------------------------------------------------------------------------------------
// Errors shown in the page
// ---------------------------------------------------------------------------------------------

const errors = new Map();

function describe(error) {
  if (error instanceof ApiError) {
    if (error.status === 0) return `${t('err_unreachable')} (api/${error.path}): ${error.message}`;
    return `${t('err_prefix')} api/${error.path} → ${error.status}: ${error.message}`;
  }
  return String(error && error.message ? error.message : error);
}

function showErrors() {
  const box = $('#errors');
  box.replaceChildren(...[...errors.values()].map((error) => {
    const line = document.createElement('p');
    line.textContent = describe(error);
    return line;
  }));
  box.hidden = errors.size === 0;
}

/** Run one loader; a failure is listed in the page until the same loader succeeds again. */
async function guarded(key, loader) {
  try {
    await loader();
    if (errors.delete(key)) showErrors();
  } catch (error) {
    errors.set(key, error);
    showErrors();
  }
}

// ---------------------------------------------------------------------------------------------
// Cards, live rate, interfaces, time zone
// ---------------------------------------------------------------------------------------------

/**
 * Write `text` into `root`'s [data-field=FIELD], with the exact byte count `exact` on hover (none
 * when `exact` is null; the title is left alone when it is not given).
 */
function setField(root, field, text, exact) {
  const element = root.querySelector(`[data-field="${field}"]`);
  if (!element) return;
  element.textContent = text;
  if (exact !== undefined) element.title = exact === null ? '' : formatExactBytes(exact);
}

function fillCard(card, figures) {
  const set = (field, text, exact) => setField(card, field, text, exact);
  set('total', figures.total_fmt, figures.total_bytes);
  const arrows = card.classList.contains('card-updown') ? ['', ''] : ['↑ ', '↓ '];
  set('up', `${arrows[0]}${figures.up_fmt}`, figures.up_bytes);
  set('down', `${arrows[1]}${figures.down_fmt}`, figures.down_bytes);
  const total = figures.up_bytes + figures.down_bytes;
  const upShare = card.querySelector('[data-field="up-share"]');
  if (upShare) {
    upShare.style.flexGrow = total ? figures.up_bytes : 1;
    card.querySelector('[data-field="down-share"]').style.flexGrow = total ? figures.down_bytes : 1;
  }
}

function renderSummary() {
  const summary = state.data.summary;
  if (!summary) return;
  fillCard($('#card-today'), summary.today);
  fillCard($('#card-month'), summary.month);
  fillCard($('#card-year'), summary.year);
  fillCard($('#card-updown'), summary.today);
  renderCycle();
  $('#timezone').textContent = summary.timezone || '—';
  renderInterfaces(
    Array.isArray(summary.interfaces) ? summary.interfaces : [],
    Array.isArray(summary.not_captured) ? summary.not_captured : [],
  );
}

// Every interface with history is selectable; one that is not captured now (MONITOR_IFACE
// changed, an update renamed eth0) says so in its label.
function renderInterfaces(names, notCaptured) {
  const box = $('#iface-box');
  const select = $('#iface');
  box.hidden = names.length < 2;
  const label = (name) => (notCaptured.includes(name) ? `${name} (${t('not_captured')})` : name);
  const options = [['', t('all_interfaces')], ...names.map((name) => [name, label(name)])];
  select.replaceChildren(...options.map(([value, label]) => {
    const option = document.createElement('option');
    option.value = value;
    option.textContent = label;
    return option;
  }));
  select.value = state.iface;
}

async function loadSummary() {
  let summary;
  try {
    summary = await getJson('summary', withIface());
  } catch (error) {
    if (state.iface && error instanceof ApiError && error.status === 400) {
      // The remembered interface is no longer monitored (the server names it in a 400): back
      // to all of them, which also tells which interfaces there are now.
      forgetIface();
      return;
    }
    throw error;
  }
  state.data.summary = summary;
  state.timezone = summary.timezone || null;
  const names = Array.isArray(summary.interfaces) ? summary.interfaces : [];
  if (state.iface && names.length && !names.includes(state.iface)) {
    forgetIface();
    return;
  }
  renderSummary();
}

function forgetIface() {
  state.iface = '';
  writeStored(IFACE_KEY, '');
  errors.clear();
  showErrors();
  refreshAll();
}

function renderRealtime() {
  const live = state.data.realtime;
  if (!live) return;
  const up = $('#rate-up');
  const down = $('#rate-down');
  up.textContent = formatBitRate(live.current_up_bps);
  down.textContent = formatBitRate(live.current_down_bps);
  up.parentElement.title = `${formatBytes(live.current_up_Bps)}/s`;
  down.parentElement.title = `${formatBytes(live.current_down_Bps)}/s`;
  drawSpark(Array.isArray(live.samples) ? live.samples : []);
}

function drawSpark(samples) {
  const svg = $('#spark');
  const max = Math.max(1, ...samples.map((s) => Math.max(s.up || 0, s.down || 0)));
  const path = (key) => samples.map((sample, index) => {
    const x = samples.length > 1 ? (120 * index) / (samples.length - 1) : 0;
    const y = 30 - (28 * (sample[key] || 0)) / max;
    return `${index ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`;
  }).join('');
  svg.querySelector('.spark-up').setAttribute('d', path('up'));
  svg.querySelector('.spark-down').setAttribute('d', path('down'));
}

async function loadRealtime() {
  state.data.realtime = await getJson('realtime', withIface());
  renderRealtime();
}

function renderHealth() {
  const health = state.data.health;
  const box = $('#health');
  if (!health) return;
  const interfaces = Array.isArray(health.interfaces) ? health.interfaces : [];
  box.replaceChildren(...interfaces.map((entry) => {
    const item = document.createElement('span');
    item.className = `health-item ${entry.state === 'capturing' ? 'ok' : 'bad'}`;
    const drops = Number(entry.drops ?? entry.ring_drops);
    const stateText = entry.state === 'capturing' ? t('capturing') : String(entry.state ?? '?');
    item.textContent = `${entry.name} · ${stateText}${Number.isFinite(drops) ? ` · ${t('drops')} ${drops}` : ''}`;
    return item;
  }), ...(Array.isArray(health.not_captured) ? health.not_captured : []).map((name) => {
    const item = document.createElement('span');
    item.className = 'health-item';
    item.textContent = `${name} · ${t('not_captured')}`;
    return item;
  }));
}

async function loadHealth() {
  try {
    state.data.health = await getJson('health');
  } catch (error) {
    // 503 means capture stopped: its body still says which interface and why.
    if (error instanceof ApiError && error.body) {
      state.data.health = error.body;
      renderHealth();
    }
    throw error;
  }
  renderHealth();
}

// ---------------------------------------------------------------------------------------------
// Billing cycle
// ---------------------------------------------------------------------------------------------

// The current cycle is the same object in /api/summary (every 10 s, with the cards) and in
// /api/quota (every 2 min, with the past cycles, the alert thresholds and the interfaces that
// count): the card shows whichever answer is the more recent. Every figure is the answer's own.

/** The more recent of two cycle objects (by the instant `ts` they are for). */
function newerCycle(a, b) {
  if (!a) return b || null;
  if (!b) return a;
  return b.ts > a.ts ? b : a;
}

/**
 * "none" without a quota or before the thresholds are known, "over" from 100 %, "warn" from the
 * lowest ALERT_AT threshold below 100 (the one that raises the first alert), else "ok".
 */
function quotaLevel(cycle, alertAt) {
  if (cycle.percent === null || cycle.percent === undefined) return 'none';
  if (cycle.percent >= 100) return 'over';
  if (!Array.isArray(alertAt)) return 'none';
  const warnAt = Math.min(...alertAt.filter((percent) => percent < 100));
  return cycle.percent >= warnAt ? 'warn' : 'ok';
}

function renderCycle() {
  const quota = state.data.quota;
  const cycle = newerCycle(state.data.summary?.cycle, quota?.cycle);
  if (!cycle) return;
  state.cycle = cycle; // the answer on screen (the browser tests compare it)
  const box = $('#cycle');
  const set = (field, text, exact) => setField(box, field, text, exact);
  const hasQuota = cycle.quota_bytes !== null && cycle.quota_bytes !== undefined;
  set('dates', `${cycle.start} → ${cycle.end}`);
  const basis = t(`basis_${cycle.basis}`);
  set('basis', basis === `basis_${cycle.basis}` ? cycle.basis : basis);
  set('used', cycle.used_fmt, cycle.used_bytes);
  set('days-left', String(cycle.days_left));
  let forecast = '—';
  if (cycle.forecast_fmt) {
    forecast = cycle.forecast_percent === null || cycle.forecast_percent === undefined
      ? cycle.forecast_fmt
      : `${cycle.forecast_fmt} · ${formatPercent(cycle.forecast_percent)}`;
  }
  set('forecast', forecast, cycle.forecast_bytes);
  for (const element of box.querySelectorAll('[data-quota]')) element.hidden = !hasQuota;
  box.querySelector('[data-field="no-quota"]').hidden = hasQuota;
  if (hasQuota) {
    set('quota', cycle.quota_fmt, cycle.quota_bytes);
    set('remaining', cycle.remaining_fmt, cycle.remaining_bytes);
    set('percent', formatPercent(cycle.percent));
    box.querySelector('[data-field="fill"]').style.width = `${Math.min(100, Math.max(0, cycle.percent))}%`;
  }
  const runsOut = box.querySelector('[data-field="runs-out"]');
  runsOut.hidden = !cycle.runs_out_on;
  runsOut.textContent = cycle.runs_out_on ? t('cycle_runs_out').replace('{date}', cycle.runs_out_on) : '';
  if (quota) {
    const names = Array.isArray(quota.interfaces) ? quota.interfaces : [];
    set('scope', names.length ? names.join(', ') : t('all_interfaces'));
  }
  const level = quotaLevel(cycle, quota?.alert_at);
  for (const name of ['none', 'ok', 'warn', 'over']) box.classList.toggle(`quota-${name}`, name === level);
}

/** The 12 cycles before this one as stacked bars, with the quota as a line when it applies. */
function renderPast() {
  const quota = state.data.quota;
  if (!chartKit || !quota || !Array.isArray(quota.past)) return;
  const points = quota.past.map((cycle) => ({
    label: cycle.start.slice(0, 7),
    title: `${cycle.start} → ${cycle.end}`,
    up: cycle.up_bytes,
    down: cycle.down_bytes,
  }));
  // The bars stack up and down, so the quota line is drawn only when that sum is what counts.
  const quotaBytes = quota.cycle.quota_bytes;
  const limit = quota.cycle.basis === 'total' && Number.isFinite(quotaBytes) ? { value: quotaBytes, label: t('cycle_limit') } : null;
  for (const element of $('#cycle').querySelectorAll('[data-limit]')) element.hidden = !limit;
  chartKit.drawTraffic(charts.past, points, 'bars', { limit });
}

async function loadQuota() {
  state.data.quota = await getJson('quota', withIface());
  renderCycle();
  renderPast();
}

// ---------------------------------------------------------------------------------------------
// History charts and today's addresses
// ---------------------------------------------------------------------------------------------

const toPoints = {
  hour: (rows, oneDay) => rows.map((row) => ({
    label: oneDay ? row.hour_ts.slice(11, 16) : `${row.hour_ts.slice(5, 10)} ${row.hour_ts.slice(11, 16)}`,
    title: row.hour_ts.slice(0, 16),
    up: row.up_bytes,
    down: row.down_bytes,
  })),
  day: (rows) => rows.map((row) => ({ label: row.day.slice(5), title: row.day, up: row.up_bytes, down: row.down_bytes })),
  month: (rows) => rows.map((row) => ({ label: row.month, title: row.month, up: row.up_bytes, down: row.down_bytes })),
};

function renderHistory() {
  if (!chartKit) return;
  const { days, months, hours } = state.data;
  if (days) chartKit.drawTraffic(charts.days, toPoints.day(days), 'bars');
  if (months) chartKit.drawTraffic(charts.months, toPoints.month(months), 'bars');
  if (hours) chartKit.drawTraffic(charts.hours, toPoints.hour(hours, true), 'area');
  renderPast();
}

function loadCharts() {
  return import('./charts.js').then((kit) => {
    chartKit = kit;
    for (const name of ['query', 'days', 'months', 'hours', 'past']) charts[name] = kit.mountChart($(`#chart-${name}`));
    if (errors.delete('charts')) showErrors();
    renderHistory();
    renderQuery();
  }, (error) => {
    errors.set('charts', error);
    showErrors();
  });
}

async function loadDays() {
  const answer = await getJson('history/30days', withIface());
  state.data.days = answer.days;
  state.lastDay30 = answer.days.length ? answer.days[answer.days.length - 1].day : null;
  renderHistory();
}

async function loadMonths() {
  state.data.months = (await getJson('history/12months', withIface())).months;
  renderHistory();
}

async function loadHours() {
  state.data.hours = (await getJson('history/today_hours', withIface())).hours;
  renderHistory();
}

function renderTopList(list, entries, total) {
  if (!entries.length) {
    const empty = document.createElement('li');
    empty.className = 'empty';
    empty.textContent = t('no_data');
    list.replaceChildren(empty);
    return;
  }
  const whole = total || entries.reduce((sum, entry) => sum + entry.bytes, 0);
  list.replaceChildren(...entries.map((entry, index) => {
    const item = document.createElement('li');
    item.className = index < 3 ? `rank-${index + 1}` : '';
    const rank = document.createElement('span');
    rank.className = 'rank';
    rank.textContent = String(index + 1);
    const ip = document.createElement('span');
    ip.className = 'ip';
    ip.textContent = entry.ip;
    ip.title = entry.ip;
    const bytes = document.createElement('span');
    bytes.className = 'bytes';
    bytes.textContent = entry.bytes_fmt;
    bytes.title = formatExactBytes(entry.bytes);
    const share = document.createElement('span');
    share.className = 'share';
    share.textContent = formatShare(entry.bytes, whole);
    share.title = t('share');
    const bar = document.createElement('span');
    bar.className = 'bar';
    const width = whole ? Math.min(100, (100 * entry.bytes) / whole) : 0;
    if (Number.isFinite(entry.up_bytes) && Number.isFinite(entry.down_bytes) && entry.bytes > 0) {
      for (const [key, cls] of [['up_bytes', 'up'], ['down_bytes', 'down']]) {
        const part = document.createElement('i');
        part.className = cls;
        part.style.width = `${(width * entry[key]) / entry.bytes}%`;
        bar.append(part);
      }
      bar.title = `${t('up')} ${formatBytes(entry.up_bytes)} · ${t('down')} ${formatBytes(entry.down_bytes)}`;
    } else {
      const part = document.createElement('i');
      part.className = 'all';
      part.style.width = `${width}%`;
      bar.append(part);
    }
    item.append(rank, ip, bytes, bar, share);
    return item;
  }));
}

function renderTopToday() {
  const top = state.data.topToday;
  if (!top) return;
  const total = state.data.summary ? state.data.summary.today.total_bytes : 0;
  renderTopList($('#top-today'), top, total);
}

async function loadTopToday() {
  state.data.topToday = (await getJson('top_ips', withIface())).top_ips;
  renderTopToday();
}

// ---------------------------------------------------------------------------------------------
// Date range query
// ---------------------------------------------------------------------------------------------

function setGranularity(granularity) {
  state.granularity = granularity;
  for (const button of document.querySelectorAll('[data-granularity]')) {
    button.setAttribute('aria-pressed', String(button.dataset.granularity === granularity));
  }
}

function markQuick(key) {
  state.quick = key;
  for (const button of document.querySelectorAll('[data-range]')) {
    button.setAttribute('aria-pressed', String(button.dataset.range === key));
  }
}

function applyDateLimits() {
  const today = serverToday();
  const range = state.dateRange;
  const min = range && isDay(range.min) ? range.min : '';
  const max = range && isDay(range.max) && range.max > today ? range.max : today;
  for (const input of [$('#start'), $('#end')]) {
    input.min = min;
    input.max = max;
  }
}

async function loadDateRange() {
  state.dateRange = await getJson('date_range', withIface());
  applyDateLimits();
}

function queryError(message) {
  const box = $('#query-error');
  box.textContent = message || '';
  box.hidden = !message;
}

function renderQuery() {
  const answer = state.data.query;
  if (!answer) return;
  const { request, result } = answer;
  const bar = $('#query-summary');
  const set = (field, text, exact) => {
    const element = bar.querySelector(`[data-field="${field}"]`);
    element.textContent = text;
    element.title = exact === undefined ? '' : formatExactBytes(exact);
  };
  set('total', result.summary.total_fmt, result.summary.total_bytes);
  set('up', result.summary.up_fmt, result.summary.up_bytes);
  set('down', result.summary.down_fmt, result.summary.down_bytes);
  const span = request.start === request.end ? request.start : `${request.start} → ${request.end}`;
  set('range', `${span} · ${result.series.length} ${t('points')}`);
  if (chartKit) {
    const points = toPoints[request.granularity](result.series, request.start === request.end);
    chartKit.drawTraffic(charts.query, points, request.granularity === 'hour' ? 'area' : 'bars');
  }
  renderTopList($('#top-range'), Array.isArray(answer.top) ? answer.top : [], result.summary.total_bytes);
}

/** The range in the form, checked; null (with the reason shown) when it cannot be sent. */
function formRequest() {
  const request = { start: $('#start').value, end: $('#end').value, granularity: state.granularity };
  let problem = null;
  if (!isDay(request.start) || !isDay(request.end)) problem = t('err_dates');
  else if (request.end < request.start) problem = t('err_order');
  if (problem) queryError(problem);
  return problem ? null : request;
}

/**
 * Ask for one range and draw it. `refresh` is the periodic update of the range on screen: it
 * keeps the form's state and any error as they are, and gives way to a query the user started.
 */
async function runQuery(request, { refresh = false } = {}) {
  if (refresh && state.queryBusy) return;
  if (!refresh) queryError('');
  const seq = ++state.querySeq;
  state.queryBusy = true;
  if (!refresh) $('#query-summary').classList.add('busy');
  try {
    const [result, top] = await Promise.all([
      getJson('query', withIface(request)),
      getJson('top_ips', withIface({ start: request.start, end: request.end, limit: 10 })).then(
        (answer) => answer.top_ips,
        (error) => error, // the chart is still worth showing; the banner tells about the list
      ),
    ]);
    if (seq !== state.querySeq) return; // a newer query was sent meanwhile
    errors.delete('query');
    if (top instanceof Error) errors.set('top-range', top);
    else errors.delete('top-range');
    showErrors();
    state.data.query = { request, result, top };
    renderQuery();
  } catch (error) {
    if (seq === state.querySeq && !refresh) queryError(describe(error));
    if (refresh) {
      errors.set('query', error);
      showErrors();
    }
  } finally {
    if (seq === state.querySeq) {
      state.queryBusy = false;
      $('#query-summary').classList.remove('busy');
    }
  }
}

/** The range on screen again, when it reaches today (its figures grow like the cards'). */
function refreshQuery() {
  const shown = state.data.query;
  if (shown && shown.request.end >= serverToday()) return runQuery(shown.request, { refresh: true });
  return undefined;
}

function runQuick(key) {
  const range = QUICK_RANGES[key](serverToday());
  $('#start').value = range.start;
  $('#end').value = range.end;
  setGranularity(range.granularity);
  markQuick(key);
  runQuery(range);
}

function runForm() {
  const request = formRequest();
  if (request) runQuery(request);
}

function wireQuery() {
  $('#query-form').addEventListener('submit', (event) => {
    event.preventDefault();
    markQuick(null);
    runForm();
  });
  for (const button of document.querySelectorAll('[data-range]')) {
    button.addEventListener('click', () => runQuick(button.dataset.range));
  }
  for (const button of document.querySelectorAll('[data-granularity]')) {
    button.addEventListener('click', () => {
      if (button.dataset.granularity === state.granularity) return;
      setGranularity(button.dataset.granularity);
      // A manual override of a range already shown applies at once.
      if (state.data.query) runForm();
    });
  }
  for (const input of [$('#start'), $('#end')]) {
    input.addEventListener('change', () => markQuick(null));
  }
}

// ---------------------------------------------------------------------------------------------
// Refreshing
// ---------------------------------------------------------------------------------------------

const SECOND = 1000;
const schedules = [
  { every: 3 * SECOND, run: () => guarded('realtime', loadRealtime) },
  { every: 10 * SECOND, run: () => guarded('summary', loadSummary).then(renderTopToday).then(refreshQuery) },
  { every: 30 * SECOND, run: () => guarded('health', loadHealth) },
  { every: 60 * SECOND, run: () => Promise.all([guarded('hours', loadHours), guarded('top', loadTopToday)]) },
  {
    every: 120 * SECOND,
    run: () => Promise.all([
      guarded('days', loadDays),
      guarded('months', loadMonths),
      guarded('quota', loadQuota),
      guarded('date-range', loadDateRange),
    ]),
  },
];

function refreshAll() {
  for (const schedule of schedules) schedule.run();
  if (state.data.query) runQuery(state.data.query.request);
}

function startTimers() {
  for (const schedule of schedules) {
    setInterval(() => {
      if (!document.hidden) schedule.run();
    }, schedule.every);
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refreshAll();
  });
}

function wireControls() {
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.addEventListener('click', () => {
      setLang(button.dataset.lang);
      rerender();
    });
  }
  $('#iface').addEventListener('change', (event) => {
    state.iface = event.target.value;
    writeStored(IFACE_KEY, state.iface);
    refreshAll();
  });
}

/** Everything that writes text from code, again (after a language switch). */
function rerender() {
  showErrors();
  renderSummary();
  renderRealtime();
  renderHealth();
  renderHistory();
  renderTopToday();
  renderQuery();
}

/** Run `task` once the browser has painted what is on screen now. */
function afterPaint(task) {
  requestAnimationFrame(() => setTimeout(task, 0));
}

async function start() {
  applyStatic();
  wireControls();
  wireQuery();
  setGranularity('hour');
  // The zone decides what "today" is for the first query; the rest loads in parallel. The charts
  // module (already downloading, preloaded by the page) is run once the cards are on screen:
  // running ECharts takes the main thread for a while on a slow phone.
  await guarded('summary', loadSummary);
  afterPaint(loadCharts);
  await Promise.all([
    guarded('days', loadDays),
    guarded('months', loadMonths),
    guarded('quota', loadQuota),
    guarded('hours', loadHours),
    guarded('top', loadTopToday),
    guarded('date-range', loadDateRange),
    guarded('realtime', loadRealtime),
    guarded('health', loadHealth),
  ]);
  renderTopToday();
  runQuick('today');
  startTimers();
}

start();
