/**
 * `npm run bench`: runs the suites and writes bench/reports/latest.md and
 * bench/reports/latest.json. A timing means something only as a ratio to a
 * baseline measured in the same run on the same machine, so each suite carries
 * its own baseline. See bench/README.md.
 *
 *   npm run bench -- --duration 5 --warmup 1 --concurrency 16 --suite transfers --large-bytes 64M
 *
 * Suite 1, "registry read through the gateway" (registry-suite.ts); suite 2,
 * "transfers end to end" (transfers/suite.ts); suite 3, "notifications"
 * (notifications/suite.ts); "gateway", a signed small read against a bare
 * echo at 1, 16 and 128 in flight (gateway/suite.ts). Each starts a fresh embedded
 * mesh: PGlite in a temporary directory and the in-process bus, or the real
 * servers named by DATABASE_URL and NATS_URL, in schemas and streams of the
 * run's own that are removed afterwards.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { deleteStreams, dropSchemas } from '../test/support/cleanup.js';
import { gatewayBudgetMs, gatewaySuite } from './gateway/suite.js';
import { type Infrastructure, SERVICES } from './mesh.js';
import { notificationsBudgetMs, notificationsSuite } from './notifications/suite.js';
import { REGISTRY_SCENARIO_COUNT, registryReadSuite, WORKER_GRACE_MS } from './registry-suite.js';
import {
  type BenchReport,
  CONTENDED_LOAD,
  contendedScenarios,
  type SuiteReport,
  toJsonText,
  toMarkdown,
} from './report.js';
import { readSettings, type Settings, type SuiteName, UsageError } from './settings.js';
import { ratioText } from './transfers/format.js';
import { transfersBudgetMs, transfersSuite } from './transfers/suite.js';

interface Suite {
  /** Short tag in the run's schema and stream names, so that each suite gets a fresh database. */
  readonly tag: string;
  readonly run: (settings: Settings, infra: Infrastructure) => Promise<SuiteReport>;
  readonly budgetMs: (settings: Settings) => number;
}

const SUITES: Record<SuiteName, Suite> = {
  registry: {
    tag: 'r',
    run: registryReadSuite,
    budgetMs: (s) => REGISTRY_SCENARIO_COUNT * (s.warmupMs + s.durationMs + WORKER_GRACE_MS) + 60_000,
  },
  transfers: { tag: 't', run: transfersSuite, budgetMs: transfersBudgetMs },
  notifications: { tag: 'n', run: notificationsSuite, budgetMs: notificationsBudgetMs },
  gateway: { tag: 'g', run: gatewaySuite, budgetMs: gatewayBudgetMs },
};

/** Where a suite's mesh keeps its data and messages: its own schemas and streams on shared servers. */
function infrastructureFor(suite: Suite, runId: string): Infrastructure {
  const databaseUrl = process.env['DATABASE_URL'] || undefined;
  const natsUrl = process.env['NATS_URL'] || undefined;
  return {
    databaseUrl,
    natsUrl,
    schemaPrefix: databaseUrl === undefined ? '' : `bench_${runId}_${suite.tag}_`,
    busPrefix: natsUrl === undefined ? 'BENCH' : `BENCH_${runId.toUpperCase()}_${suite.tag.toUpperCase()}`,
  };
}

