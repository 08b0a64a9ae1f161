/**
 * Suite 2, "transfers end to end": on a fresh embedded mesh, apps set up
 * through the gateway by the first administrator send transfers to each
 * other, every request signed, while the main thread counts what the servers
 * did (probes.ts). For each payload size, the same bytes first go through the
 * raw infrastructure (bus, filesystem) as baselines, then end to end; then the
 * large transfer goes up and down with the process's memory sampled. See
 * bench/README.md.
 */
import { join } from 'node:path';
import type { EmbeddedMesh } from '../../embedded/mesh.js';
import { type CpuSample, cpuSample, otherLoadSince, ownCpuMsSince } from '../cpu.js';
import {
  type BenchMesh,
  describeInfrastructure,
  firstAdminOf,
  type Infrastructure,
  startBenchMesh,
} from '../mesh.js';
import type { ScenarioReport, SuiteReport } from '../report.js';
import type { Settings } from '../settings.js';
import { ratio, summarize } from '../stats.js';
import { runInWorker, type WindowMeasure } from '../worker.js';
import { KiB, MiB, sizeText } from './content.js';
import { INLINE_MAX_BYTES } from './flow.js';
import { limitFindings, targetVerdicts } from './limits.js';
import { type MemoryReading, MemorySampler } from './memory.js';
import { busCounts, busDelta, installProbes, sqlCounts, sqlDelta } from './probes.js';
import { MainThreadProfiler } from './profile.js';
import { provisionCast } from './provision.js';
import {
  type IdlePoll,
  type LargeBaselineReport,
  type LargeLegReport,
  type LargeProfile,
  type LargeReport,
  MEMORY_LIMIT_BYTES,
  type ScenarioProfile,
  type TransferCosts,
  type TransfersSection,
  transferCosts,
} from './report.js';
import type {
  Cast,
  E2eResult,
  E2eSpec,
  LargeBaselineResult,
  LargeBaselineSpec,
  LargePreparation,
  LargeResult,
  LargeSpec,
  LoopResult,
  SmallBaselineSpec,
} from './spec.js';

const E2E_MODULE = new URL('./e2e-load.ts', import.meta.url);
const BASELINE_MODULE = new URL('./baseline-load.ts', import.meta.url);
const LARGE_MODULE = new URL('./large-load.ts', import.meta.url);
const LARGE_BASELINE_MODULE = new URL('./large-baseline-load.ts', import.meta.url);
const PREPARE_MODULE = new URL('./prepare-load.ts', import.meta.url);

/** The profiled large transfer carries at most this much (its per-MiB picture does not need more). */
const LARGE_PROFILE_BYTES = 256 * MiB;
/** Length of the profiled window after each end-to-end scenario. */
const PROFILE_MS = 3000;
/** Extra time a closed-loop worker may take beyond warm-up and duration (a transfer may take up to a minute). */
const LOOP_GRACE_MS = 90_000;
/** The large transfer's worker gives up below this rate over its four legs (plus a fixed allowance). */
const LARGE_SLOWEST_BYTES_PER_MS = 5_000;
const LARGE_FIXED_ALLOWANCE_MS = 120_000;

/** Scenarios (closed loops) of the suite and large-transfer workers, for the run's overall time budget. */
export function transfersBudgetMs(settings: Settings): number {
  const loops =
    6 * (settings.warmupMs + settings.durationMs + LOOP_GRACE_MS) + 3 * (1000 + PROFILE_MS + LOOP_GRACE_MS);
  const large =
    3 * (LARGE_FIXED_ALLOWANCE_MS + (4 * settings.largeBytes) / LARGE_SLOWEST_BYTES_PER_MS) +
    LARGE_FIXED_ALLOWANCE_MS +
    (2 * LARGE_PROFILE_BYTES) / LARGE_SLOWEST_BYTES_PER_MS;
  return loops + large + 120_000;
}

const GRPC_CLIENT =
  '@grpc/grpc-js generic clients, protobuf-es (de)serialisation, every request HMAC-SHA256 signed (streamed uploads with STREAMING-UNSIGNED-PAYLOAD)';

