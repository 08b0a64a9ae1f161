/**
 * The issue's targets, whether this run met each, and for each one missed,
 * what limits it — every sentence built from this run's measurements (the
 * servers' busy share and CPU per transfer or per MiB, SQL statements and bus
 * messages per transfer, RPCs, stage times), none written in advance.
 */
import os from 'node:os';
import type { Infrastructure } from '../mesh.js';
import type { ScenarioReport } from '../report.js';
import { MiB } from './content.js';
import { entries, growthText, ms, num, pct, sizeText } from './format.js';
import type {
  LargeLegReport,
  LargeReport,
  LimitFinding,
  ScenarioProfile,
  TargetVerdict,
  TransferCosts,
} from './report.js';
import { STAGES } from './spec.js';

/** The issue's aims on a machine like this one. */
export const TARGETS = {
  smallTransfersPerSecond: 1000,
  largeMBPerSecond: 200,
} as const;

/** The end-to-end 1 KiB scenario: its id in the suite. */
export const SMALL_E2E_ID = 'c';
/** Above this busy share, the main thread (every server) is the bottleneck rather than waiting. */
const SATURATED = 0.85;
/** An owner of at least this share of the main thread's time is a hot spot. */
const HOT_SPOT_SHARE = 0.4;
/** How many owners of main-thread time a finding names. */
const PROFILE_OWNERS = 6;
/** Below this share of a transfer's server time, a cost is called minor. */
const MINOR_SHARE = 0.2;

export function targetVerdicts(scenarios: readonly ScenarioReport[], large: LargeReport): TargetVerdict[] {
  const small = scenarios.find((s) => s.id === SMALL_E2E_ID)?.summary;
  const leg = (name: string) => large.legs.find((l) => l.leg === name);
  const mbTarget = (id: string, name: string): TargetVerdict => {
    const measured = leg(name);
    return {
      id,
      what: `${sizeText(large.bytes)} transfer ${name.replace('gateway ', '')} through the gateway`,
      target: `≥ ${TARGETS.largeMBPerSecond} MB/s`,
      measured: measured === undefined ? 'not measured' : `${measured.mbPerS.toFixed(1)} MB/s`,
      met: measured === undefined ? null : measured.mbPerS >= TARGETS.largeMBPerSecond,
    };
  };
  return [
    {
      id: 'small-rate',
      what: '1 KiB transfers end to end (c)',
      target: `≥ ${TARGETS.smallTransfersPerSecond.toLocaleString('en')} transfers/s`,
      measured:
        small === undefined || small === null ? 'not measured' : `${small.rps.toFixed(1)} transfers/s`,
      met: small === undefined || small === null ? null : small.rps >= TARGETS.smallTransfersPerSecond,
    },
    mbTarget('large-up', 'gateway up'),
    mbTarget('large-down', 'gateway down'),
    {
      id: 'large-memory',
      what: `memory growth of the process during the ${sizeText(large.bytes)} transfer`,
      target: `≤ ${sizeText(large.memory?.limitBytes ?? 100 * MiB)}`,
      measured: large.memory === null ? 'not measured' : growthText(large.memory.growthBytes),
      met: large.memory === null ? null : large.memory.pass,
    },
  ];
}

export function limitFindings(
  targets: readonly TargetVerdict[],
  scenarios: readonly ScenarioReport[],
  large: LargeReport,
  infra: Infrastructure,
  profiles: readonly ScenarioProfile[] = [],
): LimitFinding[] {
  const out: LimitFinding[] = [];
  for (const target of targets) {
    if (target.met !== false) continue;
    if (target.id === 'small-rate') {
      const scenario = scenarios.find((s) => s.id === SMALL_E2E_ID);
      if (scenario?.costs !== undefined) {
        const profile = profiles.find((p) => p.scenario === SMALL_E2E_ID);
        out.push({ target: target.what, findings: smallFindings(scenario, infra, profile) });
      }
    } else if (target.id === 'large-up' || target.id === 'large-down') {
      const name = target.id === 'large-up' ? 'up' : 'down';
      out.push({ target: target.what, findings: largeFindings(large, name) });
    } else if (target.id === 'large-memory' && large.memory !== null) {
      out.push({
        target: target.what,
        findings: large.legs.map(
          (l) =>
            `${l.leg}: the mesh process's RSS rose by ${growthText(l.rssRiseBytes)}, the heap in use and ` +
            `buffers of its servers' isolate (main thread) by ${growthText(l.serverHeapRiseBytes)}; the client ` +
            `process's RSS by ${growthText(l.clientRssRiseBytes)}.`,
        ),
      });
    }
  }
  return out;
}

