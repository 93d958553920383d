// Calendar arithmetic on "YYYY-MM-DD" strings. Days are counted in UTC Date objects only as a
// calculator (no time zone is ever applied), so the browser's own zone cannot shift a date: the
// server's zone decides what "today" is.

function parse(day) {
  const [year, month, date] = day.split('-').map(Number);
  return new Date(Date.UTC(year, month - 1, date));
}

function print(date) {
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

export function isDay(text) {
  return typeof text === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(text) && print(parse(text)) === text;
}

export function addDays(day, count) {
  const date = parse(day);
  date.setUTCDate(date.getUTCDate() + count);
  return print(date);
}

export function firstOfMonth(day) {
  return `${day.slice(0, 7)}-01`;
}

/** The last day of the month before `day`'s month. */
export function endOfPreviousMonth(day) {
  return addDays(firstOfMonth(day), -1);
}

/** Today's date in an IANA zone ("Asia/Shanghai"), or null when the browser does not know it. */
export function todayIn(timeZone, now = new Date()) {
  if (!timeZone) return null;
  try {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    }).formatToParts(now);
    const part = (type) => parts.find((p) => p.type === type)?.value;
    const day = `${part('year')}-${part('month')}-${part('day')}`;
    return isDay(day) ? day : null;
  } catch {
    return null;
  }
}

/** Today's date in the browser's zone (the last resort). */
export function localToday(now = new Date()) {
  return print(new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate())));
}

/**
 * The seven quick ranges and the granularity the original picks for each
 * (its README, "快捷按钮说明"): hours for one day, days up to a month, months for the year.
 */
export const QUICK_RANGES = {
  today: (today) => ({ start: today, end: today, granularity: 'hour' }),
  yesterday: (today) => {
    const day = addDays(today, -1);
    return { start: day, end: day, granularity: 'hour' };
  },
  last7: (today) => ({ start: addDays(today, -6), end: today, granularity: 'day' }),
  last30: (today) => ({ start: addDays(today, -29), end: today, granularity: 'day' }),
  thisMonth: (today) => ({ start: firstOfMonth(today), end: today, granularity: 'day' }),
  lastMonth: (today) => {
    const end = endOfPreviousMonth(today);
    return { start: firstOfMonth(end), end, granularity: 'day' };
  },
  thisYear: (today) => ({ start: `${today.slice(0, 4)}-01-01`, end: today, granularity: 'month' }),
};