/** Removes what a suite left on the shared servers, whatever happened to it. */
async function cleanUp(infra: Infrastructure): Promise<void> {
  if (infra.databaseUrl !== undefined) {
    await dropSchemas(
      SERVICES.map((service) => `${infra.schemaPrefix}${service}`),
      infra.databaseUrl,
    );
  }
  if (infra.natsUrl !== undefined) await deleteStreams(infra.busPrefix, infra.natsUrl);
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function header(settings: Settings): BenchReport {
  const cpus = os.cpus();
  const sha = git('rev-parse', 'HEAD');
  return {
    schemaVersion: 1,
    generatedAt: new Date().toISOString(),
    commit: { sha: sha === '' ? 'unknown' : sha, dirty: git('status', '--porcelain') !== '' },
    machine: {
      cpu: cpus[0]?.model.trim() ?? 'unknown',
      cores: cpus.length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
    },
    settings: {
      suites: settings.suites,
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      concurrency: settings.concurrency,
      maxRequests: settings.maxRequests,
      largeBytes: settings.largeBytes,
      receivers: settings.receivers,
      pollMs: settings.pollMs,
      apps: settings.apps,
    },
    suites: [],
  };
}

function printSummary(suites: readonly SuiteReport[]): void {
  for (const suite of suites) {
    console.log(`\n${suite.title}`);
    for (const r of suite.ratios) {
      if (r.value === null) continue;
      const target =
        r.target === undefined
          ? ''
          : `  (target ≥ ${r.target.throughputAtLeast.toFixed(2)}: ${r.target.met ? 'met' : 'NOT met'})`;
      console.log(
        `${r.id.padEnd(8)} p50 ×${ratioText(r.value.p50)}  throughput ×${ratioText(r.value.throughput)}  ${r.title}${target}`,
      );
    }
    for (const t of [
      ...(suite.transfers?.targets ?? []),
      ...(suite.notifications?.targets ?? []),
      ...(suite.gateway?.targets ?? []),
    ]) {
      console.log(
        `target ${t.what}: ${t.target}, measured ${t.measured}: ${t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met'}`,
      );
    }
    const contended = [
      ...contendedScenarios(suite).map((s) => `(${s.id})`),
      ...(suite.transfers?.large.legs ?? [])
        .filter((l) => (l.otherLoad ?? 0) > CONTENDED_LOAD)
        .map((l) => l.leg),
      ...(suite.notifications?.presence.phases ?? [])
        .filter((p) => p.otherLoad > CONTENDED_LOAD)
        .map((p) => `presence phase "${p.name}"`),
    ];
    if (contended.length > 0) {
      console.warn(
        `bench: other processes loaded the machine during ${contended.join(', ')}: ` +
          'the numbers and ratios of this suite are not reliable',
      );
    }
  }
}

/** A run with a failed scenario, an error or a wrong answer: its numbers are not comparable. */
function failed(suites: readonly SuiteReport[]): boolean {
  return suites.some(
    (suite) =>
      suite.scenarios.some(
        (s) => s.failure !== undefined || (s.summary?.errors ?? 0) > 0 || s.warmupErrors > 0,
      ) ||
      suite.transfers?.large.failure !== undefined ||
      (suite.transfers?.large.baselines ?? []).some((b) => b.failure !== undefined) ||
      suite.notifications?.fanout.failure !== undefined ||
      suite.notifications?.presence.failure !== undefined ||
      (suite.notifications?.presence.streamErrors ?? 0) > 0 ||
      // The profiled phase is not a measurement: the profiler's own cost may make heartbeats time out.
      (suite.notifications?.presence.phases ?? []).some(
        (p) => p.heartbeatErrors > 0 && p.name !== 'profiled',
      ),
  );
}

async function main(): Promise<void> {
  const settings = readSettings();
  if (settings === undefined) return;
  const runId = randomBytes(3).toString('hex');
  const chosen = settings.suites.map((name) => SUITES[name]);

  // Whatever happens, the run ends: a stuck server or client cannot keep it alive.
  const budgetMs = chosen.reduce((total, suite) => total + suite.budgetMs(settings), 60_000);
  setTimeout(() => {
    console.error(`bench: still running after ${budgetMs} ms, giving up`);
    process.exit(2);
  }, budgetMs).unref();

  const report = header(settings);
  const suites: SuiteReport[] = [];
  for (const suite of chosen) {
    const infra = infrastructureFor(suite, runId);
    try {
      suites.push(await suite.run(settings, infra));
    } finally {
      await cleanUp(infra);
    }
  }
  const done: BenchReport = { ...report, suites };

  mkdirSync(settings.outDir, { recursive: true });
  writeFileSync(join(settings.outDir, 'latest.json'), toJsonText(done));
  writeFileSync(join(settings.outDir, 'latest.md'), toMarkdown(done));
  console.log(`\nreport: ${join(settings.outDir, 'latest.md')} and latest.json`);
  printSummary(suites);
  if (failed(suites)) {
    console.error('bench: some scenarios failed or had errors (see the report)');
    process.exitCode = 1;
  }
}

main().then(
  () => {
    // Everything was closed; if a handle still keeps the process alive, do not wait for it forever.
    setTimeout(() => process.exit(process.exitCode ?? 0), 5_000).unref();
  },
  (error: unknown) => {
    if (error instanceof UsageError) console.error(error.message);
    else console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 5_000).unref();
  },
);