function smallFindings(
  scenario: ScenarioReport,
  infra: Infrastructure,
  profile: ScenarioProfile | undefined,
): string[] {
  const costs = scenario.costs as TransferCosts;
  const summary = scenario.summary!;
  const busy = scenario.serverBusy ?? 0;
  const ceiling = 1000 / costs.serverMsPerTransfer;
  const { sql, bus } = costs;
  const findings: string[] = [];
  findings.push(
    `Measured ${summary.rps.toFixed(1)} transfers/s with ${costs.transfers} transfers in the window: ` +
      `${(TARGETS.smallTransfersPerSecond / summary.rps).toFixed(0)}× short of ${TARGETS.smallTransfersPerSecond}/s.`,
  );
  findings.push(
    busy >= SATURATED
      ? `The servers' thread is the limit: the main thread, which runs the gateway, every service` +
          `${sql.database === 'pglite' ? ' and PGlite' : ''}, was busy ${pct(busy)} of the window, ` +
          `${ms(costs.serverMsPerTransfer)} per transfer, so one event loop tops out near ${ceiling.toFixed(0)} ` +
          `transfers/s whatever the concurrency; ${TARGETS.smallTransfersPerSecond}/s needs at most ` +
          `${ms(1000 / TARGETS.smallTransfersPerSecond)} per transfer, ${(costs.serverMsPerTransfer / (1000 / TARGETS.smallTransfersPerSecond)).toFixed(0)}× less.`
      : `The main thread (every server) was busy only ${pct(busy)} of the window (${ms(costs.serverMsPerTransfer)} ` +
          `per transfer): the loop waited, on the database, the bus or the receivers' polling, more than it computed.`,
  );
  const cores = os.cpus().length;
  findings.push(
    `The process used ${ms(costs.processCpuMsPerTransfer)} of CPU per transfer on all its threads ` +
      `(the servers' main thread ${ms(costs.serverMsPerTransfer)}, the clients' worker ${ms(costs.clientMsPerTransfer)}, ` +
      `the rest on the process's other threads: libuv's pool, V8's background threads): all ${cores} cores of this machine would carry at most ` +
      `${((cores * 1000) / costs.processCpuMsPerTransfer).toFixed(0)} transfers/s at that cost.`,
  );
  findings.push(
    `Database: ${num(sql.statementsPerTransfer)} SQL statements in ${num(sql.transactionsPerTransfer)} transactions per ` +
      `transfer (${entries(sql.byService)}; "other" is transaction control), ${ms(sql.statementMsPerTransfer)} of ` +
      `statement time per transfer` +
      (sql.database === 'pglite'
        ? ` — ${pct(sql.statementMsPerTransfer / costs.serverMsPerTransfer)} of the main thread's time per transfer, ` +
          `since PGlite executes on the main thread; its single session was leased ${pct(sql.sessionHeldShare ?? 0)} ` +
          `of the window, and callers queued ${ms(sql.leaseWaitMsPerTransfer ?? 0)} per transfer for it.`
        : ` (round trips to ${infra.databaseUrl === undefined ? 'the server' : 'PostgreSQL'} included; its own CPU ` +
          `counts as other load, ${pct(scenario.otherLoad ?? 0)} of the machine).`),
  );
  findings.push(
    `Bus: ${num(bus.messagesPerTransfer)} messages published per transfer (${entries(bus.bySubject)}).`,
  );
  if (profile !== undefined && profile.transfers > 0) {
    findings.push(
      `A CPU profile of the main thread over ${profile.transfers} more such transfers puts ` +
        `${ms(profile.busyMs / profile.transfers)} per transfer on it` +
        ((profile.owners[0]?.share ?? 0) >= HOT_SPOT_SHARE
          ? `, ${pct(profile.owners[0]!.share)} of it in one owner: `
          : `, no owner above ${pct(HOT_SPOT_SHARE)} of it: `) +
        `${profile.owners
          .slice(0, PROFILE_OWNERS)
          .map((o) => `${o.owner} ${pct(o.share)}`)
          .join(', ')} (the table above lists them all).`,
    );
  }
  findings.push(
    `RPCs: ${num(costs.rpcsPerTransfer)} signed calls through the gateway per transfer (${entries(costs.rpcs)}), ` +
      `${ms(costs.serverMsPerTransfer / costs.rpcsPerTransfer)} of main thread per call on average (background work ` +
      `included); ${pct(costs.emptyPollShare)} of the ${num(costs.pollsPerTransfer)} polls per transfer found nothing new` +
      (costs.pollServerMsPerTransfer === null
        ? '.'
        : `, and polling took at least ${ms(costs.pollServerMsPerTransfer)} of the ` +
          `${ms(costs.serverMsPerTransfer)} (${pct(costs.pollServerMsPerTransfer / costs.serverMsPerTransfer)})` +
          (costs.pollServerMsPerTransfer / costs.serverMsPerTransfer < MINOR_SHARE
            ? ': a minor part of the cost.'
            : ': a large part of the cost, which a receiver on the Subscribe stream of NEW_DELIVERY notices would save.')),
  );
  findings.push(
    `Where the p50 of ${ms(summary.latencyMs.p50)} went (mean per stage): ` +
      STAGES.filter((s) => costs.stagesMs[s].mean >= 0.05)
        .map((s) => `${s} ${ms(costs.stagesMs[s].mean)}`)
        .join(', ') +
      (busy >= SATURATED
        ? `. With the servers ${pct(busy)} busy, most of each stage is queueing behind the other transfers in flight.`
        : '.'),
  );
  const clientBusy = scenario.clientBusy ?? 0;
  findings.push(
    `${clientBusy < SATURATED ? 'The client is not the limit' : 'The client is a limit too'}: its worker thread was ` +
      `busy ${pct(clientBusy)} (${ms(costs.clientMsPerTransfer)} per transfer).`,
  );
  return findings;
}

