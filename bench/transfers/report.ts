/**
 * Suite 2's part of the report: what a transfer cost the servers, the large
 * transfer, the targets and what limits each one missed; as data (JSON) and
 * as Markdown.
 */
import { percentile } from '../stats.js';
import type { WindowMeasure } from '../worker.js';
import type { BusCounts, SqlCounts } from './probes.js';
import { type E2eResult, STAGES, type Stage } from './spec.js';

export const MEMORY_LIMIT_BYTES = 100 * 1024 * 1024;

/** What one end-to-end transfer cost, on average over a scenario's measured window. */
export interface TransferCosts {
  readonly transfers: number;
  /** Milliseconds the main thread (every server, and PGlite) was busy, per transfer. */
  readonly serverMsPerTransfer: number;
  /** CPU milliseconds of the whole process (servers, clients, libuv pool), per transfer. */
  readonly processCpuMsPerTransfer: number;
  /** Milliseconds the clients' worker thread was busy, per transfer. */
  readonly clientMsPerTransfer: number;
  readonly rpcsPerTransfer: number;
  /** RPCs per transfer, by `Service/Method`. */
  readonly rpcs: Readonly<Record<string, number>>;
  readonly pollsPerTransfer: number;
  /** Share of the polls that found nothing new. */
  readonly emptyPollShare: number;
  /** Main-thread milliseconds the polls cost per transfer, at least: polls × the cost of an empty poll. */
  readonly pollServerMsPerTransfer: number | null;
  readonly sql: {
    readonly database: 'pglite' | 'postgres';
    readonly statementsPerTransfer: number;
    readonly transactionsPerTransfer: number;
    /** Milliseconds from call to answer, summed over a transfer's statements. */
    readonly statementMsPerTransfer: number;
    /** Statements per transfer, by the service whose schema they name. */
    readonly byService: Readonly<Record<string, number>>;
    /** PGlite only: share of the window its single session was leased, and queueing for it per transfer. */
    readonly sessionHeldShare: number | null;
    readonly leaseWaitMsPerTransfer: number | null;
  };
  readonly bus: {
    readonly messagesPerTransfer: number;
    readonly bytesPerTransfer: number;
    /** Messages per transfer, by the first two subject tokens after the prefix. */
    readonly bySubject: Readonly<Record<string, number>>;
  };
  /** Each stage of a transfer, in milliseconds. */
  readonly stagesMs: Readonly<
    Record<Stage, { readonly mean: number; readonly p50: number; readonly p95: number }>
  >;
}

export function transferCosts(
  result: E2eResult,
  window: WindowMeasure,
  sql: SqlCounts,
  bus: BusCounts,
  database: 'pglite' | 'postgres',
  idlePoll: IdlePoll | null,
): TransferCosts {
  const n = Math.max(1, result.requests);
  const per = (value: number) => value / n;
  const perEach = (counts: Readonly<Record<string, number>>) =>
    Object.fromEntries(
      Object.entries(counts)
        .sort(([, a], [, b]) => b - a)
        .map(([k, v]) => [k, per(v)]),
    );
  const rpcs = Object.values(result.calls).reduce((a, b) => a + b, 0);
  return {
    transfers: result.requests,
    serverMsPerTransfer: per(window.serverActiveMs),
    processCpuMsPerTransfer: per(window.processCpuMs),
    clientMsPerTransfer: per(result.clientBusy * result.elapsedMs),
    rpcsPerTransfer: per(rpcs),
    rpcs: perEach(result.calls),
    pollsPerTransfer: per(result.polls.total),
    emptyPollShare: result.polls.total > 0 ? result.polls.empty / result.polls.total : 0,
    pollServerMsPerTransfer:
      idlePoll === null || !Number.isFinite(idlePoll.msPerPoll)
        ? null
        : per(result.polls.total) * idlePoll.msPerPoll,
    sql: {
      database,
      statementsPerTransfer: per(sql.statements),
      transactionsPerTransfer: per(sql.transactions),
      statementMsPerTransfer: per(sql.statementMs),
      byService: perEach(sql.byService),
      sessionHeldShare: database === 'pglite' ? sql.leaseHeldMs / window.windowMs : null,
      leaseWaitMsPerTransfer: database === 'pglite' ? per(sql.leaseWaitMs) : null,
    },
    bus: {
      messagesPerTransfer: per(bus.published),
      bytesPerTransfer: per(bus.bytes),
      bySubject: perEach(bus.bySubject),
    },
    stagesMs: Object.fromEntries(
      STAGES.map((stage) => {
        const values = Float64Array.from(result.stagesMs[stage]).sort();
        let total = 0;
        for (const v of values) total += v;
        return [
          stage,
          {
            mean: values.length > 0 ? total / values.length : Number.NaN,
            p50: percentile(values, 50),
            p95: percentile(values, 95),
          },
        ];
      }),
    ) as Record<Stage, { mean: number; p50: number; p95: number }>,
  };
}