export async function transfersSuite(settings: Settings, infra: Infrastructure): Promise<SuiteReport> {
  let bench: BenchMesh | undefined;
  try {
    bench = await startBenchMesh(infra);
    const { mesh } = bench;
    installProbes(mesh.bus, infra.schemaPrefix);
    const gateway = new URL(mesh.gateway.url).host;
    const cast = await provisionCast(gateway, firstAdminOf(mesh), settings.receivers);
    console.log(
      `bench apps: source ${cast.source.appId}, recipients ${cast.recipients.map((r) => r.appId).join(', ')}`,
    );
    const context: Context = { settings, infra, mesh, cast, gateway, dataDir: bench.dataDir };
    // The large transfer first, on a mesh that has not yet carried the closed loops: the memory those
    // leave allocated (and free) in the process would otherwise hide what the large transfer needs.
    const large = await largeTransfer(context);
    const idlePoll = await pollCost(context);

    const scenarios: ScenarioReport[] = [];
    const profiles: ScenarioProfile[] = [];
    for (const size of SMALL_SIZES) {
      scenarios.push(await smallBaseline(context, size, 'bus'));
      scenarios.push(await smallBaseline(context, size, 'fs'));
      scenarios.push(await endToEnd(context, size, idlePoll));
      const profile = await profiled(context, size);
      if (profile !== null) profiles.push(profile);
    }
    const targets = targetVerdicts(scenarios, large);
    const section: TransfersSection = {
      settings: { receivers: settings.receivers, pollMs: settings.pollMs, largeBytes: settings.largeBytes },
      idlePoll,
      profiles,
      large,
      targets,
      limits: limitFindings(targets, scenarios, large, infra, profiles),
    };
    return {
      id: 'transfers-end-to-end',
      title: 'Suite 2 — transfers end to end',
      baseline:
        'the same bytes through the raw infrastructure, in a worker thread with the same closed loop: a durable ' +
        'publish consumed and acknowledged on the bus (raw JetStream with NATS_URL, else a fresh in-process bus), ' +
        'and a file written, fsynced, read back and deleted on the filesystem of the blobs.',
      infrastructure: describeInfrastructure(infra),
      rateUnit: 'ops/s',
      scenarios,
      ratios: RATIOS.map((r) => {
        const num = scenarios.find((s) => s.id === r.num)?.summary;
        const den = scenarios.find((s) => s.id === r.den)?.summary;
        return {
          id: `(${r.num})/(${r.den})`,
          title: r.title,
          isolates: r.isolates,
          value: num && den ? ratio(num, den) : null,
        };
      }),
      notes: NOTES(settings),
      transfers: section,
    };
  } finally {
    await bench?.close();
  }
}

interface Context {
  readonly settings: Settings;
  readonly infra: Infrastructure;
  readonly mesh: EmbeddedMesh;
  readonly cast: Cast;
  readonly gateway: string;
  readonly dataDir: string;
}

interface SmallSize {
  readonly bytes: number;
  readonly label: string;
  /** Ids of its bus baseline, filesystem baseline and end-to-end scenario. */
  readonly ids: readonly [string, string, string];
}

const SMALL_SIZES: readonly SmallSize[] = [
  { bytes: KiB, label: '1 KiB', ids: ['a', 'b', 'c'] },
  { bytes: MiB, label: '1 MiB', ids: ['d', 'e', 'f'] },
];

const RATIOS = [
  {
    num: 'c',
    den: 'a',
    title: '1 KiB transfer end to end / 1 KiB over the bus',
    isolates: 'everything a transfer adds to moving the bytes as one durable message',
  },
  {
    num: 'c',
    den: 'b',
    title: '1 KiB transfer end to end / 1 KiB file write + fsync + read',
    isolates: 'everything a transfer adds to storing the bytes durably and reading them back',
  },
  {
    num: 'f',
    den: 'd',
    title: '1 MiB transfer end to end / 1 MiB over the bus',
    isolates: 'the same for 1 MiB, uploaded and downloaded in streams instead of inline',
  },
  {
    num: 'f',
    den: 'e',
    title: '1 MiB transfer end to end / 1 MiB file write + fsync + read',
    isolates: 'the same for 1 MiB against the disk',
  },
  {
    num: 'f',
    den: 'c',
    title: '1 MiB / 1 KiB transfer end to end',
    isolates:
      'what 1023 KiB more cost a transfer: the upload and download streams, encryption, digests, disk',
  },
] as const;

