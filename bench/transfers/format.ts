/** How suite 2 writes numbers for people: sizes, shares, milliseconds, rates, ratios. */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** `1 GiB`, `64 MiB`, `1.5 MiB`: binary units. */
export function sizeText(bytes: number): string {
  const n = Math.abs(bytes);
  const [unit, name] = n >= GiB && n % (GiB / 4) === 0 ? [GiB, 'GiB'] : [MiB, 'MiB'];
  return `${bytes < 0 ? '-' : ''}${(n / unit).toFixed(n % unit === 0 ? 0 : 1)} ${name}`;
}

/** A growth, with its sign: `+12 MiB`, `−3.5 MiB`; `—` when unknown. */
export function growthText(bytes: number | null): string {
  return bytes === null ? '—' : `${bytes < 0 ? '−' : '+'}${sizeText(Math.abs(bytes))}`;
}

/** Two or three significant digits, never fewer than needed to tell small values apart. */
export function num(n: number): string {
  if (!Number.isFinite(n)) return '—';
  return n >= 10 ? n.toFixed(0) : n.toFixed(n >= 1 ? 1 : 2);
}

export const ms = (n: number): string => `${num(n)} ms`;
export const pct = (share: number): string => `${Math.round(share * 100)} %`;

/** A rate: whole numbers from 100 up, one decimal below. */
export function rateText(rate: number): string {
  return rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}

/** A ratio with three significant digits, however small. */
export function ratioText(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

/** `key 1.5, other 0.25`: counts per transfer, the negligible left out. */
export function entries(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .filter(([, n]) => n >= 0.05)
    .map(([k, n]) => `${k} ${num(n)}`)
    .join(', ');
}

/** Megabytes (10^6 bytes) per second. */
export function mbPerS(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1e6 / (ms / 1000) : 0;
}
