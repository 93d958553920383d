// Networks and countries (GEOIP_DB) as the browser scripts check them: what an address's row and
// the By-network and By-country panels must show for an API answer, written here independently
// of www/src (docs/dashboard.md), and what the page shows.

/** The flag emoji of a two-letter code: its letters as regional indicator symbols (U+1F1E6 = A). */
export function flag(code) {
  return [...code].map((letter) => String.fromCodePoint(0x1f1e6 + letter.charCodeAt(0) - 'A'.charCodeAt(0))).join('');
}

/** "AS64501 Test lower half", "AS64501" or the organisation alone. */
export function networkName(asn, org) {
  return [asn === undefined ? '' : `AS${asn}`, org || ''].filter(Boolean).join(' ');
}

/** What an /api/top_ips entry's second line must say: {host, badge, country, network} or null. */
export function expectedPlace(entry) {
  const network = networkName(entry.asn, entry.org);
  if (!entry.country && !network && !entry.name) return null;
  return {
    host: entry.name || null,
    badge: entry.country ? `${flag(entry.country)} ${entry.country}` : null,
    country: entry.country ? entry.country_name || entry.country : null,
    network: network || null,
  };
}

/** Each row of an address list: the address and its place line (as expectedPlace). */
export function readAddressRows(page, selector) {
  return page.locator(`${selector} li:not(.empty)`).evaluateAll((items) => items.map((item) => {
    const badge = item.querySelector('.place .cc');
    const org = item.querySelector('.place .org');
    const host = item.querySelector('.place .host');
    const place = item.querySelector('.place');
    return {
      ip: item.querySelector('.ip').textContent,
      place: place ? {
        host: host ? host.textContent : null,
        badge: badge ? badge.textContent : null,
        country: badge ? badge.title : null,
        network: org ? org.textContent : null,
      } : null,
    };
  }));
}

const LABELS = {
  zh: {
    more_asn: (n) => `其余 ${n} 个网络`,
    more_country: (n) => `其余 ${n} 个国家/地区`,
    unknown: '数据库中查不到',
    untracked: '未进入每日地址表',
    total: '总流量',
  },
  en: {
    more_asn: (n) => `${n} more networks`,
    more_country: (n) => `${n} more countries`,
    unknown: 'Not in the database',
    untracked: 'Not kept in the daily tables',
    total: 'Total',
  },
};

/**
 * The rows a panel must show for an /api/networks answer in `lang`: each group heaviest first
 * (ranked 1…), then `more` (when groups are left out), `unknown` and `untracked` (when not empty),
 * then the total. Each row: {kind, rank, name, bytes (the *_fmt text), exact (bytes)}.
 */
export function expectedPlaceRows(answer, lang) {
  const labels = LABELS[lang];
  const rows = answer.networks.map((group, index) => ({
    kind: 'group',
    rank: String(index + 1),
    name: answer.by === 'asn'
      ? networkName(group.asn, group.org)
      : `${flag(group.country)} ${group.country}${group.country_name || group.country}`,
    bytes: group.total_fmt,
    exact: group.total_bytes,
  }));
  const rest = (kind, name) => ({ kind, rank: '', name, bytes: answer[kind].total_fmt, exact: answer[kind].total_bytes });
  if (answer.more.groups > 0 && answer.more.total_bytes > 0) rows.push(rest('more', labels[`more_${answer.by}`](answer.more.groups)));
  if (answer.unknown.total_bytes > 0) rows.push(rest('unknown', labels.unknown));
  if (answer.untracked.total_bytes > 0) rows.push(rest('untracked', labels.untracked));
  rows.push({ kind: 'total', rank: '', name: labels.total, bytes: answer.total.total_fmt, exact: answer.total.total_bytes });
  return rows;
}

/** The rows a panel shows, as expectedPlaceRows describes them. */
export function readPlaceRows(page, selector) {
  return page.locator(`${selector} li:not(.empty)`).evaluateAll((items) => items.map((item) => {
    const kind = item.classList.contains('sum') ? 'total'
      : ['more', 'unknown', 'untracked'].find((key) => item.classList.contains(`rest-${key}`)) || 'group';
    const bytes = item.querySelector('.bytes');
    return {
      kind,
      rank: item.querySelector('.rank').textContent,
      name: item.querySelector('.name').textContent,
      bytes: bytes.textContent,
      exact: Number(bytes.title.replace(/[^0-9]/g, '')),
    };
  }));
}
