/**
 * Suite 2's closed loops: for each payload size, the bus and filesystem
 * baselines, then transfers end to end with their costs counted on the main
 * thread; before them, what an empty poll costs; after each end-to-end
 * scenario, a profiled window of the same load.
 */
import { join } from 'node:path';
import type { Infrastructure } from '../mesh.js';
import type { ScenarioReport } from '../report.js';
import type { Settings } from '../settings.js';
import { summarize } from '../stats.js';
import { runInWorker, type WindowMeasure } from '../worker.js';
import { KiB, MiB } from './content.js';
import { LOOP_GRACE_MS, type SuiteContext } from './context.js';
import { INLINE_MAX_BYTES } from './flow.js';
import { pct, rateText } from './format.js';
import { busCounts, busDelta, sqlCounts, sqlDelta } from './probes.js';
import { MainThreadProfiler } from './profile.js';
import { settle } from './quiet.js';
import { type IdlePoll, type ScenarioProfile, type TransferCosts, transferCosts } from './report.js';
import type { E2eResult, E2eSpec, LoopResult, SmallBaselineSpec } from './spec.js';

const E2E_MODULE = new URL('./e2e-load.ts', import.meta.url);
const BASELINE_MODULE = new URL('./baseline-load.ts', import.meta.url);

/** Length of the profiled window after each end-to-end scenario. */
export const PROFILE_MS = 3000;

const GRPC_CLIENT =
  '@grpc/grpc-js generic clients, protobuf-es (de)serialisation, every request HMAC-SHA256 signed (streamed uploads with STREAMING-UNSIGNED-PAYLOAD)';

export interface SmallSize {
  readonly bytes: number;
  readonly label: string;
  /** Ids of its bus baseline, filesystem baseline and end-to-end scenario. */
  readonly ids: readonly [string, string, string];
}

export const SMALL_SIZES: readonly SmallSize[] = [
  { bytes: KiB, label: '1 KiB', ids: ['a', 'b', 'c'] },
  { bytes: MiB, label: '1 MiB', ids: ['d', 'e', 'f'] },
];

function describeSmall(size: SmallSize, kind: 'bus' | 'fs' | 'e2e', infra: Infrastructure, id: string) {
  const base = { id, protocol: '', client: '' };
  if (kind === 'bus') {
    return {
      ...base,
      title: `Baseline: ${size.label} published and consumed on the bus`,
      rpc:
        infra.natsUrl === undefined
          ? 'in-process bus publish + durable consume (ack)'
          : 'JetStream publish (ack) + durable pull consumer (ack)',
      server: infra.natsUrl === undefined ? 'a fresh in-process bus in the worker' : 'the NATS server',
      protocol: infra.natsUrl === undefined ? 'in-process' : 'NATS client protocol over TCP',
      client: 'one message per operation, the id in the subject, the payload as sent',
    };
  }
  if (kind === 'fs') {
    return {
      ...base,
      title: `Baseline: ${size.label} file write + fsync + read`,
      rpc: 'open, write, fsync, close, readFile, unlink',
      server: 'the filesystem of the mesh\u2019s blobs',
      protocol: 'node:fs/promises (libuv thread pool)',
      client: 'one new file per operation',
    };
  }
  const inline = size.bytes <= INLINE_MAX_BYTES;
  return {
    ...base,
    title: `Transfer end to end, ${size.label} ${inline ? 'inline' : 'uploaded and downloaded'}`,
    rpc: inline
      ? 'CreateTransfer (inline) → ListPendingDeliveries → AcceptDelivery (inline) → ConfirmDelivery'
      : 'CreateTransfer → Upload → CommitTransfer → ListPendingDeliveries → AcceptDelivery → Download → ConfirmDelivery',
    server: 'gateway → transfer (→ registry, storage) → database, bus',
    protocol: 'gRPC over HTTP/2 cleartext, through the gateway',
    client: GRPC_CLIENT,
  };
}