function largeFindings(large: LargeReport, direction: 'up' | 'down'): string[] {
  const viaGateway = large.legs.find((l) => l.leg === `gateway ${direction}`);
  const direct = large.legs.find((l) => l.leg === `direct ${direction}`);
  const disk = large.baselines.find(
    (b) => b.leg === (direction === 'up' ? 'filesystem write' : 'filesystem read'),
  );
  if (viaGateway === undefined) return ['Not measured.'];
  const findings: string[] = [];
  findings.push(
    `Through the gateway: ${viaGateway.mbPerS.toFixed(1)} MB/s; straight to the storage service: ` +
      `${direct === undefined ? 'not measured' : `${direct.mbPerS.toFixed(1)} MB/s`}` +
      (direct === undefined
        ? '.'
        : ` — the gateway hop costs ${pct(1 - viaGateway.mbPerS / direct.mbPerS)} of the rate, and even without it ` +
          `the storage path alone stays ${direct.mbPerS >= TARGETS.largeMBPerSecond ? 'above' : 'below'} ` +
          `${TARGETS.largeMBPerSecond} MB/s.`),
  );
  findings.push(loopFinding(viaGateway));
  if (direct !== undefined) findings.push(loopFinding(direct));
  if (disk !== undefined && disk.failure === undefined) {
    findings.push(
      `${disk.mbPerS >= TARGETS.largeMBPerSecond ? 'The disk is not the limit' : 'The disk is a limit too'}: the same ` +
        `bytes ${direction === 'up' ? 'written and fsynced' : 'read back'} ` +
        `as one file reach ${disk.mbPerS.toFixed(0)} MB/s on this filesystem` +
        (direction === 'down' ? ' (from the page cache, as the download of a blob just uploaded is).' : '.'),
    );
  }
  if (large.cryptoMsPerMiB !== null) {
    const mainMsPerMiB =
      viaGateway.serverBusy === null
        ? null
        : (viaGateway.serverBusy * viaGateway.ms) / (viaGateway.bytes / MiB);
    const { aesGcm, sha256 } = large.cryptoMsPerMiB;
    const share = mainMsPerMiB === null ? null : (aesGcm + sha256) / mainMsPerMiB;
    findings.push(
      `${share !== null && share < MINOR_SHARE ? 'Not the cryptography' : 'Cryptography'}: sealing a MiB in 64 KiB ` +
        `AES-256-GCM segments takes ${ms(aesGcm)} and hashing it (SHA-256) ${ms(sha256)} on this machine (timed in ` +
        `the worker before the transfer)` +
        (share === null || mainMsPerMiB === null
          ? '.'
          : `, ${pct(share)} of the ${ms(mainMsPerMiB)} per MiB the main thread spent.`),
    );
  }
  const profile = large.profiles.find((p) => p.leg === viaGateway.leg);
  if (profile !== undefined) {
    findings.push(
      `A CPU profile of the main thread during the ${viaGateway.leg.replace('gateway ', '')}load of another ` +
        `${sizeText(profile.bytes)} through the gateway: ${ms(profile.busyMs / (profile.bytes / MiB))} per MiB, ` +
        `${profile.owners
          .slice(0, PROFILE_OWNERS)
          .map((o) => `${o.owner} ${pct(o.share)} (${ms(o.msPerMiB)})`)
          .join(', ')}.`,
    );
  }
  if (viaGateway.sqlStatements !== null) {
    findings.push(
      `Database and bus during the leg: ${viaGateway.sqlStatements} SQL statements ` +
        `(${num(viaGateway.sqlStatements / (viaGateway.bytes / MiB))} per MiB) and ${viaGateway.busMessages ?? 0} bus messages.`,
    );
  }
  return findings;
}

function loopFinding(leg: LargeLegReport): string {
  if (leg.serverBusy === null || leg.processCpuMsPerMiB === null) return `${leg.leg}: not measured.`;
  const mainMsPerMiB = (leg.serverBusy * leg.ms) / (leg.bytes / MiB);
  const mainCeiling = MiB / 1e6 / (mainMsPerMiB / 1000);
  return (
    `${capitalised(leg.leg)}: the main thread was busy ${pct(leg.serverBusy)} of the leg, ` +
    `${ms(mainMsPerMiB)} per MiB (a ceiling near ${mainCeiling.toFixed(0)} MB/s for one event loop); ` +
    `the mesh process used ${ms(leg.processCpuMsPerMiB)} of CPU per MiB on all its threads (the client runs in a ` +
    'process of its own).'
  );
}

const capitalised = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