export interface LargeLegReport {
  readonly leg: string;
  readonly bytes: number;
  readonly ms: number;
  /** Megabytes (10^6 bytes) per second. */
  readonly mbPerS: number;
  /** Share of the leg the main thread (gateway, storage, PGlite) was busy. */
  readonly serverBusy: number | null;
  /** Share of the machine's CPU other processes took during the leg. */
  readonly otherLoad: number | null;
  /** CPU milliseconds of the whole process per MiB carried. */
  readonly processCpuMsPerMiB: number | null;
  /** Largest rise of the mesh process's RSS during the leg over any earlier reading of the transfer. */
  readonly rssRiseBytes: number | null;
  /** The same for the heap in use plus buffers of the servers' isolate (the mesh's main thread). */
  readonly serverHeapRiseBytes: number | null;
  /** The same for the RSS of the client's process. */
  readonly clientRssRiseBytes: number | null;
  /** SQL statements and bus messages the servers issued during the leg. */
  readonly sqlStatements: number | null;
  readonly busMessages: number | null;
}

export interface LargeBaselineReport {
  readonly leg: string;
  readonly bytes: number;
  readonly ms: number;
  readonly mbPerS: number;
  readonly failure?: string;
}

export interface LargeReport {
  readonly bytes: number;
  /** Gateway up, gateway down, direct up, direct down. */
  readonly legs: readonly LargeLegReport[];
  readonly baselines: readonly LargeBaselineReport[];
  /** Where the main thread's time went per MiB, up and down through the gateway (a separate, profiled transfer). */
  readonly profiles: readonly LargeProfile[];
  /** CreateTransfer to ConfirmDelivery through the gateway. */
  readonly gatewayTransferMs: number | null;
  /** What sealing (AES-256-GCM, 64 KiB segments) and hashing (SHA-256) one MiB cost on this machine, in ms. */
  readonly cryptoMsPerMiB: { readonly aesGcm: number; readonly sha256: number } | null;
  /** RPCs of the whole large run, by `Service/Method`. */
  readonly calls: Readonly<Record<string, number>>;
  readonly memory: {
    readonly startRssBytes: number;
    readonly peakRssBytes: number;
    /** Largest rise of the mesh process's RSS over any earlier reading of the transfer (memory.ts): what is bounded. */
    readonly growthBytes: number;
    /** The same for the servers' isolate (heap in use plus buffers), and for the client process's RSS. */
    readonly serverHeapRiseBytes: number;
    readonly clientRssRiseBytes: number;
    readonly samples: number;
    readonly limitBytes: number;
    readonly pass: boolean;
  } | null;
  readonly failure?: string;
}

export interface LargeProfile {
  readonly leg: string;
  /** Size of the profiled transfer (at most 256 MiB). */
  readonly bytes: number;
  readonly busyMs: number;
  readonly owners: readonly {
    readonly owner: string;
    readonly ms: number;
    readonly share: number;
    readonly msPerMiB: number;
  }[];
}

export interface TargetVerdict {
  readonly id: string;
  readonly what: string;
  readonly target: string;
  readonly measured: string;
  /** null: not measured. */
  readonly met: boolean | null;
}

export interface LimitFinding {
  /** The target it explains. */
  readonly target: string;
  /** Sentences, each built from this run's measurements. */
  readonly findings: readonly string[];
}

/** What an empty ListPendingDeliveries costs the servers, measured with the receivers alone. */
export interface IdlePoll {
  /** Main-thread milliseconds per empty poll, beyond the idle mesh's own. */
  readonly msPerPoll: number;
  readonly pollsPerSecond: number;
  /** The main thread's busy share with nothing running, and while the receivers polled. */
  readonly idleServerBusy: number;
  readonly serverBusy: number;
}

/** Where the main thread's time went during a profiled window of an end-to-end scenario. */
export interface ScenarioProfile {
  /** Id of the scenario whose load was repeated. */
  readonly scenario: string;
  readonly transfers: number;
  /** Busy (non-idle) milliseconds sampled. */
  readonly busyMs: number;
  readonly owners: readonly {
    readonly owner: string;
    readonly ms: number;
    readonly share: number;
    readonly msPerTransfer: number;
  }[];
}

export interface TransfersSection {
  readonly settings: { readonly receivers: number; readonly pollMs: number; readonly largeBytes: number };
  readonly idlePoll: IdlePoll | null;
  readonly profiles: readonly ScenarioProfile[];
  readonly large: LargeReport;
  readonly targets: readonly TargetVerdict[];
  readonly limits: readonly LimitFinding[];
}
