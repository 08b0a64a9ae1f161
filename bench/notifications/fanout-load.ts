/**
 * One transfer to many subscribed apps, in a child process of its own: each
 * recipient app holds a Subscribe stream through the gateway on a connection
 * of its own; the source sends one 1 KiB inline transfer to all of them, and
 * the time from CreateTransfer's answer (the commit) to each recipient's
 * NEW_DELIVERY notice is recorded. A few rounds, each after the orchestrator
 * saw the mesh at rest (`ready`); between rounds every recipient confirms its
 * delivery and acknowledges the notice, as a real one would (not timed).
 */
import { serveWorker, type WorkerPort } from '../worker-side.js';
import { NoticeClient, type NoticeStream } from './app-client.js';
import { inParallel, withTimeout } from './load-support.js';
import {
  type Arrival,
  Arrivals,
  ackAll,
  confirmFromNotice,
  documentOf,
  sendTransfer,
  sha256,
} from './notices.js';
import type { FanoutResult, FanoutSpec } from './spec.js';

const ROUND_TIMEOUT_MS = 60_000;
const OPEN_TIMEOUT_MS = 120_000;
/** Confirmations in flight at once between rounds. */
const CONFIRM_PARALLEL = 16;

export async function runFanout(spec: FanoutSpec, port: WorkerPort): Promise<FanoutResult> {
  const source = new NoticeClient(spec.gateway, spec.source);
  const recipients = spec.recipients.map((app) => new NoticeClient(spec.gateway, app));
  const arrivals = recipients.map(() => new Arrivals());
  const streams: NoticeStream[] = [];
  try {
    // Streams open a few at a time, as a wave of reconnecting apps would not all arrive in one millisecond.
    await inParallel(recipients.length, 50, async (i) => {
      streams.push(recipients[i]!.subscribe({}, arrivals[i]!.onMessage));
      await withTimeout(arrivals[i]!.first, OPEN_TIMEOUT_MS, `the first heartbeat of stream ${i}`);
    });
    const document = documentOf(spec.payloadBytes);
    const digest = sha256(document);
    const ids = recipients.map((r) => r.appId);
    const rounds: Float64Array[] = [];
    const sendMs: number[] = [];
    let early = 0;
    let errors = 0;
    const samples = new Set<string>();
    let clientCpuMs = 0;
    let elapsedMs = 0;

    // Round 0 warms up (JIT, caches, the first offers' paths) and is not recorded.
    for (let round = 0; round <= spec.rounds; round++) {
      await port.ready();
      if (round === 1) port.measuring();
      port.phase(round === 0 ? 'warm-up round' : `round ${round}`);
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      let got: Arrival[] = [];
      try {
        const transferId = await sendTransfer(source, ids, document, digest);
        const committed = performance.now();
        got = await withTimeout(
          Promise.all(arrivals.map((a) => a.wait(transferId, ROUND_TIMEOUT_MS))),
          ROUND_TIMEOUT_MS,
          `round ${round}'s notices`,
        );
        const latencies = Float64Array.from(got.map((a) => a.at - committed)).sort();
        const cpu = process.cpuUsage(cpuBefore);
        if (round > 0) {
          early += latencies.filter((ms) => ms < 0).length;
          rounds.push(latencies.map((ms) => Math.max(0, ms)));
          sendMs.push(committed - started);
          clientCpuMs += (cpu.user + cpu.system) / 1000;
          elapsedMs += performance.now() - started;
        }
      } catch (error) {
        if (round > 0) errors++;
        if (samples.size < 5) samples.add(error instanceof Error ? error.message : String(error));
      }
      port.phase('confirming');
      // Whatever came is handled; a delivery left unconfirmed would be offered again 30 s later.
      await inParallel(got.length, CONFIRM_PARALLEL, async (i) => {
        await confirmFromNotice(recipients[i]!, got[i]!.notice);
        await ackAll(recipients[i]!, arrivals[i]!);
      });
    }
    port.phase('done');
    return { rounds, sendMs, early, errors, errorSamples: [...samples], clientCpuMs, elapsedMs };
  } finally {
    for (const stream of streams) stream.cancel();
    await Promise.all(streams.map((s) => s.ended));
    for (const client of [source, ...recipients]) client.close();
  }
}

serveWorker(runFanout);
