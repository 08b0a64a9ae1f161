/** The sizes of suite 3's scenarios, and the windows derived from the command line. */
import type { Settings } from '../settings.js';

/** The content of every notice: a 1 KiB document. */
export const PAYLOAD_BYTES = 1024;
/** Recipients of the fan-out: the most one transfer may have. */
export const FANOUT_RECIPIENTS = 500;
/** Measured fan-out rounds (one more warms up). */
export const FANOUT_ROUNDS = 4;

/**
 * The latency scenarios measure at least this long: one notice at a time, a transfer's takes tens of
 * milliseconds, and a p99 needs a hundred notices or more.
 */
export const LATENCY_MIN_MS = 10_000;

export const latencyWindowMs = (settings: Settings): number => Math.max(settings.durationMs, LATENCY_MIN_MS);

export const recipientsOf = (settings: Settings): number => Math.min(FANOUT_RECIPIENTS, settings.apps);
