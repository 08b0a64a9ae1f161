/**
 * The pure rules of the statistics (Art. 5.12): which day an instant belongs
 * to, the fixed histogram of delivery times and the 95th percentile read from
 * it, how an online spell spreads over days, periods of a report, and CSV.
 */

const DAY_MS = 86_400_000;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Upper bounds (inclusive, ms) of the delivery-time buckets; one more bucket
 * holds everything longer. Fixed for good: the aggregates store one count per
 * bucket (columns h00…h21), so any range's percentile can be read from sums.
 */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  1 * SECOND,
  2 * SECOND,
  5 * SECOND,
  10 * SECOND,
  30 * SECOND,
  1 * MINUTE,
  2 * MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  1 * HOUR,
  2 * HOUR,
  4 * HOUR,
  8 * HOUR,
  12 * HOUR,
  24 * HOUR,
  48 * HOUR,
  72 * HOUR,
  7 * 24 * HOUR,
  14 * 24 * HOUR,
];
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;
/** Column names of the buckets: h00 … h21. */
export const LATENCY_COLUMNS: readonly string[] = Array.from(
  { length: LATENCY_BUCKETS },
  (_, i) => `h${String(i).padStart(2, '0')}`,
);

/** The bucket a delivery time falls in. */
export function latencyBucket(ms: number): number {
  const at = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return at < 0 ? LATENCY_BOUNDS_MS.length : at;
}

/**
 * The q-quantile (0 < q ≤ 1) of the times counted in `histogram`, linearly
 * interpolated inside the bucket that holds it; the open last bucket answers
 * its lower bound. Undefined when nothing was counted.
 */
export function quantileMs(histogram: readonly number[], q: number): number | undefined {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    const count = histogram[i] ?? 0;
    if (seen + count >= rank) {
      const lower = i === 0 ? 0 : (LATENCY_BOUNDS_MS[i - 1] ?? 0);
      const upper = LATENCY_BOUNDS_MS[i];
      if (upper === undefined) return lower;
      return Math.round(lower + ((upper - lower) * (rank - seen)) / count);
    }
    seen += count;
  }
  return LATENCY_BOUNDS_MS.at(-1);
}

/** `+07:00` → 420. Throws on anything else. */
export function parseUtcOffset(text: string): number {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(text.trim());
  if (m === null) throw new Error(`"${text}" is not a UTC offset like +07:00`);
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  if (Number(m[3]) > 59 || minutes > 14 * 60) throw new Error(`"${text}" is out of range`);
  return m[1] === '-' ? -minutes : minutes;
}

/** The day (YYYY-MM-DD) an instant falls on at `offsetMinutes` from UTC. */
export function dayOf(at: Date | number, offsetMinutes: number): string {
  const ms = typeof at === 'number' ? at : at.getTime();
  return new Date(ms + offsetMinutes * MINUTE).toISOString().slice(0, 10);
}

/** The instant a day begins at `offsetMinutes` from UTC. */
export function dayStart(day: string, offsetMinutes: number): number {
  return Date.parse(`${day}T00:00:00Z`) - offsetMinutes * MINUTE;
}

/** YYYY-MM-DD that is a real date, or undefined. */
export function parseDay(text: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return undefined;
  const ms = Date.parse(`${text}T00:00:00Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== text) return undefined;
  return text;
}

export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}

/** Milliseconds of [startMs, endMs) that fall on each day, oldest first. */
export function splitByDay(
  startMs: number,
  endMs: number,
  offsetMinutes: number,
): Array<{ day: string; ms: number }> {
  const out: Array<{ day: string; ms: number }> = [];
  let at = startMs;
  while (at < endMs) {
    const day = dayOf(at, offsetMinutes);
    const next = Math.min(endMs, dayStart(addDays(day, 1), offsetMinutes));
    out.push({ day, ms: next - at });
    at = next;
  }
  return out;
}

export type PeriodKind = 'range' | 'day' | 'month';

/** The period (first and last day) a day belongs to within [from, to]. */
export function periodOf(day: string, kind: PeriodKind, from: string, to: string): [string, string] {
  if (kind === 'day') return [day, day];
  if (kind === 'range') return [from, to];
  const first = `${day.slice(0, 7)}-01`;
  const next = `${addMonths(first)}`;
  const last = addDays(next, -1);
  return [first < from ? from : first, last > to ? to : last];
}

function addMonths(first: string): string {
  const year = Number(first.slice(0, 4));
  const month = Number(first.slice(5, 7));
  return month === 12 ? `${year + 1}-01-01` : `${year}-${String(month + 1).padStart(2, '0')}-01`;
}

/** Every period of [from, to], in order. */
export function periodsOf(kind: PeriodKind, from: string, to: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let day = from;
  while (day <= to) {
    const period = periodOf(day, kind, from, to);
    out.push(period);
    day = addDays(period[1], 1);
  }
  return out;
}

/** One CSV field: quoted when it holds a comma, a quote or a line break; formula starts defused. */
export function csvField(value: string | number): string {
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(fields: ReadonlyArray<string | number>): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}
