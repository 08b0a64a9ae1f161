/**
 * Per-app request rates: a token bucket per app, refilled
 * continuously at its rate up to its burst. Each gateway replica keeps its
 * own buckets, so the rate an app gets across the platform is its limit
 * times the replicas it reaches; the limit protects the platform from one
 * runaway client, it is not a quota.
 */

export interface Rate {
  /** Requests per second, sustained; 0 for no limit. */
  readonly perSecond: number;
  /** Requests allowed at once after a quiet period. */
  readonly burst: number;
}

export interface RatePolicy {
  /** Every caller's rate unless overridden. */
  readonly default: Rate;
  /** Rates of particular apps, by app id. */
  readonly overrides: ReadonlyMap<string, Rate>;
}

export type Take = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets idle this long are full again and are forgotten, so memory follows the active callers. */
const FORGET_AFTER_MS = 10 * 60_000;

export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>();
  #lastPrune = 0;

  constructor(private readonly policy: RatePolicy) {}

  rateOf(key: string): Rate {
    return this.policy.overrides.get(key) ?? this.policy.default;
  }

  /** Takes one token for `key`; when none is left, says how long until one is. */
  take(key: string, now: number = performance.now()): Take {
    const rate = this.rateOf(key);
    if (rate.perSecond <= 0) return { ok: true };
    this.#prune(now);
    const bucket = this.#buckets.get(key) ?? { tokens: rate.burst, at: now };
    bucket.tokens = Math.min(rate.burst, bucket.tokens + ((now - bucket.at) / 1000) * rate.perSecond);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / rate.perSecond) * 1000) };
  }

  get size(): number {
    return this.#buckets.size;
  }

  #prune(now: number): void {
    if (now - this.#lastPrune < FORGET_AFTER_MS) return;
    this.#lastPrune = now;
    for (const [key, bucket] of this.#buckets)
      if (now - bucket.at > FORGET_AFTER_MS) this.#buckets.delete(key);
  }
}

/**
 * Parses `app_0123456789abcdef=500:1000, app_fedcba9876543210=5` (rate per
 * second, optional burst: twice the rate when left out); returns the rates
 * and the problems found.
 */
export function parseOverrides(text: string): { overrides: Map<string, Rate>; problems: string[] } {
  const overrides = new Map<string, Rate>();
  const problems: string[] = [];
  for (const entry of text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const match = /^([A-Za-z0-9:_.-]+)=(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(entry);
    if (match === null) {
      problems.push(`"${entry}" is not <app id>=<per second>[:<burst>]`);
      continue;
    }
    const perSecond = Number(match[2]);
    const burst = match[3] === undefined ? Math.max(1, Math.ceil(perSecond * 2)) : Number(match[3]);
    if (burst < 1 && perSecond > 0) problems.push(`"${entry}": the burst must be at least 1`);
    overrides.set(match[1]!, { perSecond, burst });
  }
  return { overrides, problems };
}