export async function smallBaseline(
  context: SuiteContext,
  size: SmallSize,
  kind: 'bus' | 'fs',
): Promise<ScenarioReport> {
  const { settings, infra } = context;
  const id = kind === 'bus' ? size.ids[0] : size.ids[1];
  const spec: SmallBaselineSpec = {
    kind,
    payloadBytes: size.bytes,
    natsUrl: infra.natsUrl,
    busPrefix: infra.busPrefix,
    dir: join(context.dataDir, `baseline-${id}`),
    ...loopOf(settings),
  };
  return measuredScenario(describeSmall(size, kind, infra, id), async () => {
    const { result, window } = await runInWorker<LoopResult>(
      BASELINE_MODULE,
      spec,
      settings.warmupMs + settings.durationMs + LOOP_GRACE_MS,
    );
    return { result, window };
  });
}

export async function endToEnd(
  context: SuiteContext,
  size: SmallSize,
  idlePoll: IdlePoll | null,
): Promise<ScenarioReport> {
  const { settings, infra } = context;
  const id = size.ids[2];
  await settle();
  const spec: E2eSpec = {
    gateway: context.gateway,
    cast: context.cast,
    payloadBytes: size.bytes,
    inline: size.bytes <= INLINE_MAX_BYTES,
    pollMs: settings.pollMs,
    ...loopOf(settings),
  };
  // What the servers did during the measured window, read at the worker's signals.
  let sqlBefore = sqlCounts();
  let busBefore = busCounts();
  let sql = sqlDelta(sqlBefore, sqlBefore);
  let bus = busDelta(busBefore, busBefore);
  return measuredScenario(describeSmall(size, 'e2e', infra, id), async () => {
    const { result, window } = await runInWorker<E2eResult>(
      E2E_MODULE,
      spec,
      settings.warmupMs + settings.durationMs + LOOP_GRACE_MS,
      {
        onMeasuring: () => {
          sqlBefore = sqlCounts();
          busBefore = busCounts();
        },
        onEnd: () => {
          sql = sqlDelta(sqlBefore, sqlCounts());
          bus = busDelta(busBefore, busCounts());
        },
      },
    );
    const costs = transferCosts(result, window, sql, bus, context.mesh.database.kind, idlePoll);
    return { result, window, costs };
  });
}

/**
 * What an empty poll costs the servers: the receivers alone poll for two
 * seconds with nothing to find, and the main thread's busy time beyond what it
 * spends idle (timers, the outbox, sweeps) is divided by the polls made. A poll
 * that finds deliveries costs more (it reads and encodes them): a lower bound.
 */
