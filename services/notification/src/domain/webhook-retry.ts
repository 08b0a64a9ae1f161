/**
 * What follows a failed webhook call: another attempt after an exponential
 * back-off (with jitter, so that receivers coming back are not hit by every
 * retry at once; capped at one hour), or parking the notice with a reason.
 */
import type { CallResult } from './webhook-call.js';

export const RETRY_CAP_MS = 3_600_000;

export type ParkedReasonName =
  | 'max_attempts'
  | 'permanent_error'
  | 'notice_expired'
  | 'webhook_unavailable'
  | 'address_forbidden';

export interface RetryPolicy {
  /** Calls allowed per notice, the first included. */
  readonly maxAttempts: number;
  /** Wait before the second call; doubled for each later one. */
  readonly baseMs: number;
}

export type NextStep =
  | { readonly kind: 'retry'; readonly at: Date }
  | { readonly kind: 'park'; readonly reason: ParkedReasonName };

/** After call number `attempt` (from 1) failed with `result`. */
export function afterFailure(
  result: Extract<CallResult, { ok: false }>,
  attempt: number,
  policy: RetryPolicy,
  now: Date,
  random: () => number = Math.random,
): NextStep {
  if (result.forbidden) return { kind: 'park', reason: 'address_forbidden' };
  if (isPermanent(result.status)) return { kind: 'park', reason: 'permanent_error' };
  if (attempt >= policy.maxAttempts) return { kind: 'park', reason: 'max_attempts' };
  const backoff = backoffMs(attempt, policy.baseMs, random);
  const wait = Math.min(RETRY_CAP_MS, Math.max(backoff, result.retryAfterMs ?? 0));
  return { kind: 'retry', at: new Date(now.getTime() + wait) };
}

/** 4xx other than 408 (timeout) and 429 (too many requests): the same call would fail again. */
export function isPermanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** base × 2^(attempt−1), ±20 %, capped. */
export function backoffMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const exact = baseMs * 2 ** Math.min(attempt - 1, 30);
  return Math.round(Math.min(RETRY_CAP_MS, exact * (0.8 + 0.4 * random())));
}
