/** Throughput and latency percentiles of one scenario, and ratios between two. */

export interface Summary {
  readonly requests: number;
  readonly errors: number;
  readonly elapsedMs: number;
  /** Correct answers per second over the measured window. */
  readonly rps: number;
  /** Latencies in milliseconds. */
  readonly latencyMs: {
    readonly mean: number;
    readonly min: number;
    readonly p50: number;
    readonly p90: number;
    readonly p95: number;
    readonly p99: number;
    readonly max: number;
  };
}

export function summarize(latenciesMs: Float64Array, errors: number, elapsedMs: number): Summary {
  const sorted = Float64Array.from(latenciesMs).sort();
  const n = sorted.length;
  let total = 0;
  for (const value of sorted) total += value;
  return {
    requests: n,
    errors,
    elapsedMs,
    rps: elapsedMs > 0 ? (n * 1000) / elapsedMs : 0,
    latencyMs: {
      mean: n === 0 ? Number.NaN : total / n,
      min: sorted[0] ?? Number.NaN,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: sorted[n - 1] ?? Number.NaN,
    },
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export interface Ratio {
  /** Throughput of the numerator over the denominator's: below 1, the numerator serves less. */
  readonly throughput: number;
  /** Latency of the numerator over the denominator's: above 1, the numerator is slower. */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

export function ratio(numerator: Summary, denominator: Summary): Ratio {
  return {
    throughput: numerator.rps / denominator.rps,
    p50: numerator.latencyMs.p50 / denominator.latencyMs.p50,
    p95: numerator.latencyMs.p95 / denominator.latencyMs.p95,
    p99: numerator.latencyMs.p99 / denominator.latencyMs.p99,
  };
}

/** Three significant digits, for humans. */
export function round3(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))));
  return Number(value.toFixed(Math.min(digits, 6)));
}
