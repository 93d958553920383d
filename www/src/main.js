// The dashboard: loads every panel from the JSON API, refreshes each at its own pace (live rate
// 3 s, cards and the billing cycle's figures 10 s, today's hours and addresses and the range's
// networks and countries 60 s, 30-day and 12-month bars and the past billing cycles 2 min; paused
// while the tab is hidden), and shows every failed request in the page instead of swallowing it.
// A device chosen in the Top devices panel filters the range's chart and addresses, the services,
// the 30-day and 12-month bars and today's addresses (`device=` of the API) until it is cleared.

import './style.css';
import { ApiError, getJson } from './api.js';
import { QUICK_RANGES, addDays, isDay, localToday, todayIn } from './dates.js';
import { formatBitRate, formatBytes, formatExactBytes, formatPercent, formatShare } from './format.js';
import { applyStatic, serviceLabel, setLang, t } from './i18n.js';

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
  geoip: false, // GEOIP_DB is set: an answer of /api/top_ips named a place (see isNoGeoip)
  device: null, // the device filter: {ip, name, mac} of an /api/devices entry, or null
  rangeTotal: null, // {key, bytes}: the range's total of all devices, the devices' shares' whole
  servicesByDevice: true, // false once /api/services has refused `device` (see getWho)
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

/** The address of the device filter, or '' for every device. */
function deviceIp() {
  return state.device ? state.device.ip : '';
}