function NOTES(settings: Settings): string[] {
  return [
    `A transfer: the source app's CreateTransfer (content inline up to ${INLINE_MAX_BYTES / KiB} KiB, else an ` +
      'Upload stream and CommitTransfer), then the recipient app\u2019s receiver, which polls ListPendingDeliveries, ' +
      'takes the delivery, AcceptDelivery (content inline in the answer, else a Download stream), checks the ' +
      'SHA-256 and ConfirmDelivery with it. Latency: from the start of CreateTransfer to the answer of ' +
      `ConfirmDelivery. ${settings.concurrency} transfers in flight, each to the next of ${settings.receivers} ` +
      `recipient apps in other units; each recipient app runs one receiver that polls again at once after a poll ` +
      `that found something new, else after ${settings.pollMs} ms (the notification service that would push ` +
      'offers is not built yet: polling is what a real client does today).',
    'Everything runs in one process: the servers (and PGlite) on the main thread, the clients in a worker ' +
      'thread. Server and client busy are those two threads\u2019 event-loop utilisation. The bus and filesystem ' +
      'baselines run in a worker alone, with the same closed loop and the same bytes; with the in-process bus, ' +
      'the baseline\u2019s bus is a fresh one in that worker.',
  ];
}

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

async function smallBaseline(context: Context, size: SmallSize, kind: 'bus' | 'fs'): Promise<ScenarioReport> {
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

async function endToEnd(
  context: Context,
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
  let sqlBefore = sqlCounts();
  let busBefore = busCounts();
  let costs: ((result: E2eResult, window: WindowMeasure) => TransferCosts) | undefined;
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
          const sql = sqlDelta(sqlBefore, sqlCounts());
          const bus = busDelta(busBefore, busCounts());
          costs = (r, w) => transferCosts(r, w, sql, bus, context.mesh.database.kind, idlePoll);
        },
      },
    );
    return { result, window, costs: costs?.(result, window) };
  });
}

/**
 * What an empty poll costs the servers: the receivers alone poll for two
 * seconds with nothing to find, and the main thread's busy time beyond what it
 * spends idle (timers, the outbox, sweeps) is divided by the polls made. A poll
 * that finds deliveries costs more (it reads and encodes them): a lower bound.
 */
