/**
 * Many apps online, in a child process of its own (so that the mesh
 * process's CPU and memory are the servers' alone): each app holds a
 * Subscribe stream through the gateway on a connection of its own, with the
 * default heartbeat interval, and, later, calls Heartbeat once per platform
 * interval on the same connection, as a polling system would — every call
 * signed. The phases (spec.ts, PRESENCE_PHASES) are announced to the
 * orchestrator as they begin, which measures the mesh process during each:
 *
 * 1. idle: the apps exist, nothing is connected;
 * 2. opening streams: at most `openConcurrency` at once, each counted open at its first message;
 * 3. streams: every app holds its stream;
 * 4. heartbeats warm-up: each app's first heartbeat falls at its own point of
 *    the first two intervals (app i at i/n of them), then one every interval.
 *    Spreading the first ones over two intervals mixes, in any later interval,
 *    apps whose heartbeat the platform writes with apps whose heartbeat it
 *    keeps back (with half the presence timeout left, it writes only every
 *    other one: docs/notifications.md), as a population that came online
 *    over time is mixed;
 * 5. streams + heartbeats: the steady state that is measured, one interval long;
 * 6. profiled: the same, while the orchestrator profiles its main thread;
 *
 * then, every stream still open, the orchestrator collects the mesh's garbage and reads its memory.
 */
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { NotificationService } from '#gen/lgsp/notification/v1/notification_service_pb.js';
import { serveWorker, type WorkerPort } from '../worker-side.js';
import { NoticeClient, type NoticeStream } from './app-client.js';
import { inParallel, sleep, withTimeout } from './load-support.js';
import { Arrivals } from './notices.js';
import type { PresencePhase, PresenceResult, PresenceSpec } from './spec.js';

const OPEN_TIMEOUT_MS = 120_000;
const CLIENT_VERSION = 'lgsp-bench/1';

interface Tally {
  heartbeats: number;
  heartbeatErrors: number;
  streamMessages: number;
}

export async function runPresence(spec: PresenceSpec, port: WorkerPort): Promise<PresenceResult> {
  const clients = spec.apps.map((app) => new NoticeClient(spec.gateway, app));
  const arrivals = clients.map(() => new Arrivals());
  const streams: NoticeStream[] = [];
  const samples = new Set<string>();
  const sample = (error: unknown) => {
    if (samples.size < 5) samples.add(error instanceof Error ? error.message : String(error));
  };
  let streamErrors = 0;
  let openStreams = 0;
  const tally: Tally = { heartbeats: 0, heartbeatErrors: 0, streamMessages: 0 };
  const phases: Record<string, Tally & { openStreams: number }> = {};
  let current: PresencePhase | undefined;
  const messagesSoFar = () => arrivals.reduce((n, a) => n + a.messages, 0);
  let messagesAtPhase = 0;
  const enter = (phase: PresencePhase | 'done') => {
    const messages = messagesSoFar();
    if (current !== undefined) {
      phases[current] = { ...tally, streamMessages: messages - messagesAtPhase, openStreams };
    }
    tally.heartbeats = 0;
    tally.heartbeatErrors = 0;
    messagesAtPhase = messages;
    current = phase === 'done' ? undefined : phase;
    port.phase(phase);
  };

  const timers: NodeJS.Timeout[] = [];
  try {
    await port.ready();
    enter('idle');
    await sleep(spec.phaseMs.idle);

    enter('opening streams');
    const opening = performance.now();
    await inParallel(clients.length, spec.openConcurrency, async (i) => {
      const stream = clients[i]!.subscribe({}, arrivals[i]!.onMessage);
      streams.push(stream);
      stream.ended.then((error) => {
        openStreams--;
        if (error !== undefined) {
          streamErrors++;
          sample(error);
        }
      });
      await withTimeout(arrivals[i]!.first, OPEN_TIMEOUT_MS, `the first message of stream ${i}`);
      openStreams++;
    });
    const openingMs = performance.now() - opening;

    // The orchestrator lets the mesh settle from the wave of opens before measuring.
    await port.ready();
    enter('streams');
    await sleep(spec.phaseMs.streams);

    enter('heartbeats warm-up');
    const beat = (client: NoticeClient) => {
      client
        .unary(NotificationService.method.heartbeat, {
          clientTime: timestampFromMs(Date.now()),
          clientVersion: CLIENT_VERSION,
        })
        .then(
          () => tally.heartbeats++,
          (error: unknown) => {
            tally.heartbeatErrors++;
            sample(error);
          },
        );
    };
    const n = clients.length;
    clients.forEach((client, i) => {
      const first = setTimeout(
        () => {
          beat(client);
          timers.push(setInterval(() => beat(client), spec.intervalMs));
        },
        Math.floor((i / n) * 2 * spec.intervalMs),
      );
      timers.push(first);
    });
    await sleep(spec.phaseMs['heartbeats warm-up']);

    enter('streams + heartbeats');
    await sleep(spec.phaseMs['streams + heartbeats']);
    enter('profiled');
    await sleep(spec.phaseMs.profiled);
    enter('done');
    // The orchestrator reads the mesh's memory after a full collection, every stream still open.
    await port.ready();
    return {
      phases,
      openingMs,
      streamErrors,
      errorSamples: [...samples],
      clientRssBytes: process.memoryUsage.rss(),
    };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const stream of streams) stream.cancel();
    await Promise.all(streams.map((s) => s.ended));
    for (const client of clients) client.close();
  }
}

serveWorker(runPresence);