function withDevice(params = {}) {
  return state.device ? { ...params, device: state.device.ip } : params;
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
  // Hours are not kept per device: today's hours stay those of every device, and say so.
  $('#hours-note').hidden = !state.device;
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

// With a device chosen, the 30 days and 12 months are /api/query's series for it (the same rows).

async function loadDays() {
  const device = deviceIp();
  let days;
  if (device) {
    const today = serverToday();
    const request = { start: addDays(today, -29), end: today, granularity: 'day', device };
    days = (await getJson('query', withIface(request))).series;
  } else {
    days = (await getJson('history/30days', withIface())).days;
    state.lastDay30 = days.length ? days[days.length - 1].day : null;
  }
  if (device !== deviceIp()) return; // the filter changed meanwhile: its own load draws
  state.data.days = days;
  renderHistory();
}

/** The first day of the month 11 months before `day`'s. */
function twelveMonthsBefore(day) {
  const months = Number(day.slice(0, 4)) * 12 + Number(day.slice(5, 7)) - 1 - 11;
  return `${String(Math.floor(months / 12)).padStart(4, '0')}-${String((months % 12) + 1).padStart(2, '0')}-01`;
}

async function loadMonths() {
  const device = deviceIp();
  let months;
  if (device) {
    const today = serverToday();
    const request = { start: twelveMonthsBefore(today), end: today, granularity: 'month', device };
    months = (await getJson('query', withIface(request))).series;
  } else {
    months = (await getJson('history/12months', withIface())).months;
  }
  if (device !== deviceIp()) return;
  state.data.months = months;
  renderHistory();
}

async function loadHours() {
  state.data.hours = (await getJson('history/today_hours', withIface())).hours;
  renderHistory();
}

/** The flag emoji of a two-letter ISO country code (two regional indicator symbols); '' otherwise. */
function flag(code) {
  if (!/^[A-Za-z]{2}$/.test(code || '')) return '';
  return String.fromCodePoint(...[...code.toUpperCase()].map((letter) => 0x1f1e6 + letter.charCodeAt(0) - 65));
}

/** A country badge, "🇺🇸 US", with the country's name as its tooltip. */
function countryBadge(code, name) {
  const badge = document.createElement('span');
  badge.className = 'cc';
  badge.textContent = `${flag(code)} ${code}`.trim();
  badge.title = name || code;
  return badge;
}

/** "AS8075 Microsoft Corporation", "AS8075" or the organisation alone: whichever is known. */
function networkName(asn, org) {
  return [Number.isFinite(asn) ? `AS${asn}` : '', org || ''].filter(Boolean).join(' ');
}

/** Whether an answer of /api/top_ips names any address's country or network (GEOIP_DB is set). */
function hasPlaces(entries) {
  return Array.isArray(entries) && entries.some((entry) => entry.country || Number.isFinite(entry.asn) || entry.org);
}

/**
 * One row of a ranked list: rank, label, bytes (exact on hover), a bar as wide as the row's share
 * of `whole` (split up/down when both are known), the share. `place` (optional) is a second line
 * under the label; `labelClass` styles the label (`ip` an address, `name` a network or country).
 * A row without `rank` is a remainder (more, unknown, untracked) or the total.
 */
function listRow({ rank, label, labelClass = 'name', title, place, bytes, bytesFmt, up, down, updown = false, cls = '' }, whole) {
  const item = document.createElement('li');
  item.className = [rank && rank <= 3 ? `rank-${rank}` : '', place ? 'has-place' : '', updown ? 'has-updown' : '', cls]
    .filter(Boolean).join(' ');
  const rankCell = document.createElement('span');
  rankCell.className = 'rank';
  rankCell.textContent = rank ? String(rank) : '';
  const labelCell = document.createElement('span');
  labelCell.className = labelClass;
  labelCell.append(...(Array.isArray(label) ? label : [label]));
  labelCell.title = title ?? labelCell.textContent;
  const bytesCell = document.createElement('span');
  bytesCell.className = 'bytes';
  bytesCell.textContent = bytesFmt;
  bytesCell.title = formatExactBytes(bytes);
  const share = document.createElement('span');
  share.className = 'share';
  share.textContent = formatShare(bytes, whole);
  share.title = t('share');
  const bar = document.createElement('span');
  bar.className = 'bar';
  const width = whole ? Math.min(100, (100 * bytes) / whole) : 0;
  if (Number.isFinite(up) && Number.isFinite(down) && bytes > 0) {
    for (const [part, partClass] of [[up, 'up'], [down, 'down']]) {
      const piece = document.createElement('i');
      piece.className = partClass;
      piece.style.width = `${(width * part) / bytes}%`;
      bar.append(piece);
    }
    bar.title = `${t('up')} ${formatBytes(up)} · ${t('down')} ${formatBytes(down)}`;
  } else {
    const piece = document.createElement('i');
    piece.className = 'all';
    piece.style.width = `${width}%`;
    bar.append(piece);
  }
  item.append(rankCell, labelCell);
  if (place) item.append(place);
  if (updown) item.append(upDownCell(up, down));
  item.append(bytesCell, bar, share);
  return item;
}

/** "↑ 1.20 KB ↓ 3.00 MB", each written as the API writes its *_fmt, exact on hover. */
function upDownCell(up, down) {
  const cell = document.createElement('span');
  cell.className = 'updown';
  for (const [value, cls, arrow] of [[up, 'up', '↑'], [down, 'down', '↓']]) {
    const part = document.createElement('span');
    part.className = cls;
    part.textContent = `${arrow} ${formatBytes(value)}`;
    part.title = `${t(cls)} ${formatExactBytes(value)}`;
    cell.append(part);
  }
  return cell;
}

/** The "no data" line of an empty list. */
function emptyList(list) {
  const empty = document.createElement('li');
  empty.className = 'empty';
  empty.textContent = t('no_data');
  list.replaceChildren(empty);
}

/**
 * An address's reverse-DNS name, country badge and network, as the second line of its row (null
 * when none is known).
 */
function placeLine(entry) {
  const network = networkName(entry.asn, entry.org);
  if (!entry.country && !network && !entry.name) return null;
  const line = document.createElement('span');
  line.className = 'place';
  if (entry.name) {
    const host = document.createElement('span');
    host.className = 'host';
    host.textContent = entry.name;
    host.title = entry.name;
    line.append(host);
  }
  if (entry.country) line.append(countryBadge(entry.country, entry.country_name));
  if (network) {
    const org = document.createElement('span');
    org.className = 'org';
    org.textContent = network;
    org.title = network;
    line.append(org);
  }
  return line;
}

function renderTopList(list, entries, total) {
  if (!entries.length) {
    emptyList(list);
    return;
  }
  const whole = total || entries.reduce((sum, entry) => sum + entry.bytes, 0);
  list.replaceChildren(...entries.map((entry, index) => listRow({
    rank: index + 1,
    label: entry.ip,
    place: placeLine(entry),
    bytes: entry.bytes,
    bytesFmt: entry.bytes_fmt,
    up: entry.up_bytes,
    down: entry.down_bytes,
    labelClass: 'ip',
  }, whole)));
}

function renderTopToday() {
  const top = state.data.topToday;
  if (!top) return;
  // Shares of today's total, or of the listed addresses for one device (its total is not asked).
  const total = state.data.summary && !state.device ? state.data.summary.today.total_bytes : 0;
  renderTopList($('#top-today'), top, total);
}

async function loadTopToday() {
  const device = deviceIp();
  const top = (await getJson('top_ips', withIface(withDevice()))).top_ips;
  if (device !== deviceIp()) return;
  state.data.topToday = top;
  if (hasPlaces(state.data.topToday)) state.geoip = true;
  renderTopToday();
}

// ---------------------------------------------------------------------------------------------
// Networks and countries of the range (GEOIP_DB)
// ---------------------------------------------------------------------------------------------

// The panels exist only when the monitor has GEOIP_DB. The page learns it from /api/top_ips: an
// address named with a country or network means the files are there, and from then on
// /api/networks is asked for every range. Without GEOIP_DB the page never asks it (its 400 would
// be a console error each refresh) and the panels stay hidden; should /api/networks still answer
// the 400 that names GEOIP_DB (the monitor restarted without it), they hide again, no banner.

/** Groups listed per panel; the rest is the `more` row. */
const PLACES_LIMIT = 10;
/**
 * How often a range reaching today has its breakdowns asked again: the server looks up every
 * address of the range for each answer, so not at the query's 10 s.
 */
const PLACES_REFRESH_MS = 60_000;

/** Whether `request` needs its breakdowns asked for (always, unless a periodic refresh). */
function placesDue(request, refresh) {
  const shown = state.data.places;
  if (!state.geoip) return false;
  if (!refresh || !shown) return true;
  return shown.request.start !== request.start || shown.request.end !== request.end
    || Date.now() - shown.at >= PLACES_REFRESH_MS;
}

/** Whether an error is /api/networks saying that GEOIP_DB is not set. */
function isNoGeoip(error) {
  return error instanceof ApiError && error.status === 400 && /GEOIP_DB/.test(error.message);
}

/** Both breakdowns of a range; resolves to the error instead of rejecting (as the top list). */
function getPlaces(request) {
  const params = withIface({ start: request.start, end: request.end, limit: PLACES_LIMIT });
  return Promise.all(['asn', 'country'].map((by) => getJson('networks', { ...params, by }))).then(
    ([asn, country]) => ({ asn, country }),
    (error) => error,
  );
}

/** The label of one group: the network's number and organisation, or the country's badge and name. */
function groupLabel(by, group) {
  if (by === 'asn') return networkName(group.asn, group.org) || '—';
  const name = document.createElement('span');
  name.className = 'country-name';
  name.textContent = group.country_name || group.country;
  return [countryBadge(group.country, group.country_name), name];
}

/**
 * One breakdown: the groups heaviest first, then what makes up the rest of the total (more groups,
 * addresses not in the databases, bytes the daily tables did not keep; each when not empty), then
 * the total, so the rows visibly add up to it.
 */
function renderPlaceList(list, answer) {
  const total = answer.total.total_bytes;
  const groups = Array.isArray(answer.networks) ? answer.networks : [];
  if (!groups.length && !total) {
    emptyList(list);
    return;
  }
  const row = (figures, fields) => ({
    bytes: figures.total_bytes,
    bytesFmt: figures.total_fmt,
    up: figures.up_bytes,
    down: figures.down_bytes,
    ...fields,
  });
  const rows = groups.map((group, index) => row(group, {
    rank: index + 1,
    label: groupLabel(answer.by, group),
    title: `${answer.by === 'asn' ? networkName(group.asn, group.org) : group.country_name || group.country} · ${group.addresses} ${t('addresses')}`,
  }));
  const more = answer.more.groups || 0;
  const rest = [
    ['more', more > 0 ? t(answer.by === 'asn' ? 'more_networks' : 'more_countries').replace('{n}', more) : null],
    ['unknown', t('places_unknown')],
    ['untracked', t('places_untracked')],
  ];
  for (const [key, label] of rest) {
    const figures = answer[key];
    if (label && figures.total_bytes > 0) {
      rows.push(row(figures, { label, cls: `rest rest-${key}`, title: t(`places_${key}_tip`) }));
    }
  }
  rows.push(row(answer.total, { label: t('total'), cls: 'sum' }));
  list.replaceChildren(...rows.map((fields) => listRow(fields, total)));
}

function renderPlaces() {
  const places = state.data.places;
  $('#places').hidden = !places;
  if (!places) return;
  const { request } = places;
  const span = request.start === request.end ? request.start : `${request.start} → ${request.end}`;
  for (const element of document.querySelectorAll('#places [data-field="range"]')) element.textContent = span;
  renderPlaceList($('#by-asn'), places.asn);
  renderPlaceList($('#by-country'), places.country);
}

/** Show the breakdowns `answer` of getPlaces() for `request` (or what went wrong). */
function showPlaces(request, answer) {
  if (isNoGeoip(answer)) {
    state.geoip = false;
    state.data.places = null;
    errors.delete('places');
  } else if (answer instanceof Error) {
    errors.set('places', answer);
  } else {
    errors.delete('places');
    state.data.places = { request, at: Date.now(), ...answer };
  }
  showErrors();
  renderPlaces();
}

// ---------------------------------------------------------------------------------------------
// Devices and services of the range, and the device filter
// ---------------------------------------------------------------------------------------------

// Both panels follow the range and the interface. Top devices always lists every device (it is
// where one is chosen); Top services is that of the chosen device when there is one. Clicking a
// device chooses it, clicking it again or the filter's × clears it. The filter is not remembered
// across loads of the page.

/** Devices listed in Top devices. */
const DEVICES_LIMIT = 10;

/** Whether an error is /api/services refusing `device` (a monitor that keeps services per interface only). */
function isNoDeviceServices(error) {
  return error instanceof ApiError && error.status === 400 && /device/.test(error.message);
}

/**
 * Both panels' answers for `request`: `devices` and `services` each its list or its error, and
 * `servicesDevice` the device the services are of ('' for every device). Should /api/services
 * refuse `device`, every device's services are shown (and said so), and it is not asked again.
 */
function getWho(request) {
  const params = withIface({ start: request.start, end: request.end });
  const list = (promise, key) => promise.then((answer) => (Array.isArray(answer[key]) ? answer[key] : []), (error) => error);
  const device = state.servicesByDevice ? deviceIp() : '';
  const services = list(getJson('services', device ? { ...params, device } : params), 'services').then((answer) => {
    if (!device || !isNoDeviceServices(answer)) return { services: answer, servicesDevice: device };
    state.servicesByDevice = false;
    return list(getJson('services', params), 'services').then((all) => ({ services: all, servicesDevice: '' }));
  });
  return Promise.all([list(getJson('devices', { ...params, limit: DEVICES_LIMIT }), 'devices'), services])
    .then(([devices, answer]) => ({ devices, ...answer }));
}

/** The name a device is shown by: its name, else its address. */
function deviceLabel(device) {
  return device.name || device.ip;
}

/** A device's row: its name (when it has one) above its address and MAC, up, down and total. */
function deviceRow(device, index, whole) {
  const first = document.createElement('span');
  first.className = device.name ? 'dev-name' : 'dev-ip';
  first.textContent = device.name || device.ip;
  let place = null;
  if (device.name || device.mac) {
    place = document.createElement('span');
    place.className = 'place';
    if (device.name) {
      const address = document.createElement('span');
      address.className = 'dev-ip';
      address.textContent = device.ip;
      place.append(address);
    }
    if (device.mac) {
      const mac = document.createElement('span');
      mac.className = 'mac';
      mac.textContent = device.mac;
      place.append(mac);
    }
  }
  const selected = deviceIp() === device.ip;
  const item = listRow({
    rank: index + 1,
    label: first,
    labelClass: device.name ? 'name' : 'ip',
    title: [device.name, device.ip, device.mac].filter(Boolean).join(' · '),
    place,
    bytes: device.bytes,
    bytesFmt: device.bytes_fmt,
    up: device.up_bytes,
    down: device.down_bytes,
    updown: true,
    cls: `device${selected ? ' selected' : ''}`,
  }, whole);
  item.dataset.ip = device.ip;
  item.tabIndex = 0;
  item.setAttribute('role', 'button');
  item.setAttribute('aria-pressed', String(selected));
  item.addEventListener('click', () => chooseDevice(selected ? null : device));
  item.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    event.preventDefault();
    chooseDevice(selected ? null : device);
  });
  return item;
}

