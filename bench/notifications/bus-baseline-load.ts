/**
 * The baselines of the notice scenarios, in a worker thread alone: the raw
 * bus the mesh uses (raw JetStream with NATS_URL, else a fresh in-process
 * bus; transfers/bus-carrier.ts), nothing of LGSP on top.
 *
 * - `latency`: one message at a time, published durably and consumed (and
 *   acknowledged) by a durable consumer; from the publish call to the
 *   consumer's receipt.
 * - `fanout`: `messages` messages published at once (one per recipient, as
 *   the notices of a fan-out are) and consumed by one durable consumer; from
 *   the first publish call to each message's receipt, a few rounds.
 */

import { openCarrier } from '../transfers/bus-carrier.js';
import { serveWorker, type WorkerPort } from '../worker-side.js';
import { withTimeout } from './load-support.js';
import { documentOf } from './notices.js';
import type { BusBaselineResult, BusBaselineSpec } from './spec.js';

const TIMEOUT_MS = 30_000;
/** Messages the in-process consumer handles at once (the NATS consumer takes what its pull brings). */
const CONSUMER_CONCURRENCY = 16;

export async function runBusBaseline(spec: BusBaselineSpec, port: WorkerPort): Promise<BusBaselineResult> {
  const consumed = new Map<number, number>();
  const waiting = new Map<number, () => void>();
  const carrier = await openCarrier(spec.natsUrl, spec.busPrefix, CONSUMER_CONCURRENCY, (id) => {
    consumed.set(id, performance.now());
    const waiter = waiting.get(id);
    waiting.delete(id);
    waiter?.();
  });
  const arrivalOf = (id: number): Promise<number> => {
    const at = consumed.get(id);
    if (at !== undefined) return Promise.resolve(at);
    return withTimeout(
      new Promise<number>((resolve) => waiting.set(id, () => resolve(consumed.get(id)!))),
      TIMEOUT_MS,
      `message ${id}`,
    );
  };
  // A plain Uint8Array, as the mesh publishes (protobuf-es output).
  const payload = new Uint8Array(documentOf(spec.payloadBytes));
  let nextId = 0;
  const samples = new Set<string>();
  let errors = 0;
  try {
    if (spec.mode === 'latency') {
      const latencies = new Float64Array(spec.maxOps);
      let recorded = 0;
      const loop = async (ms: number, measured: boolean) => {
        const end = performance.now() + ms;
        while (performance.now() < end && (!measured || recorded < spec.maxOps)) {
          const id = nextId++;
          try {
            const started = performance.now();
            const [, at] = await Promise.all([carrier.publish(id, payload), arrivalOf(id)]);
            if (measured) latencies[recorded++] = at - started;
          } catch (error) {
            if (measured) errors++;
            if (samples.size < 5) samples.add(error instanceof Error ? error.message : String(error));
          } finally {
            consumed.delete(id);
          }
        }
      };
      await loop(spec.warmupMs, false);
      port.measuring();
      const busyBefore = performance.eventLoopUtilization();
      const started = performance.now();
      await loop(spec.durationMs, true);
      return {
        latenciesMs: latencies.slice(0, recorded),
        rounds: [],
        errors,
        errorSamples: [...samples],
        elapsedMs: performance.now() - started,
        clientBusy: performance.eventLoopUtilization(busyBefore).utilization,
      };
    }

    const rounds: Float64Array[] = [];
    let elapsedMs = 0;
    let busyMs = 0;
    for (let round = 0; round <= spec.rounds; round++) {
      if (round === 1) port.measuring();
      const busyBefore = performance.eventLoopUtilization();
      const ids = Array.from({ length: spec.messages }, () => nextId++);
      const started = performance.now();
      try {
        const [, arrivals] = await Promise.all([
          Promise.all(ids.map((id) => carrier.publish(id, payload))),
          Promise.all(ids.map(arrivalOf)),
        ]);
        // Round 0 warms up and is not recorded.
        if (round > 0) {
          rounds.push(Float64Array.from(arrivals, (at) => at - started).sort());
          elapsedMs += performance.now() - started;
          busyMs += performance.eventLoopUtilization(busyBefore).active;
        }
      } catch (error) {
        if (round > 0) errors++;
        if (samples.size < 5) samples.add(error instanceof Error ? error.message : String(error));
      } finally {
        for (const id of ids) consumed.delete(id);
      }
    }
    return {
      latenciesMs: new Float64Array(0),
      rounds,
      errors,
      errorSamples: [...samples],
      elapsedMs,
      clientBusy: elapsedMs > 0 ? busyMs / elapsedMs : 0,
    };
  } finally {
    await carrier.close();
  }
}

serveWorker(runBusBaseline, (result) => [
  result.latenciesMs.buffer as ArrayBuffer,
  ...result.rounds.map((r) => r.buffer as ArrayBuffer),
]);