async function pollCost(context: Context): Promise<IdlePoll | null> {
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
async function profiled(context: Context, size: SmallSize): Promise<ScenarioProfile | null> {
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
      `${fmtRate(summary.rps)}/s, p50 ${summary.latencyMs.p50.toFixed(2)} ms, p99 ${summary.latencyMs.p99.toFixed(2)} ms, ` +
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

// ---------------------------------------------------------------------------
// The large transfer

async function largeTransfer(context: Context): Promise<LargeReport> {
  const { settings, infra, mesh } = context;
  const bytes = settings.largeBytes;
  const limitMs = LARGE_FIXED_ALLOWANCE_MS + (4 * bytes) / LARGE_SLOWEST_BYTES_PER_MS;
  const baselines: LargeBaselineReport[] = [];
  for (const kind of ['fs', 'bus'] as const) {
    process.stdout.write(`large baseline (${kind}), ${mib(bytes)} … `);
    const spec: LargeBaselineSpec = {
      kind,
      bytes,
      natsUrl: infra.natsUrl,
      busPrefix: infra.busPrefix,
      dir: join(context.dataDir, `baseline-large-${kind}`),
    };
    try {
      const { result } = await runInWorker<LargeBaselineResult>(LARGE_BASELINE_MODULE, spec, limitMs);
      const legs = result.legs.map((l) => ({
        leg: `${kind === 'fs' ? 'filesystem' : 'bus'} ${l.leg}`,
        bytes: l.bytes,
        ms: l.ms,
        mbPerS: mbPerS(l.bytes, l.ms),
      }));
      baselines.push(...legs);
      console.log(legs.map((l) => `${l.leg} ${l.mbPerS.toFixed(0)} MB/s`).join(', '));
    } catch (error) {
      const failure = error instanceof Error ? error.message : String(error);
      console.log(`failed: ${failure}`);
      baselines.push({ leg: kind === 'fs' ? 'filesystem' : 'bus', bytes, ms: 0, mbPerS: 0, failure });
    }
  }

  process.stdout.write(
    `large transfer, ${mib(bytes)}, up and down through the gateway, then straight to storage … `,
  );
  const storage = mesh.services.find((s) => s.name === 'storage');
  if (storage === undefined) throw new Error('the mesh runs no storage service');
  const phases = new PhaseMeter();
  try {
    const { result: prepared } = await runInWorker<LargePreparation>(PREPARE_MODULE, { bytes }, limitMs);
    await settle();
    const spec: LargeSpec = {
      gateway: context.gateway,
      storage: new URL(storage.url).host,
      cast: context.cast,
      bytes,
      sha256: prepared.sha256,
      paths: ['gateway', 'direct'],
    };
    const { result } = await runInWorker<LargeResult>(LARGE_MODULE, spec, limitMs, {
      onReady: async () => {
        await steadyRss();
        phases.begin();
      },
      onPhase: (name) => phases.enter(name),
      onEnd: () => phases.enter('done'),
    });
    const memory = phases.end();
    const legs: LargeLegReport[] = result.legs.map((l) => {
      const phase = phases.of(l.leg);
      return {
        leg: l.leg,
        bytes: l.bytes,
        ms: l.ms,
        mbPerS: mbPerS(l.bytes, l.ms),
        serverBusy: phase?.serverBusy ?? null,
        otherLoad: phase?.otherLoad ?? null,
        processCpuMsPerMiB: phase === undefined ? null : phase.processCpuMs / (l.bytes / MiB),
        peakRssGrowthBytes: phase === undefined ? null : phase.peak.rss - memory.start.rss,
        serverHeapGrowthBytes: phase === undefined ? null : phase.peak.isolate - memory.start.isolate,
        clientHeapGrowthBytes: result.clientHeapGrowthBytes[l.leg] ?? null,
        sqlStatements: phase?.sqlStatements ?? null,
        busMessages: phase?.busMessages ?? null,
      };
    });
    console.log(
      `${legs.map((l) => `${l.leg} ${l.mbPerS.toFixed(0)} MB/s`).join(', ')}; ` +
        `peak RSS ${signedMib(memory.peak.rss - memory.start.rss)} ` +
        `(${memory.peak.rss - memory.start.rss <= MEMORY_LIMIT_BYTES ? 'PASS' : 'FAIL'})`,
    );
    const profileBytes = Math.min(bytes, LARGE_PROFILE_BYTES);
    const profiles = await largeProfiles(
      spec,
      profileBytes,
      profileBytes === bytes ? prepared.sha256 : undefined,
      limitMs,
    );
    return {
      bytes,
      legs,
      baselines,
      profiles,
      gatewayTransferMs: result.gatewayTransferMs,
      cryptoMsPerMiB: prepared.cryptoMsPerMiB,
      calls: result.calls,
      memory: {
        startRssBytes: memory.start.rss,
        peakRssBytes: memory.peak.rss,
        growthBytes: memory.peak.rss - memory.start.rss,
        serverHeapGrowthBytes: memory.peak.isolate - memory.start.isolate,
        clientHeapGrowthBytes: Math.max(0, ...Object.values(result.clientHeapGrowthBytes)),
        samples: memory.samples,
        limitBytes: MEMORY_LIMIT_BYTES,
        pass: memory.peak.rss - memory.start.rss <= MEMORY_LIMIT_BYTES,
      },
    };
  } catch (error) {
    phases.end();
    const failure = error instanceof Error ? error.message : String(error);
    console.log(`failed: ${failure}`);
    return {
      bytes,
      legs: [],
      baselines,
      profiles: [],
      gatewayTransferMs: null,
      cryptoMsPerMiB: null,
      calls: {},
      memory: null,
      failure,
    };
  }
}

/**
 * Another transfer through the gateway, up to LARGE_PROFILE_BYTES, with the
 * main thread's CPU profile taken during its upload and during its download:
 * where a MiB's time goes. After the measured legs, so that the profiler's
 * overhead touches none of their numbers.
 */
async function largeProfiles(
  measured: LargeSpec,
  bytes: number,
  known: Uint8Array | undefined,
  limitMs: number,
): Promise<LargeProfile[]> {
  process.stdout.write(`${mib(bytes)} through the gateway again, with the main thread profiled … `);
  const sha256 =
    known ?? (await runInWorker<LargePreparation>(PREPARE_MODULE, { bytes }, limitMs)).result.sha256;
  await settle();
  const spec: LargeSpec = { ...measured, bytes, sha256, paths: ['gateway'] };
  const profiles: LargeProfile[] = [];
  let profiler: MainThreadProfiler | undefined;
  let leg = '';
  const switchTo = async (next: string) => {
    if (profiler !== undefined) {
      const profile = await profiler.stop();
      profiles.push({
        leg,
        bytes,
        busyMs: profile.busyMs,
        owners: profile.owners.map((o) => ({ ...o, msPerMiB: o.ms / (bytes / MiB) })),
      });
      profiler = undefined;
    }
    if (next === 'gateway up' || next === 'gateway down') {
      leg = next;
      profiler = new MainThreadProfiler();
      await profiler.start();
    }
  };
  let switching = Promise.resolve();
  try {
    await runInWorker<LargeResult>(
      LARGE_MODULE,
      spec,
      LARGE_FIXED_ALLOWANCE_MS + (2 * bytes) / LARGE_SLOWEST_BYTES_PER_MS,
      {
        onPhase: (name) => {
          switching = switching.then(() => switchTo(name));
        },
      },
    );
    await switching;
    await switchTo('done');
    console.log(
      profiles
        .map(
          (p) =>
            `${p.leg}: ${p.owners
              .slice(0, 2)
              .map((o) => `${o.owner} ${pct(o.share)}`)
              .join(', ')}`,
        )
        .join('; '),
    );
    return profiles;
  } catch (error) {
    await switching.catch(() => undefined);
    await switchTo('done').catch(() => undefined);
    console.log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    return profiles;
  }
}

interface PhaseMeasure {
  readonly serverBusy: number;
  readonly otherLoad: number;
  readonly processCpuMs: number;
  /** Peak RSS of the process and of the main thread's isolate during the phase. */
  readonly peak: MemoryReading;
  readonly sqlStatements: number;
  readonly busMessages: number;
}

/**
 * The main thread's busy share, the process's CPU time and its peak RSS for
 * each phase of the large transfer, from the RSS sampled every 100 ms and
 * readings at each phase boundary.
 */
class PhaseMeter {
  #sampler: MemorySampler | undefined;
  #current: { name: string; elu: EventLoopUtilization; cpu: CpuSample; sql: number; bus: number } | undefined;
  readonly #done = new Map<string, PhaseMeasure>();

  begin(): void {
    this.#sampler = new MemorySampler(100);
  }

  enter(name: string): void {
    const sampler = this.#sampler;
    if (sampler === undefined) return;
    const peak = sampler.nextPhase();
    const current = this.#current;
    if (current !== undefined) {
      const cpu = cpuSample();
      this.#done.set(current.name, {
        serverBusy: performance.eventLoopUtilization(current.elu).utilization,
        otherLoad: otherLoadSince(current.cpu, cpu),
        processCpuMs: ownCpuMsSince(current.cpu, cpu),
        peak,
        sqlStatements: sqlCounts().statements - current.sql,
        busMessages: busCounts().published - current.bus,
      });
    }
    this.#current = {
      name,
      elu: performance.eventLoopUtilization(),
      cpu: cpuSample(),
      sql: sqlCounts().statements,
      bus: busCounts().published,
    };
  }

  of(name: string): PhaseMeasure | undefined {
    return this.#done.get(name);
  }

  end(): { start: MemoryReading; peak: MemoryReading; samples: number } {
    const sampler = this.#sampler;
    this.#sampler = undefined;
    if (sampler === undefined) return { start: NO_MEMORY, peak: NO_MEMORY, samples: 0 };
    return sampler.stop();
  }
}