function renderWho() {
  const who = state.data.who;
  if (!who) return;
  const { request } = who;
  const span = request.start === request.end ? request.start : `${request.start} → ${request.end}`;
  for (const element of document.querySelectorAll('#who [data-field="range"]')) element.textContent = span;
  const devicesList = $('#devices');
  if (Array.isArray(who.devices)) {
    const key = rangeKey(request);
    const whole = state.rangeTotal && state.rangeTotal.key === key
      ? state.rangeTotal.bytes
      : who.devices.reduce((sum, device) => sum + device.bytes, 0);
    if (who.devices.length) devicesList.replaceChildren(...who.devices.map((device, index) => deviceRow(device, index, whole)));
    else emptyList(devicesList);
  }
  const servicesList = $('#services');
  if (Array.isArray(who.services)) {
    // Every service of the range is listed: together they are its whole traffic.
    const whole = who.services.reduce((sum, entry) => sum + entry.bytes, 0);
    if (!who.services.length) emptyList(servicesList);
    else {
      servicesList.replaceChildren(...who.services.map((entry, index) => {
        const name = serviceLabel(entry.service, entry.label);
        const item = listRow({
          rank: index + 1,
          label: name,
          title: name === entry.label ? entry.label : `${name} (${entry.label})`,
          bytes: entry.bytes,
          bytesFmt: entry.bytes_fmt,
          up: entry.up_bytes,
          down: entry.down_bytes,
          updown: true,
          cls: 'service',
        }, whole);
        item.dataset.service = entry.service;
        return item;
      }));
    }
  }
}

