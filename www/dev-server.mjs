// For working on the page without root or a capture: serves a build of the page and answers the
// API in the shapes of the real server's answers (the original's, as recorded), filled with made-up,
// repeatable traffic (zero-filled series for any range, like the real server). Never used by
// the tests, which run the real binary.
//
//   node build.mjs /tmp/www && node dev-server.mjs /tmp/www 8099 [--ifaces eth0,wg0] [--fail summary]
//     [--quota GIB]   (the billing cycle's quota in GiB, default 100; 0: no QUOTA)
//     [--geoip]       (as with GEOIP_DB: places in /api/top_ips, /api/networks answers)

import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';

const [root = '/tmp/www', port = '8099'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const option = (name) => {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : null;
};
const ifaces = (option('ifaces') || 'eth0').split(',');
const failing = new Set((option('fail') || '').split(',').filter(Boolean));
const quotaBytes = Number(option('quota') ?? 100) * 1024 ** 3 || null;
const geoip = process.argv.includes('--geoip');

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.txt': 'text/plain; charset=utf-8' };
const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
const fmt = (n) => {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) { v /= 1024; u += 1; }
  return `${v.toFixed(2)} ${UNITS[u]}`;
};
const pad = (n) => String(n).padStart(2, '0');
const dayOf = (date) => `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
const today = dayOf(new Date());
const parse = (day) => new Date(`${day}T00:00:00Z`);

// Repeatable traffic per hour: a daily curve times a per-day factor.
function hourBytes(day, hour) {
  if (day > today) return [0, 0];
  let seed = [...`${day}${hour}`].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7);
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const curve = 0.3 + Math.max(0, Math.sin(((hour - 6) / 24) * 2 * Math.PI)) * 1.4;
  const down = Math.round(curve * (40 + 200 * rnd()) * 1024 * 1024);
  return [Math.round(down * (0.05 + 0.2 * rnd())), down];
}
const sum = (rows) => rows.reduce((a, [u, d]) => [a[0] + u, a[1] + d], [0, 0]);
const figures = ([up, down]) => ({ up_bytes: up, down_bytes: down, total_bytes: up + down, up_fmt: fmt(up), down_fmt: fmt(down), total_fmt: fmt(up + down) });
const days = (start, end) => {
  const out = [];
  for (let d = parse(start); dayOf(d) <= end; d.setUTCDate(d.getUTCDate() + 1)) out.push(dayOf(d));
  return out;
};
const dayBytes = (day) => sum(Array.from({ length: 24 }, (_, h) => hourBytes(day, h)));

function query(params) {
  const start = params.get('start');
  const end = params.get('end');
  const granularity = params.get('granularity') || 'day';
  if (!start || !end) return [400, { error: 'start and end are required' }];
  if (end < start) return [400, { error: 'end is before start' }];
  if (!['hour', 'day', 'month'].includes(granularity)) return [400, { error: `unknown granularity "${granularity}"` }];
  if (params.get('device') && granularity === 'hour') return [400, { error: 'granularity=hour is not kept per device: use day or month' }];
  let series;
  if (granularity === 'hour') {
    series = days(start, end).flatMap((day) => Array.from({ length: 24 }, (_, h) => {
      const [up, down] = hourBytes(day, h);
      return { hour_ts: `${day} ${pad(h)}:00:00`, up_bytes: up, down_bytes: down, total_bytes: up + down };
    }));
  } else if (granularity === 'day') {
    series = days(start, end).map((day) => {
      const [up, down] = dayBytes(day);
      return { day, up_bytes: up, down_bytes: down, total_bytes: up + down };
    });
  } else {
    const months = new Map();
    for (const day of days(start, end)) {
      const [up, down] = dayBytes(day);
      const m = months.get(day.slice(0, 7)) || [0, 0];
      months.set(day.slice(0, 7), [m[0] + up, m[1] + down]);
    }
    series = [...months].map(([month, [up, down]]) => ({ month, up_bytes: up, down_bytes: down, total_bytes: up + down }));
  }
  return [200, { series, summary: figures(sum(series.map((r) => [r.up_bytes, r.down_bytes]))) }];
}

// Made-up places for --geoip, one per peer (null: an address no file knows).
const PLACES = [
  { country: 'US', country_name: 'United States', asn: 15169, org: 'Google LLC' },
  { country: 'DE', country_name: 'Germany', asn: 24940, org: 'Hetzner Online GmbH' },
  { country: 'US', country_name: 'United States', asn: 13335, org: 'Cloudflare, Inc.' },
  { country: 'JP', country_name: 'Japan', asn: 2516, org: 'KDDI CORPORATION' },
  null,
  { country: 'CN', country_name: 'China', asn: 4134, org: 'Chinanet' },
  { country: 'NL', country_name: 'Netherlands', asn: 60781, org: 'LeaseWeb Netherlands B.V.' },
  { country: 'US', country_name: 'United States', asn: 15169, org: 'Google LLC' },
  { country: 'SG', country_name: 'Singapore', asn: 16509, org: 'Amazon.com, Inc.' },
  { country: 'FR', country_name: 'France', asn: 16276, org: 'OVH SAS' },
];

function peers() {
  // Made-up peers from the documentation ranges, the largest first, as the real answer orders them.
  const ips = ['203.0.113.10', '198.51.100.7', '2001:db8::443', '203.0.113.99', '198.51.100.53', '2001:db8:1::8', '203.0.113.4', '198.51.100.200', '2001:db8:2::1', '203.0.113.250'];
  return ips.map((ip, i) => {
    const bytes = Math.round(1.1e9 / (i + 1) ** 1.4);
    const up = Math.round(bytes * 0.12);
    return { ip, bytes, bytes_fmt: fmt(bytes), up_bytes: up, down_bytes: bytes - up, ...(geoip ? PLACES[i] : null) };
  });
}

function topIps() {
  return [200, { top_ips: peers() }];
}

// Made-up devices and services (/api/devices, /api/services); `device=` scales the services down
// and refuses hourly queries, as the real server does.
const DEVICES = [
  { ip: '192.168.1.20', name: 'Living-room TV', mac: '3c:7c:3f:1e:20:aa' },
  { ip: '192.168.1.10', name: 'NAS', mac: '00:11:32:aa:bb:cc' },
  { ip: '192.168.1.35', mac: 'a4:83:e7:12:34:56' },
  { ip: 'fd00::5eb7:1fff:fe00:30' },
  { ip: '192.168.1.60', name: 'A laptop with a rather long name for the narrow phone layout' },
];
const SERVICES = [
  ['https', 'HTTPS'], ['quic', 'QUIC (HTTP/3)'], ['plex', 'Plex'], ['wireguard', 'WireGuard'],
  ['dns', 'DNS'], ['bittorrent', 'BitTorrent'], ['other-tcp', 'Other TCP'], ['icmp', 'ICMP (ping)'], ['fragment', 'IP fragments after the first'],
];
const entry = (bytes, share) => {
  const up = Math.round(bytes * share);
  return { bytes, bytes_fmt: fmt(bytes), up_bytes: up, down_bytes: bytes - up };
};
function devices(params) {
  const limit = Number(params.get('limit') || 20);
  return [200, { devices: DEVICES.slice(0, limit).map((d, i) => ({ ...d, ...entry(Math.round(2.3e9 / (i + 1) ** 1.6), 0.08 + 0.05 * i) })) }];
}
function services(params) {
  const scale = params.get('device') ? 0.3 : 1;
  return [200, { services: SERVICES.map(([service, label], i) => ({ service, label, ...entry(Math.round((scale * 1.7e9) / (i + 1) ** 1.5), 0.1) })) }];
}

/** /api/networks over the made-up peers: groups, more, unknown, untracked (a fifth), total. */
function networks(params) {
  if (!geoip) return [400, { error: 'networks and countries need GEOIP_DB (a .mmdb file such as DB-IP Lite; see docs/geoip.md), which is not set' }];
  const by = params.get('by') || 'country';
  const limit = Number(params.get('limit') || 20);
  const groups = new Map();
  let unknown = [0, 0, 0];
  for (const peer of peers()) {
    const key = by === 'asn' ? peer.asn : peer.country;
    if (key === undefined) {
      unknown = [unknown[0] + peer.up_bytes, unknown[1] + peer.down_bytes, unknown[2] + 1];
      continue;
    }
    const group = groups.get(key) || { up: 0, down: 0, addresses: 0, place: peer };
    group.up += peer.up_bytes;
    group.down += peer.down_bytes;
    group.addresses += 1;
    groups.set(key, group);
  }
  const sorted = [...groups.values()].sort((a, b) => b.up + b.down - (a.up + a.down));
  const rest = sorted.slice(limit);
  const tracked = sum([...groups.values()].map((g) => [g.up, g.down]).concat([[unknown[0], unknown[1]]]));
  const untracked = [Math.round(tracked[0] / 4), Math.round(tracked[1] / 4)];
  return [200, {
    by,
    start: params.get('start'),
    end: params.get('end'),
    networks: sorted.slice(0, limit).map((g) => ({
      addresses: g.addresses,
      ...figures([g.up, g.down]),
      ...(by === 'asn' ? { asn: g.place.asn, org: g.place.org } : { country: g.place.country, country_name: g.place.country_name }),
    })),
    more: { addresses: rest.reduce((a, g) => a + g.addresses, 0), groups: rest.length, ...figures(sum(rest.map((g) => [g.up, g.down]))) },
    unknown: { addresses: unknown[2], ...figures([unknown[0], unknown[1]]) },
    untracked: figures(untracked),
    total: figures([tracked[0] + untracked[0], tracked[1] + untracked[1]]),
  }];
}

/** The billing cycle `back` cycles before this one (BILLING_DAY=1): [first day, last day]. */
function cycleDays(back) {
  const first = new Date(`${today.slice(0, 7)}-01T00:00:00Z`);
  first.setUTCMonth(first.getUTCMonth() - back);
  const last = new Date(first);
  last.setUTCMonth(last.getUTCMonth() + 1);
  last.setUTCDate(0);
  return [dayOf(first), dayOf(last)];
}

/** The `cycle` object of /api/summary and /api/quota, with a plain forecast (own rate only). */
function cycle() {
  const [start, end] = cycleDays(0);
  const [up, down] = sum(days(start, today).map(dayBytes));
  const used = up + down;
  const now = Date.now() / 1000;
  const startTs = parse(start).getTime() / 1000;
  const endTs = parse(end).getTime() / 1000 + 86_400;
  const forecast = Math.round(used + (used / (now - startTs)) * (endTs - now));
  const runsOut = quotaBytes && forecast > quotaBytes && used < quotaBytes
    ? now + ((quotaBytes - used) * (now - startTs)) / used : null;
  return {
    basis: 'total', days_left: days(today, end).length, down_bytes: down, up_bytes: up,
    start, start_ts: startTs, end, end_ts: endTs, ts: Math.floor(now),
    forecast_bytes: forecast, forecast_fmt: fmt(forecast), forecast_method: 'cycle',
    forecast_percent: quotaBytes && (100 * forecast) / quotaBytes,
    percent: quotaBytes && (100 * used) / quotaBytes,
    quota_bytes: quotaBytes, quota_fmt: quotaBytes && fmt(quotaBytes),
    remaining_bytes: quotaBytes && Math.max(0, quotaBytes - used), remaining_fmt: quotaBytes && fmt(Math.max(0, quotaBytes - used)),
    runs_out_on: runsOut && dayOf(new Date(runsOut * 1000)), runs_out_ts: runsOut && Math.floor(runsOut),
    used_bytes: used, used_fmt: fmt(used),
  };
}

function quota() {
  const past = Array.from({ length: 12 }, (_, i) => {
    const [start, end] = cycleDays(12 - i);
    const [up, down] = sum(days(start, end).map(dayBytes));
    return { start, end, up_bytes: up, down_bytes: down, used_bytes: up + down, used_fmt: fmt(up + down), percent: quotaBytes && (100 * (up + down)) / quotaBytes };
  });
  return [200, { alert_at: [80, 90, 100], alerts: [], billing_day: 1, cycle: cycle(), interfaces: [], past, timezone: 'Asia/Shanghai' }];
}

function api(name, params) {
  if (failing.has(name)) return [500, { error: `made-up failure of ${name} (dev-server --fail)` }];
  const monthStart = `${today.slice(0, 7)}-01`;
  const yearStart = `${today.slice(0, 4)}-01-01`;
  switch (name) {
    case 'summary':
      return [200, { today: figures(dayBytes(today)), month: figures(sum(days(monthStart, today).map(dayBytes))), year: figures(sum(days(yearStart, today).map(dayBytes))), timezone: 'Asia/Shanghai', interfaces: ifaces, cycle: cycle() }];
    case 'realtime': {
      const now = Math.floor(Date.now() / 1000);
      const samples = Array.from({ length: 30 }, (_, i) => ({ ts: now - 29 + i, up: Math.round(2e5 + 1e5 * Math.sin(i / 3)), down: Math.round(2.4e6 + 1e6 * Math.cos(i / 4)) }));
      const last = samples[samples.length - 1];
      return [200, { current_up_Bps: last.up, current_down_Bps: last.down, current_up_bps: last.up * 8, current_down_bps: last.down * 8, samples }];
    }
    case 'history/30days': {
      const d = new Date(); d.setUTCDate(d.getUTCDate() - 29);
      return [200, { days: query(new URLSearchParams({ start: dayOf(d), end: today, granularity: 'day' }))[1].series }];
    }
    case 'history/12months': {
      const d = new Date(); d.setUTCDate(1); d.setUTCMonth(d.getUTCMonth() - 11);
      return [200, { months: query(new URLSearchParams({ start: dayOf(d), end: today, granularity: 'month' }))[1].series }];
    }
    case 'history/today_hours':
      return [200, { hours: query(new URLSearchParams({ start: today, end: today, granularity: 'hour' }))[1].series.map(({ total_bytes, ...rest }) => rest) }];
    case 'quota': return quota();
    case 'date_range': return [200, { min: '2025-03-14', max: today }];
    case 'top_ips': return topIps();
    case 'devices': return devices(params);
    case 'services': return services(params);
    case 'networks': return networks(params);
    case 'query': return query(params);
    case 'health': return [200, { status: 'ok', ts: new Date().toISOString(), interfaces: ifaces.map((n) => ({ name: n, state: 'capturing', drops: 0 })) }];
    default: return [404, { error: `no such endpoint: /api/${name}` }];
  }
}

createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/api/')) {
    const [status, body] = api(url.pathname.slice(5), url.searchParams);
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
    return;
  }
  const file = path.join(root, url.pathname === '/' ? 'index.html' : path.normalize(url.pathname));
  if (!file.startsWith(root) || !existsSync(file)) {
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end('{"error":"not found"}');
    return;
  }
  res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
  res.end(readFileSync(file));
}).listen(Number(port), '127.0.0.1', () => console.log(`http://127.0.0.1:${port}/`));