const NO_MEMORY: MemoryReading = { rss: 0, isolate: 0 };

type EventLoopUtilization = ReturnType<typeof performance.eventLoopUtilization>;

// ---------------------------------------------------------------------------

/**
 * Waits until the servers are nearly idle (main thread under 15 % busy over a
 * quarter of a second), at most 15 s: the background work a scenario left
 * (offers, purges of delivered content, the outbox) must not be billed to the next.
 */
async function settle(): Promise<void> {
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    const before = performance.eventLoopUtilization();
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (performance.eventLoopUtilization(before).utilization < 0.15) return;
  }
}

function mbPerS(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1e6 / (ms / 1000) : 0;
}

function mib(bytes: number): string {
  return sizeText(bytes);
}

function signedMib(bytes: number): string {
  return `${bytes < 0 ? '−' : '+'}${sizeText(Math.abs(bytes))}`;
}

/**
 * Waits until the process's RSS holds still (within 2 MiB over a second, at
 * most 15 s), after a full collection when `--expose-gc` allows one (npm run
 * bench passes it): memory that earlier work (workers just ended, garbage)
 * is still handing back must not count as the start, or the transfer would
 * seem to shrink the process.
 */
async function steadyRss(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  const deadline = performance.now() + 15_000;
  const recent: number[] = [];
  while (performance.now() < deadline) {
    recent.push(process.memoryUsage.rss());
    if (recent.length > 5) recent.shift();
    if (recent.length === 5 && Math.max(...recent) - Math.min(...recent) < 2 * MiB) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function pct(share: number): string {
  return `${Math.round(share * 100)} %`;
}

function fmtRate(rate: number): string {
  return rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}
