/**
 * Suite 2's large transfer: its baselines (filesystem, bus), the transfer
 * itself up and down through the gateway and then straight to the storage
 * with the process's memory, CPU and the servers' work measured per leg, and
 * a profiled transfer of up to 256 MiB after it.
 */
import { join } from 'node:path';
import { type CpuSample, cpuSample, otherLoadSince, ownCpuMsSince } from '../cpu.js';
import { runInChild, runInWorker } from '../worker.js';
import { MiB } from './content.js';
import type { SuiteContext } from './context.js';
import { growthText, mbPerS, pct, sizeText } from './format.js';
import { type MemoryReading, MemorySampler, type MemorySummary } from './memory.js';
import { busCounts, sqlCounts } from './probes.js';
import { MainThreadProfiler } from './profile.js';
import { settle, steadyRss } from './quiet.js';
import {
  type LargeBaselineReport,
  type LargeLegReport,
  type LargeProfile,
  type LargeReport,
  MEMORY_LIMIT_BYTES,
} from './report.js';
import type {
  LargeBaselineResult,
  LargeBaselineSpec,
  LargePreparation,
  LargeResult,
  LargeSpec,
} from './spec.js';

const LARGE_MODULE = new URL('./large-load.ts', import.meta.url);
const LARGE_BASELINE_MODULE = new URL('./large-baseline-load.ts', import.meta.url);
const PREPARE_MODULE = new URL('./prepare-load.ts', import.meta.url);

/** The profiled large transfer carries at most this much (its per-MiB picture does not need more). */
export const LARGE_PROFILE_BYTES = 256 * MiB;
/** The large transfer's worker gives up below this rate over its four legs (plus a fixed allowance). */
export const LARGE_SLOWEST_BYTES_PER_MS = 5_000;
export const LARGE_FIXED_ALLOWANCE_MS = 120_000;

export async function largeTransfer(context: SuiteContext): Promise<LargeReport> {
  const { settings, mesh } = context;
  const bytes = settings.largeBytes;
  const limitMs = LARGE_FIXED_ALLOWANCE_MS + (4 * bytes) / LARGE_SLOWEST_BYTES_PER_MS;
  process.stdout.write(
    `large transfer, ${sizeText(bytes)}, up and down through the gateway, then straight to storage … `,
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
    const { result } = await runInChild<LargeResult>(LARGE_MODULE, spec, limitMs, {
      onReady: async () => {
        await steadyRss();
        phases.begin();
      },
      onPhase: (name, cpuMs) => phases.enter(name, cpuMs),
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
        rssRiseBytes: phase?.rise.rss ?? null,
        serverHeapRiseBytes: phase?.rise.isolate ?? null,
        clientRssRiseBytes: result.clientRssRiseBytes[l.leg] ?? null,
        sqlStatements: phase?.sqlStatements ?? null,
        busMessages: phase?.busMessages ?? null,
      };
    });
    console.log(
      `${legs.map((l) => `${l.leg} ${l.mbPerS.toFixed(0)} MB/s`).join(', ')}; ` +
        `RSS rose by at most ${growthText(memory.rise.rss)} ` +
        `(${memory.rise.rss <= MEMORY_LIMIT_BYTES ? 'PASS' : 'FAIL'})`,
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
      baselines: await largeBaselines(context, limitMs),
      profiles,
      gatewayTransferMs: result.gatewayTransferMs,
      cryptoMsPerMiB: prepared.cryptoMsPerMiB,
      calls: result.calls,
      memory: {
        startRssBytes: memory.start.rss,
        peakRssBytes: memory.peak.rss,
        growthBytes: memory.rise.rss,
        serverHeapRiseBytes: memory.rise.isolate,
        clientRssRiseBytes: Math.max(0, ...Object.values(result.clientRssRiseBytes)),
        samples: memory.samples,
        limitBytes: MEMORY_LIMIT_BYTES,
        pass: memory.rise.rss <= MEMORY_LIMIT_BYTES,
      },
    };
  } catch (error) {
    phases.end();
    const failure = error instanceof Error ? error.message : String(error);
    console.log(`failed: ${failure}`);
    return {
      bytes,
      legs: [],
      baselines: await largeBaselines(context, limitMs),
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
 * The same bytes through the raw infrastructure, in a worker alone. After the
 * transfer, not before: the in-process bus holds up to half a second of
 * messages, hundreds of MiB that the process hands back to the system only
 * slowly, and the transfer's memory is measured from a steady start.
 */
async function largeBaselines(context: SuiteContext, limitMs: number): Promise<LargeBaselineReport[]> {
  const { settings, infra } = context;
  const bytes = settings.largeBytes;
  const baselines: LargeBaselineReport[] = [];
  for (const kind of ['fs', 'bus'] as const) {
    process.stdout.write(`large baseline (${kind}), ${sizeText(bytes)} … `);
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

  return baselines;
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
  process.stdout.write(`${sizeText(bytes)} through the gateway again, with the main thread profiled … `);
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
    await runInChild<LargeResult>(
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
  /** Largest rise of the process's RSS and of the main thread's isolate during the phase. */
  readonly rise: MemoryReading;
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
  #current:
    | {
        name: string;
        elu: EventLoopUtilization;
        cpu: CpuSample;
        clientCpuMs: number;
        sql: number;
        bus: number;
      }
    | undefined;
  readonly #done = new Map<string, PhaseMeasure>();

  begin(): void {
    this.#sampler = new MemorySampler(100);
  }

  /** A phase begins; `clientCpuMs` is the client process's CPU time so far, which is not another process's load. */
  enter(name: string, clientCpuMs: number): void {
    const sampler = this.#sampler;
    if (sampler === undefined) return;
    const rise = sampler.nextPhase();
    const current = this.#current;
    if (current !== undefined) {
      const cpu = cpuSample();
      const machine = cpu.machineTotal - current.cpu.machineTotal;
      const client = clientCpuMs - current.clientCpuMs;
      this.#done.set(current.name, {
        serverBusy: performance.eventLoopUtilization(current.elu).utilization,
        otherLoad: Math.max(0, otherLoadSince(current.cpu, cpu) - (machine > 0 ? client / machine : 0)),
        processCpuMs: ownCpuMsSince(current.cpu, cpu),
        rise,
        sqlStatements: sqlCounts().statements - current.sql,
        busMessages: busCounts().published - current.bus,
      });
    }
    this.#current = {
      name,
      elu: performance.eventLoopUtilization(),
      cpu: cpuSample(),
      clientCpuMs,
      sql: sqlCounts().statements,
      bus: busCounts().published,
    };
  }

  of(name: string): PhaseMeasure | undefined {
    return this.#done.get(name);
  }

  end(): MemorySummary {
    const sampler = this.#sampler;
    this.#sampler = undefined;
    if (sampler === undefined) return { start: NO_MEMORY, peak: NO_MEMORY, rise: NO_MEMORY, samples: 0 };
    return sampler.stop();
  }
}

const NO_MEMORY: MemoryReading = { rss: 0, isolate: 0 };

type EventLoopUtilization = ReturnType<typeof performance.eventLoopUtilization>;
