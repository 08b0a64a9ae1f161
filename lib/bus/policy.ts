/**
 * Defaults and retry policy shared by both bus adapters: a service must see the
 * same timing whichever adapter runs underneath.
 */

export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_DELIVER = 10;
export const DEFAULT_DUPLICATE_WINDOW_MS = 2 * 60_000;

const RETRY_BASE_MS = 100;
const RETRY_CAP_MS = 30_000;

/**
 * Delay before a message whose handler threw comes back: doubling from 100 ms,
 * so a briefly unavailable dependency is retried quickly while a persistent
 * failure does not spin, capped at 30 s.
 */
export function retryDelayMs(deliveryCount: number): number {
  const exponent = Math.max(0, deliveryCount - 1);
  // Guard the power so a huge delivery count cannot overflow to Infinity.
  return exponent >= 19 ? RETRY_CAP_MS : Math.min(RETRY_BASE_MS * 2 ** exponent, RETRY_CAP_MS);
}

/** The duplicate window a stream gets: the server refuses one longer than the max age. */
export function effectiveDuplicateWindowMs(
  duplicateWindowMs: number | undefined,
  maxAgeMs: number | undefined,
): number {
  const wanted = duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  return maxAgeMs !== undefined && maxAgeMs > 0 ? Math.min(wanted, maxAgeMs) : wanted;
}