/** Show the answers `who` of getWho() for `request` (each list, or what went wrong). */
function showWho(request, who) {
  for (const key of ['devices', 'services']) {
    if (who[key] instanceof Error) errors.set(key, who[key]);
    else errors.delete(key);
  }
  showErrors();
  const shown = state.data.who;
  // A list that failed keeps what it showed (the banner says why).
  state.data.who = {
    request,
    devices: who.devices instanceof Error ? shown?.devices : who.devices,
    services: who.services instanceof Error ? shown?.services : who.services,
    servicesDevice: who.services instanceof Error ? shown?.servicesDevice ?? '' : who.servicesDevice,
  };
  renderWho();
  renderDeviceFilter();
}

function rangeKey(request) {
  return `${request.start}|${request.end}|${state.iface}`;
}

/** The filter bar, the "Device: …" tags of the filtered panels, the rows' selection. */
function renderDeviceFilter() {
  const device = state.device;
  const bar = $('#device-filter');
  bar.hidden = !device;
  const clear = $('#device-clear');
  clear.title = t('device_clear');
  clear.setAttribute('aria-label', t('device_clear'));
  if (device) {
    const name = bar.querySelector('[data-field="device"]');
    name.textContent = device.name ? `${device.name} (${device.ip})` : device.ip;
    name.title = [device.name, device.ip, device.mac].filter(Boolean).join(' · ');
  }
  for (const tag of document.querySelectorAll('[data-device-tag]')) {
    tag.hidden = !device;
    tag.textContent = device ? t('device_tag').replace('{name}', deviceLabel(device)) : '';
    tag.title = device ? device.ip : '';
  }
  // The services are the device's once their answer is; every device's when the server keeps
  // them per interface only (then a note says so instead of the tag).
  const servicesOf = state.data.who?.servicesDevice ?? '';
  $('#services-tag').hidden = !device || servicesOf !== device.ip;
  $('#services-all').hidden = !device || state.servicesByDevice;
  const query = state.data.query;
  $('#device-note').hidden = !(device && query && query.request.granularity === 'hour');
  $('#hours-note').hidden = !device;
}

