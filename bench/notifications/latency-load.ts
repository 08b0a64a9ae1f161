/**
 * Commit to subscriber, one notice at a time, in a child process of its own
 * (so that the mesh process's CPU is the servers' alone): the destination app
 * holds a Subscribe stream through the gateway; the source app sends it a
 * 1 KiB document, as an inline transfer (CreateTransfer; the notice is
 * NEW_DELIVERY) or as an app message (SendNotice; APP_MESSAGE), and the time
 * from the send call's answer (the commit) to the notice's arrival on the
 * stream is recorded. Then the destination confirms the delivery from the
 * notice's inline content, as a real one would, and the next is sent.
 */
import { serveWorker, type WorkerPort } from '../worker-side.js';
import { NoticeClient } from './app-client.js';
import { withTimeout } from './load-support.js';
import {
  Arrivals,
  ackAll,
  check,
  confirmFromNotice,
  documentOf,
  sendMessage,
  sendTransfer,
  sha256,
} from './notices.js';
import type { LatencyResult, LatencySpec } from './spec.js';

/** A notice that has not come within this time counts as failed. */
const NOTICE_TIMEOUT_MS = 30_000;
const FIRST_MESSAGE_TIMEOUT_MS = 30_000;

export async function runLatency(spec: LatencySpec, port: WorkerPort): Promise<LatencyResult> {
  const source = new NoticeClient(spec.gateway, spec.source);
  const destination = new NoticeClient(spec.gateway, spec.destination);
  const arrivals = new Arrivals();
  const stream = destination.subscribe({}, arrivals.onMessage);
  try {
    await withTimeout(arrivals.first, FIRST_MESSAGE_TIMEOUT_MS, 'the stream’s first heartbeat');
    const document = documentOf(spec.payloadBytes);
    const digest = sha256(document);
    let n = 0;

    /** One notice: its send time, and the time from commit to arrival (negative when it came first). */
    const once = async (): Promise<{ sendMs: number; latencyMs: number }> => {
      const started = performance.now();
      let key: string;
      if (spec.path === 'transfer') {
        key = await sendTransfer(source, [destination.appId], document, digest);
      } else {
        key = `bench ${++n}`;
        await sendMessage(source, destination.appId, key, document);
      }
      const committed = performance.now();
      const arrival = await arrivals.wait(key, NOTICE_TIMEOUT_MS);
      if (spec.path === 'transfer') await confirmFromNotice(destination, arrival.notice);
      else check(arrival.notice.payload.case === 'appMessage', 'not an APP_MESSAGE notice');
      return { sendMs: committed - started, latencyMs: arrival.at - committed };
    };

    const latencies = new Float64Array(spec.maxOps);
    const sends = new Float64Array(spec.maxOps);
    let recorded = 0;
    let early = 0;
    let errors = 0;
    let warmupErrors = 0;
    const samples = new Set<string>();
    const loop = async (ms: number, measured: boolean) => {
      const end = performance.now() + ms;
      while (performance.now() < end && (!measured || recorded < spec.maxOps)) {
        try {
          const { sendMs, latencyMs } = await once();
          if (!measured) continue;
          if (latencyMs < 0) early++;
          latencies[recorded] = Math.max(0, latencyMs);
          sends[recorded] = sendMs;
          recorded++;
        } catch (error) {
          if (measured) errors++;
          else warmupErrors++;
          if (samples.size < 5) samples.add(error instanceof Error ? error.message : String(error));
        }
      }
    };

    await loop(spec.warmupMs, false);
    port.measuring();
    const cpuBefore = process.cpuUsage();
    const busyBefore = performance.eventLoopUtilization();
    const started = performance.now();
    await loop(spec.durationMs, true);
    const elapsedMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    await ackAll(destination, arrivals);
    return {
      latenciesMs: latencies.slice(0, recorded),
      sendMs: sends.slice(0, recorded),
      early,
      errors,
      warmupErrors,
      errorSamples: [...samples],
      elapsedMs,
      clientBusy: performance.eventLoopUtilization(busyBefore).utilization,
      clientCpuMs: (cpu.user + cpu.system) / 1000,
    };
  } finally {
    stream.cancel();
    await stream.ended;
    source.close();
    destination.close();
  }
}

serveWorker(runLatency);
