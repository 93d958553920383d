// Numbers for people. Byte counts use the API's own `*_fmt` rule (1024-based, two decimals,
// "1.17 MB") so a chart's tooltip and a card never disagree; rates are in bits per second,
// the unit broadband is sold in.

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

/** "1.17 MB": the same text the API puts in `*_fmt` (src/units.rs). */
export function formatBytes(bytes) {
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(2)} ${BYTE_UNITS[unit]}`;
}

const integer = new Intl.NumberFormat('en-US');

/** "1,225,952 B": the exact count, grouped. */
export function formatExactBytes(bytes) {
  return `${integer.format(Number(bytes) || 0)} B`;
}

const RATE_UNITS = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];

/** "12.4 Mbit/s" from bits per second (1000-based, like line speeds). */
export function formatBitRate(bitsPerSecond) {
  let value = Math.max(0, Number(bitsPerSecond) || 0);
  let unit = 0;
  while (value >= 1000 && unit < RATE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 ? 0 : value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${RATE_UNITS[unit]}`;
}

/** "38.2 %" of a whole; "—" when the whole is empty. */
export function formatShare(part, whole) {
  if (!whole) return '—';
  const percent = (100 * part) / whole;
  return `${percent < 10 ? percent.toFixed(1) : percent.toFixed(0)} %`;
}

/**
 * "87.9 %" of the quota: one decimal, rounded down, so the page never says 100 % before the quota
 * is reached (the API's `percent` is unrounded and may exceed 100).
 */
export function formatPercent(percent) {
  const tenths = Math.floor(Number(percent) * 10 + 1e-9) / 10;
  return `${tenths.toFixed(1)} %`;
}