/** Filter by `device` (an /api/devices entry), or by none; every filtered panel is asked again. */
function chooseDevice(device) {
  state.device = device ? { ip: device.ip, name: device.name || '', mac: device.mac || '' } : null;
  renderDeviceFilter();
  renderWho(); // the selection at once; the services follow with the query
  if (state.data.query) runQuery(state.data.query.request);
  guarded('days', loadDays);
  guarded('months', loadMonths);
  guarded('top', loadTopToday);
  renderHistory();
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
    const granularity = answer.granularity || request.granularity;
    const points = toPoints[granularity](result.series, request.start === request.end);
    chartKit.drawTraffic(charts.query, points, granularity === 'hour' ? 'area' : 'bars');
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
    // The breakdowns are asked alongside when GEOIP_DB is known to be set, else after the top
    // list, when it names a place.
    const placesEarly = placesDue(request, refresh) ? getPlaces(request) : null;
    // Hours are not kept per device: one device's range is asked by day (and the page says so).
    const device = deviceIp();
    const granularity = device && request.granularity === 'hour' ? 'day' : request.granularity;
    const [result, top, who] = await Promise.all([
      getJson('query', withIface(withDevice({ ...request, granularity }))),
      getJson('top_ips', withIface(withDevice({ start: request.start, end: request.end, limit: 10 }))).then(
        (answer) => answer.top_ips,
        (error) => error, // the chart is still worth showing; the banner tells about the list
      ),
      getWho(request),
    ]);
    if (seq !== state.querySeq) return; // a newer query was sent meanwhile
    errors.delete('query');
    if (top instanceof Error) errors.set('top-range', top);
    else errors.delete('top-range');
    showErrors();
    if (!device) state.rangeTotal = { key: rangeKey(request), bytes: result.summary.total_bytes };
    state.data.query = { request, granularity, device, result, top };
    renderQuery();
    renderDeviceFilter();
    showWho(request, who);
    if (hasPlaces(top)) state.geoip = true;
    if (placesEarly || placesDue(request, refresh)) {
      const places = await (placesEarly || getPlaces(request));
      if (seq === state.querySeq) showPlaces(request, places);
    }
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
  $('#device-clear').addEventListener('click', () => chooseDevice(null));
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
  renderPlaces();
  renderWho();
  renderDeviceFilter();
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
