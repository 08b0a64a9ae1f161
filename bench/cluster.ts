/**
 * `npm run bench:cluster`: end-to-end transfer throughput on the local
 * cluster with one process of every service and of the gateway, then with
 * two (bench/README.md, "Cluster: one replica against two"). Each run gets a
 * fresh cluster (three NATS nodes either way) on a Postgres of the bench's
 * own; the same closed-loop load of small signed transfers through the
 * gateways, and the same receivers, measure both. Writes
 * bench/reports/cluster.md and cluster.json.
 *
 *   npm run bench:cluster -- [--duration 30] [--warmup 5] [--concurrency 16] [--replicas 1,2]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '#lib/embedded/nats-server.js';
import { LocalCluster } from '../cluster/cluster.js';
import { createTenants, GatewayPool, hmacSigner, TransferLoad } from '../cluster/load.js';
import { PrivatePostgres } from '../cluster/postgres.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    replicas: { type: 'string', default: '1,2' },
    out: { type: 'string', default: 'bench/reports' },
  },
});
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const concurrency = Number(values.concurrency);
const replicaCounts = values.replicas.split(',').map(Number);

interface RunResult {
  readonly replicas: number;
  readonly processes: number;
  readonly committedPerSecond: number;
  readonly deliveredPerSecond: number;
  readonly commitP50Ms: number;
  readonly commitP95Ms: number;
  readonly endToEndP50Ms: number;
  readonly endToEndP95Ms: number;
  /** Share of the machine's CPU time busy during the window (every process: cluster, Postgres, load). */
  readonly cpuBusy: number;
  readonly startupMs: number;
  readonly errors: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const t = cpu.times;
    const all = t.user + t.nice + t.sys + t.idle + t.irq;
    total += all;
    busy += all - t.idle;
  }
  return { busy, total };
}

async function measure(postgres: PrivatePostgres, replicas: number, runDir: string): Promise<RunResult> {
  const began = Date.now();
  const cluster = await LocalCluster.start({
    runDir,
    databaseUrl: postgres.url(),
    schemaPrefix: `r${replicas}_`,
    busPrefix: `BENCHCL${replicas}`,
    replicas,
    logLevel: 'warn',
    extraEnv: { LGSP_RATE_LIMIT_RPS: '0' },
  });
  try {
    const startupMs = Date.now() - began;
    const admin = cluster.admin!;
    const pool = new GatewayPool(cluster.gatewayUrls, 30_000);
    const tenants = await createTenants(pool, hmacSigner(admin.accessKeyId, admin.secret), {
      sources: 2,
      destinations: 4,
    });
    const load = new TransferLoad(pool, tenants, { senders: concurrency, receiverConcurrency: 8 });
    load.start();
    await sleep(warmupMs);
    const from = Date.now();
    const cpu0 = cpuTimes();
    await sleep(durationMs);
    const to = Date.now();
    const cpu1 = cpuTimes();
    await load.drain(60_000);
    const inWindow = (at: number) => at >= from && at < to;
    const commits = load.commitLatencies.filter(([at]) => inWindow(at)).map(([, ms]) => ms);
    const endToEnd: number[] = [];
    let delivered = 0;
    for (const [id, at] of load.deliveredAt) {
      if (!inWindow(at)) continue;
      delivered++;
      const sent = load.sent.get(id);
      if (sent !== undefined) endToEnd.push(at - sent.committedAt);
    }
    const seconds = (to - from) / 1000;
    return {
      replicas,
      processes: cluster.platformProcesses.length,
      committedPerSecond: commits.length / seconds,
      deliveredPerSecond: delivered / seconds,
      commitP50Ms: percentile(commits, 50),
      commitP95Ms: percentile(commits, 95),
      endToEndP50Ms: percentile(endToEnd, 50),
      endToEndP95Ms: percentile(endToEnd, 95),
      cpuBusy: (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total),
      startupMs,
      errors: load.sendFailures + load.missing().length + load.misdelivered,
    };
  } finally {
    await cluster.stop();
  }
}

function toMarkdown(results: readonly RunResult[]): string {
  const one = results.find((r) => r.replicas === 1);
  const ratio = (r: RunResult) =>
    one === undefined || r === one ? '' : ` (×${(r.deliveredPerSecond / one.deliveredPerSecond).toFixed(2)})`;
  const cpu = os.cpus();
  return [
    '# Cluster bench: one replica of every service against two',
    '',
    `${new Date().toISOString()}; ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}; Node ${process.version}.`,
    `Closed loop of ${concurrency} senders of small inline transfers (one or two recipients each) through the gateways, four receiving apps (eight deliveries at a time each); ${warmupMs / 1000} s warm-up, ${durationMs / 1000} s measured. Three NATS nodes and one Postgres in both runs.`,
    '',
    '| replicas per service and gateway | platform processes | transfers committed/s | transfers delivered to every recipient/s | commit p50 / p95 | commit → last confirm p50 / p95 | machine CPU busy | errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.replicas} | ${r.processes} | ${r.committedPerSecond.toFixed(1)} | ${r.deliveredPerSecond.toFixed(1)}${ratio(r)} | ${r.commitP50Ms} / ${r.commitP95Ms} ms | ${r.endToEndP50Ms} / ${r.endToEndP95Ms} ms | ${(r.cpuBusy * 100).toFixed(0)} % | ${r.errors} |`,
    ),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const pgDir = mkdtempSync(join(os.tmpdir(), 'lgsp-bench-cluster-pg-'));
  const dir = mkdtempSync(join(os.tmpdir(), 'lgsp-bench-cluster-'));
  const postgres = new PrivatePostgres({ dir: pgDir, port: await freePort() });
  const results: RunResult[] = [];
  try {
    await postgres.start();
    for (const replicas of replicaCounts) {
      console.log(`cluster bench: ${replicas} replica(s) per service…`);
      const result = await measure(postgres, replicas, join(dir, `r${replicas}`));
      console.log(JSON.stringify(result));
      results.push(result);
    }
  } finally {
    await postgres.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    rmSync(pgDir, { recursive: true, force: true });
  }
  mkdirSync(values.out, { recursive: true });
  const markdown = toMarkdown(results);
  writeFileSync(join(values.out, 'cluster.md'), markdown);
  writeFileSync(
    join(values.out, 'cluster.json'),
    `${JSON.stringify({ generatedAt: new Date().toISOString(), concurrency, warmupMs, durationMs, results }, null, 2)}\n`,
  );
  console.log(`\n${markdown}`);
  if (results.some((r) => r.errors > 0)) process.exitCode = 1;
}

// Whatever happens, the run ends.
setTimeout(() => {
  console.error('cluster bench: still running after 15 minutes, giving up');
  process.exit(2);
}, 15 * 60_000).unref();

main().then(
  () => setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref(),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