export async function pollCost(context: SuiteContext): Promise<IdlePoll | null> {
  const { settings } = context;
  process.stdout.write(`empty polls of ${settings.receivers} receivers, every ${settings.pollMs} ms … `);
  try {
    await settle();
    const before = performance.eventLoopUtilization();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idleServerBusy = performance.eventLoopUtilization(before).utilization;
    const spec: E2eSpec = {
      gateway: context.gateway,
      cast: context.cast,
      payloadBytes: KiB,
      inline: true,
      pollMs: settings.pollMs,
      pollsOnly: true,
      warmupMs: 500,
      durationMs: 2000,
      concurrency: 0,
      maxOps: 1,
    };
    const { result, window } = await runInWorker<E2eResult>(E2E_MODULE, spec, 2500 + LOOP_GRACE_MS);
    const busyMs = Math.max(0, window.serverActiveMs - idleServerBusy * window.windowMs);
    const idle: IdlePoll = {
      msPerPoll: result.polls.total > 0 ? busyMs / result.polls.total : Number.NaN,
      pollsPerSecond: (result.polls.total * 1000) / window.windowMs,
      idleServerBusy,
      serverBusy: window.serverBusy,
    };
    console.log(
      `${idle.pollsPerSecond.toFixed(0)} polls/s, main thread ${pct(idle.serverBusy)} busy ` +
        `(${pct(idleServerBusy)} idle): ${idle.msPerPoll.toFixed(2)} ms per empty poll`,
    );
    return idle;
  } catch (error) {
    console.log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
}

/**
 * The end-to-end scenario again, briefly, with the main thread's CPU profile
 * taken (profile.ts): where its time goes, by package, per transfer. A window
 * of its own, so the profiler's overhead stays out of the measured numbers.
 */
export async function profiled(context: SuiteContext, size: SmallSize): Promise<ScenarioProfile | null> {
  const id = size.ids[2];
  process.stdout.write(`(${id}) again for ${PROFILE_MS / 1000} s with the main thread profiled … `);
  await settle();
  const profiler = new MainThreadProfiler();
  let started: Promise<void> | undefined;
  try {
    const { result } = await runInWorker<E2eResult>(
      E2E_MODULE,
      {
        gateway: context.gateway,
        cast: context.cast,
        payloadBytes: size.bytes,
        inline: size.bytes <= INLINE_MAX_BYTES,
        pollMs: context.settings.pollMs,
        warmupMs: 1000,
        durationMs: PROFILE_MS,
        concurrency: context.settings.concurrency,
        maxOps: context.settings.maxRequests,
      } satisfies E2eSpec,
      1000 + PROFILE_MS + LOOP_GRACE_MS,
      {
        onMeasuring: () => {
          started = profiler.start();
        },
      },
    );
    await started;
    const profile = await profiler.stop();
    const transfers = Math.max(1, result.requests);
    const top = profile.owners.slice(0, 3).map((o) => `${o.owner} ${Math.round(o.share * 100)} %`);
    console.log(`${result.requests} transfers; ${top.join(', ')}`);
    return {
      scenario: id,
      transfers: result.requests,
      busyMs: profile.busyMs,
      owners: profile.owners.map((o) => ({ ...o, msPerTransfer: o.ms / transfers })),
    };
  } catch (error) {
    if (started !== undefined) await profiler.stop().catch(() => undefined);
    console.log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
}

function loopOf(settings: Settings) {
  return {
    warmupMs: settings.warmupMs,
    durationMs: settings.durationMs,
    concurrency: settings.concurrency,
    maxOps: settings.maxRequests,
  };
}

/** Runs a closed-loop scenario and reports it as suite 1 does, with a transfer's costs when it has them. */
async function measuredScenario(
  description: Omit<
    ScenarioReport,
    'summary' | 'serverBusy' | 'clientBusy' | 'otherLoad' | 'warmupErrors' | 'errorSamples'
  >,
  run: () => Promise<{ result: LoopResult; window: WindowMeasure; costs?: TransferCosts | undefined }>,
): Promise<ScenarioReport> {
  process.stdout.write(`(${description.id}) ${description.title} … `);
  try {
    const { result, window, costs } = await run();
    const summary = summarize(result.latenciesMs, result.errors, result.elapsedMs);
    const errors = result.errors + result.warmupErrors;
    console.log(
      `${rateText(summary.rps)}/s, p50 ${summary.latencyMs.p50.toFixed(2)} ms, p99 ${summary.latencyMs.p99.toFixed(2)} ms, ` +
        `busy: server ${pct(window.serverBusy)} client ${pct(result.clientBusy)}, other processes ${pct(window.otherLoad)}` +
        `${errors > 0 ? `, ${errors} errors: ${result.errorSamples.join('; ')}` : ''}`,
    );
    return {
      ...description,
      summary,
      serverBusy: window.serverBusy,
      clientBusy: result.clientBusy,
      otherLoad: window.otherLoad,
      warmupErrors: result.warmupErrors,
      errorSamples: result.errorSamples,
      ...(costs === undefined ? {} : { costs }),
    };
  } catch (error) {
    const failure = error instanceof Error ? error.message : String(error);
    console.log(`failed: ${failure}`);
    return {
      ...description,
      summary: null,
      serverBusy: null,
      clientBusy: null,
      otherLoad: null,
      warmupErrors: 0,
      errorSamples: [],
      failure,
    };
  }
}
