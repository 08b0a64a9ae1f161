/**
 * `npm run bench`: runs every scenario and writes bench/reports/latest.md and
 * bench/reports/latest.json. A timing means something only as a ratio to a
 * baseline measured in the same run on the same machine, so each suite carries
 * its own baseline. See bench/README.md.
 *
 *   npm run bench -- --duration 5 --warmup 1 --concurrency 16
 *
 * Suite 1, "registry read through the gateway": the embedded mesh (PGlite in a
 * temporary directory and the in-process bus, or the real servers named by
 * DATABASE_URL and NATS_URL) next to a bare connect-node server, driven from a
 * worker thread over loopback; the same read unsigned and signed by an app's
 * HMAC and RSA credentials, set up through the gateway by the first administrator.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { createLogger, silentLogger } from '#lib/logger.js';
import { type EmbeddedMesh, startEmbeddedMesh } from '../embedded/mesh.js';
import type { FirstAdmin } from '../services/auth/src/bootstrap.js';
import { deleteStreams, dropSchemas } from '../test/support/cleanup.js';
import { type BaselineServer, startBaselineServer } from './baseline.js';
import { type BenchSigners, provisionSigners } from './credentials.js';
import {
  type BenchReport,
  contendedScenarios,
  type RatioReport,
  type ScenarioReport,
  type SuiteReport,
  toJsonText,
  toMarkdown,
} from './report.js';
import type { CallName, LoadResult, LoadSpec, SignerSpec, Target, WorkerMessage } from './scenarios.js';
import { ratio, summarize } from './stats.js';

const USAGE = `usage: npm run bench -- [--duration <s>] [--warmup <s>] [--concurrency <n>] [--max-requests <n>] [--out <dir>]

  --duration      measured seconds per scenario (default 5, at most 120)
  --warmup        warm-up seconds per scenario, not measured (default 1, at most 60)
  --concurrency   requests in flight (default 16, at most 256)
  --max-requests  stop measuring a scenario after this many requests (default 1000000)
  --out           where to write latest.md and latest.json (default bench/reports)

Environment: DATABASE_URL (a real PostgreSQL instead of PGlite), NATS_URL (a real
NATS JetStream instead of the in-process bus), BENCH_LOG_LEVEL (mesh logs, default silent).`;

const SERVICES = ['registry', 'auth', 'transfer', 'storage', 'notification', 'sso'] as const;
const LOOPBACK = '127.0.0.1';
/** Extra time a worker may take beyond warm-up and duration before it is stopped. */
const WORKER_GRACE_MS = 30_000;
/** Scenarios in a run, for the run's overall time budget. */
const SCENARIO_COUNT = 8;

interface Settings {
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly concurrency: number;
  readonly maxRequests: number;
  readonly outDir: string;
}

/** A wrong command line: reported with the usage, without a stack trace. */
class UsageError extends Error {
  override name = 'UsageError';
}

function readSettings(argv: readonly string[] = process.argv.slice(2)): Settings | undefined {
  let values: ReturnType<typeof parseOptions>['values'];
  try {
    values = parseOptions(argv).values;
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  }
  if (values.help === true) {
    console.log(USAGE);
    return undefined;
  }
  const number = (name: string, raw: string | undefined, fallback: number, min: number, max: number) => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new UsageError(`--${name} must be a number between ${min} and ${max}, got "${raw}"\n\n${USAGE}`);
    }
    return value;
  };
  return {
    durationMs: Math.round(number('duration', values.duration, 5, 0.1, 120) * 1000),
    warmupMs: Math.round(number('warmup', values.warmup, 1, 0, 60) * 1000),
    concurrency: Math.round(number('concurrency', values.concurrency, 16, 1, 256)),
    maxRequests: Math.round(number('max-requests', values['max-requests'], 1_000_000, 1, 10_000_000)),
    outDir: values.out ?? fileURLToPath(new URL('./reports', import.meta.url)),
  };
}

function parseOptions(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string' },
      'max-requests': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
}

// ---------------------------------------------------------------------------
// Load workers

const LOAD_MODULE = new URL('./load.ts', import.meta.url).href;
/** A worker does not inherit the tsx loader: it registers it, then loads the TypeScript module. */
const WORKER_SOURCE = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => { api.register(); return import(${JSON.stringify(LOAD_MODULE)}); });`;

interface MeasuredLoad extends LoadResult {
  /** Share of the measured window the main thread (every server of the run) was busy. */
  readonly serverBusy: number;
  /** Share of the machine's CPU that other processes used during the measured window. */
  readonly otherLoad: number;
}

/** CPU time of the whole machine and of this process (every thread), in milliseconds. */
interface CpuSample {
  readonly machineBusy: number;
  readonly machineTotal: number;
  readonly own: number;
}

function cpuSample(): CpuSample {
  let busy = 0;
  let total = 0;
  for (const { times } of os.cpus()) {
    const used = times.user + times.nice + times.sys + times.irq;
    busy += used;
    total += used + times.idle;
  }
  const own = process.cpuUsage();
  return { machineBusy: busy, machineTotal: total, own: (own.user + own.system) / 1000 };
}

/**
 * What other processes took of the machine since `start`: a bench sharing its
 * cores with a build or a test run measures that contention, not the code,
 * and its ratios cannot be trusted.
 */
function otherLoadSince(start: CpuSample): number {
  const end = cpuSample();
  const total = end.machineTotal - start.machineTotal;
  const others = end.machineBusy - start.machineBusy - (end.own - start.own);
  return total > 0 ? Math.min(1, Math.max(0, others / total)) : 0;
}

/** Runs one load in a fresh worker thread, and terminates it (closing its connections) before answering. */
async function runInWorker(spec: LoadSpec): Promise<MeasuredLoad> {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: spec });
  const limitMs = spec.warmupMs + spec.durationMs + WORKER_GRACE_MS;
  try {
    return await new Promise<MeasuredLoad>((resolve, reject) => {
      let busyAtStart = performance.eventLoopUtilization();
      let cpuAtStart = cpuSample();
      const timer = setTimeout(() => reject(new Error(`no result within ${limitMs} ms`)), limitMs);
      const settle = () => clearTimeout(timer);
      worker.on('message', (message: WorkerMessage) => {
        if (message.kind === 'measuring') {
          busyAtStart = performance.eventLoopUtilization();
          cpuAtStart = cpuSample();
          return;
        }
        settle();
        if (message.kind === 'failed') reject(new Error(message.error));
        else
          resolve({
            ...message.result,
            serverBusy: performance.eventLoopUtilization(busyAtStart).utilization,
            otherLoad: otherLoadSince(cpuAtStart),
          });
      });
      worker.once('error', (error) => {
        settle();
        reject(error);
      });
      worker.once('exit', (code) => {
        settle();
        reject(new Error(`load worker exited with code ${code} before answering`));
      });
    });
  } finally {
    await worker.terminate();
  }
}

// ---------------------------------------------------------------------------
// Suite 1: registry read through the gateway

interface ScenarioDef {
  readonly id: string;
  readonly title: string;
  readonly rpc: string;
  readonly server: string;
  readonly protocol: string;
  readonly client: string;
  readonly call: CallName;
  readonly target: Target;
  readonly signer?: SignerSpec;
}

const GRPC_PROTOCOL = 'gRPC over HTTP/2 cleartext';
const JSON_PROTOCOL = 'Connect JSON over HTTP/1.1';
const GRPC_CLIENT = '@grpc/grpc-js generic client, protobuf-es (de)serialisation, one HTTP/2 connection';
const JSON_CLIENT = 'fetch (undici, keep-alive), one HTTP/1.1 connection per request in flight';
const HEALTH_CHECK = 'grpc.health.v1.Health/Check';
const GET_UNIT = 'lgsp.registry.v1.RegistryService/GetUnit';
const GATEWAY_PATH = 'gateway → registry (grpc-js hop) → database';
const SIGNED_GATEWAY_PATH =
  'gateway (checks the body digest, the signature against cached key material, and claims the nonce on the bus) ' +
  '→ registry (grpc-js hop) → database';

/** How a signed scenario signs: the algorithm for people, the key for the load worker. */
interface Signing {
  readonly algorithm: 'HMAC-SHA256' | 'RSA-SHA256';
  readonly signer: SignerSpec;
}

/**
 * GetUnit of the bench unit through the gateway, over gRPC or Connect JSON,
 * unsigned or signed. One definition for (b), (c) and (f)–(h), so that signed
 * and unsigned differ in the signature only.
 */
function gatewayGetUnit(
  mesh: EmbeddedMesh,
  id: string,
  protocol: Target['protocol'],
  signing?: Signing,
): ScenarioDef {
  const grpc = protocol === 'grpc';
  const client = grpc ? GRPC_CLIENT : JSON_CLIENT;
  return {
    id,
    title: `GetUnit through the gateway ${grpc ? 'over gRPC' : 'as Connect JSON'}${signing === undefined ? '' : `, signed with ${signing.algorithm}`}`,
    rpc: GET_UNIT,
    server: signing === undefined ? GATEWAY_PATH : SIGNED_GATEWAY_PATH,
    protocol: grpc ? GRPC_PROTOCOL : JSON_PROTOCOL,
    client:
      signing === undefined
        ? client
        : `${client}; signs every request with ${signing.algorithm} (fresh nonce and timestamp) inside the load loop`,
    call: 'get-unit',
    target: grpc
      ? { protocol: 'grpc', address: new URL(mesh.gateway.url).host }
      : { protocol: 'connect-json', baseUrl: mesh.gateway.url },
    ...(signing === undefined ? {} : { signer: signing.signer }),
  };
}

function registryReadScenarios(
  baseline: BaselineServer,
  mesh: EmbeddedMesh,
  signers: BenchSigners,
): ScenarioDef[] {
  const hmac: Signing = { algorithm: 'HMAC-SHA256', signer: signers.hmac };
  return [
    {
      id: 'a',
      title: 'Baseline: Health.Check over gRPC',
      rpc: HEALTH_CHECK,
      server: 'bare connect-node (`http2.createServer`, h2c)',
      protocol: GRPC_PROTOCOL,
      client: GRPC_CLIENT,
      call: 'health-check',
      target: { protocol: 'grpc', address: baseline.grpcAddress },
    },
    gatewayGetUnit(mesh, 'b', 'grpc'),
    gatewayGetUnit(mesh, 'c', 'connect-json'),
    {
      id: 'd',
      title: 'Baseline: Health.Check as Connect JSON',
      rpc: HEALTH_CHECK,
      server: 'bare connect-node (`http.createServer`)',
      protocol: JSON_PROTOCOL,
      client: JSON_CLIENT,
      call: 'health-check',
      target: { protocol: 'connect-json', baseUrl: baseline.jsonUrl },
    },
    {
      id: 'e',
      title: 'GetUnit straight to the registry over gRPC (no gateway)',
      rpc: GET_UNIT,
      server: 'registry → database',
      protocol: GRPC_PROTOCOL,
      client: GRPC_CLIENT,
      call: 'get-unit',
      target: { protocol: 'grpc', address: new URL(mesh.registry.url).host },
    },
    gatewayGetUnit(mesh, 'f', 'grpc', hmac),
    gatewayGetUnit(mesh, 'g', 'grpc', { algorithm: 'RSA-SHA256', signer: signers.rsa }),
    gatewayGetUnit(mesh, 'h', 'connect-json', hmac),
  ];
}

/**
 * The least share of the unsigned throughput that a signed read through the
 * same gateway must keep for verifying signatures to count as cheap.
 */
const SIGNED_THROUGHPUT_TARGET = 0.8;

const RATIOS: ReadonlyArray<{
  num: string;
  den: string;
  title: string;
  isolates: string;
  /** The throughput ratio must reach this for the claim the ratio backs. */
  throughputTarget?: number;
}> = [
  {
    num: 'b',
    den: 'a',
    title: 'gateway gRPC GetUnit / bare gRPC Health.Check',
    isolates:
      'all a public read costs over a trivial RPC: gateway interceptors, the hop to the registry, its handler and query',
  },
  {
    num: 'c',
    den: 'd',
    title: 'gateway JSON GetUnit / bare JSON Health.Check',
    isolates: 'the same, for a legacy client speaking Connect JSON over HTTP/1.1',
  },
  {
    num: 'c',
    den: 'b',
    title: 'gateway JSON / gateway gRPC',
    isolates: 'the public protocol: JSON over HTTP/1.1 against protobuf over one HTTP/2 connection',
  },
  {
    num: 'd',
    den: 'a',
    title: 'bare JSON / bare gRPC',
    isolates: 'the protocol alone, with nothing of LGSP in the way',
  },
  {
    num: 'b',
    den: 'e',
    title: 'through the gateway / straight to the registry (gRPC)',
    isolates: 'the gateway hop: its interceptors, decoding and re-encoding, one more grpc-js call',
  },
  {
    num: 'e',
    den: 'a',
    title: 'registry GetUnit / bare Health.Check (gRPC)',
    isolates: 'the registry service: its interceptors, handler and database query',
  },
  {
    num: 'f',
    den: 'b',
    title: 'HMAC-SHA256 signed / unsigned, gateway gRPC GetUnit',
    isolates:
      'a signed request: buffering and hashing the body, reading the headers, the HMAC check against cached key ' +
      'material and the nonce claim at the gateway; plus signing on the client',
    throughputTarget: SIGNED_THROUGHPUT_TARGET,
  },
  {
    num: 'g',
    den: 'b',
    title: 'RSA-SHA256 signed / unsigned, gateway gRPC GetUnit',
    isolates:
      'the same with an RSA-2048 signature: a public-key verification at the gateway, a private-key signature on the client',
    throughputTarget: SIGNED_THROUGHPUT_TARGET,
  },
  {
    num: 'h',
    den: 'c',
    title: 'HMAC-SHA256 signed / unsigned, gateway Connect JSON GetUnit',
    isolates: 'a signed request for a legacy JSON client, as (f)/(b) for gRPC',
  },
];

function ratioReports(scenarios: readonly ScenarioReport[]): RatioReport[] {
  const byId = new Map(scenarios.map((s) => [s.id, s.summary]));
  return RATIOS.map((r) => {
    const num = byId.get(r.num);
    const den = byId.get(r.den);
    const value = num && den ? ratio(num, den) : null;
    return {
      id: `(${r.num})/(${r.den})`,
      title: r.title,
      isolates: r.isolates,
      value,
      ...(r.throughputTarget === undefined
        ? {}
        : {
            target: {
              throughputAtLeast: r.throughputTarget,
              met: value === null ? null : value.throughput >= r.throughputTarget,
            },
          }),
    };
  });
}

/** Said in the report next to the numbers: what the signed scenarios include, and whether the target was met. */
function signedNotes(ratios: readonly RatioReport[]): string[] {
  const verdicts = ratios
    .filter((r) => r.target !== undefined)
    .map((r) => {
      const throughput = r.value === null ? 'not measured' : `×${r.value.throughput.toFixed(3)}`;
      const met = r.target?.met === null ? 'unknown' : r.target?.met ? 'met' : 'NOT met';
      return `${r.id} ${throughput}: ${met}`;
    });
  return [
    'Signed scenarios (f)–(h): the load worker signs every request inside the loop, as a real client does — it ' +
      'encodes the message, hashes the body exactly as sent, builds the string to sign with a fresh nonce and ' +
      'timestamp, and signs it (HMAC-SHA256, or RSA-SHA256 with a 2048-bit key). That signing time is part of every ' +
      'measured latency and of the client busy column. It runs on the worker, not on the servers\u2019 thread, but the ' +
      'loop is closed: a request being signed is not yet at the server, so client work also shows as lower server ' +
      'busy and lower throughput. An RSA private-key signature costs the client far more than the public-key check ' +
      'costs the gateway: when a signed scenario\u2019s server busy is below that of its unsigned twin, the gap is ' +
      'the client\u2019s pace, not the gateway\u2019s verification.',
    'The bench app (under the unit it reads) and its two credentials were set up through the gateway by the first ' +
      'administrator (RegisterApp, CreateCredential, RegisterPublicKey, each call signed). Before measuring, a request ' +
      'signed with the wrong key was refused for each credential, so the signatures of (f)–(h) were verified.',
    `Target: signed throughput at least ${SIGNED_THROUGHPUT_TARGET.toFixed(2)} of unsigned through the same gateway — ` +
      `${verdicts.join('; ')}.`,
  ];
}

interface Infrastructure {
  readonly databaseUrl: string | undefined;
  readonly natsUrl: string | undefined;
  readonly schemaPrefix: string;
  readonly busPrefix: string;
}

async function registryReadSuite(settings: Settings, infra: Infrastructure): Promise<SuiteReport> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'lgsp-bench-'));
  const level = process.env['BENCH_LOG_LEVEL'];
  let baseline: BaselineServer | undefined;
  let mesh: EmbeddedMesh | undefined;
  try {
    baseline = await startBaselineServer(LOOPBACK);
    const started = performance.now();
    mesh = await startEmbeddedMesh({
      dataDir,
      host: LOOPBACK,
      gatewayPort: 0,
      ...(infra.databaseUrl === undefined ? {} : { databaseUrl: infra.databaseUrl }),
      nats: infra.natsUrl ?? 'memory',
      busPrefix: infra.busPrefix,
      schemaPrefix: infra.schemaPrefix,
      seedDemo: true,
      logger: level === undefined ? silentLogger() : createLogger({ level }),
    });
    console.log(
      `mesh started in ${Math.round(performance.now() - started)} ms (gateway ${mesh.gateway.url})`,
    );

    const signers = await provisionSigners(new URL(mesh.gateway.url).host, firstAdminOf(mesh));
    console.log(`bench app credentials: HMAC ${signers.hmac.accessKeyId}, RSA ${signers.rsa.accessKeyId}`);

    const scenarios: ScenarioReport[] = [];
    for (const def of registryReadScenarios(baseline, mesh, signers)) {
      scenarios.push(await runScenario(def, settings));
    }
    const ratios = ratioReports(scenarios);
    return {
      id: 'registry-read-through-gateway',
      title: 'Suite 1 — registry read through the gateway',
      baseline:
        'grpc.health.v1 Health/Check, an unsigned trivial RPC, on a bare connect-node server in the same process ' +
        '(no interceptors, no authentication, no upstream, no database); no bench-only proto is added.',
      infrastructure: {
        database:
          infra.databaseUrl === undefined
            ? 'PGlite (PostgreSQL in WebAssembly, on the main thread) in a temporary directory'
            : `PostgreSQL at ${redact(infra.databaseUrl)}`,
        bus:
          infra.natsUrl === undefined
            ? 'in-process bus (nats: "memory")'
            : `NATS JetStream at ${redact(infra.natsUrl)}`,
      },
      scenarios,
      ratios,
      notes: signedNotes(ratios),
    };
  } finally {
    await baseline?.close();
    await mesh?.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A fresh mesh creates its first administrator: without it, no credential could be set up through the gateway. */
function firstAdminOf(mesh: EmbeddedMesh): FirstAdmin {
  if (mesh.firstAdmin === undefined) {
    throw new Error('the mesh did not create a first administrator: is its database not fresh?');
  }
  return mesh.firstAdmin;
}

async function runScenario(def: ScenarioDef, settings: Settings): Promise<ScenarioReport> {
  const base = {
    id: def.id,
    title: def.title,
    rpc: def.rpc,
    server: def.server,
    protocol: def.protocol,
    client: def.client,
  };
  process.stdout.write(`(${def.id}) ${def.title} … `);
  try {
    const result = await runInWorker({
      call: def.call,
      target: def.target,
      ...(def.signer === undefined ? {} : { signer: def.signer }),
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      concurrency: settings.concurrency,
      maxRequests: settings.maxRequests,
    });
    const summary = summarize(result.latenciesMs, result.errors, result.elapsedMs);
    const errors = result.errors + result.warmupErrors;
    console.log(
      `${Math.round(summary.rps)} req/s, p50 ${summary.latencyMs.p50.toFixed(3)} ms, ` +
        `p99 ${summary.latencyMs.p99.toFixed(3)} ms, busy: server ${pct(result.serverBusy)} client ${pct(result.clientBusy)}, ` +
        `other processes ${pct(result.otherLoad)}` +
        `${errors > 0 ? `, ${errors} errors: ${result.errorSamples.join('; ')}` : ''}`,
    );
    return {
      ...base,
      summary,
      serverBusy: result.serverBusy,
      clientBusy: result.clientBusy,
      otherLoad: result.otherLoad,
      warmupErrors: result.warmupErrors,
      errorSamples: result.errorSamples,
    };
  } catch (error) {
    const failure = error instanceof Error ? error.message : String(error);
    console.log(`failed: ${failure}`);
    return {
      ...base,
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
// Real servers: a schema prefix and a stream prefix of the run's own, removed afterwards

// ---------------------------------------------------------------------------

function pct(share: number): string {
  return `${Math.round(share * 100)} %`;
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

async function main(): Promise<void> {
  const settings = readSettings();
  if (settings === undefined) return;
  const runId = randomBytes(3).toString('hex');
  const databaseUrl = process.env['DATABASE_URL'] || undefined;
  const natsUrl = process.env['NATS_URL'] || undefined;
  const infra: Infrastructure = {
    databaseUrl,
    natsUrl,
    schemaPrefix: databaseUrl === undefined ? '' : `bench_${runId}_`,
    busPrefix: natsUrl === undefined ? 'BENCH' : `BENCH_${runId.toUpperCase()}`,
  };

  // Whatever happens, the run ends: a stuck server or client cannot keep it alive.
  const budgetMs = SCENARIO_COUNT * (settings.warmupMs + settings.durationMs + WORKER_GRACE_MS) + 180_000;
  setTimeout(() => {
    console.error(`bench: still running after ${budgetMs} ms, giving up`);
    process.exit(2);
  }, budgetMs).unref();

  const cpus = os.cpus();
  const sha = git('rev-parse', 'HEAD');
  const report: BenchReport = {
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
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      concurrency: settings.concurrency,
      maxRequests: settings.maxRequests,
    },
    suites: [],
  };

  let suite: SuiteReport;
  try {
    suite = await registryReadSuite(settings, infra);
  } finally {
    if (infra.databaseUrl !== undefined) {
      await dropSchemas(
        SERVICES.map((service) => `${infra.schemaPrefix}${service}`),
        infra.databaseUrl,
      );
    }
    if (infra.natsUrl !== undefined) await deleteStreams(infra.busPrefix, infra.natsUrl);
  }
  const done: BenchReport = { ...report, suites: [suite] };

  mkdirSync(settings.outDir, { recursive: true });
  writeFileSync(join(settings.outDir, 'latest.json'), toJsonText(done));
  writeFileSync(join(settings.outDir, 'latest.md'), toMarkdown(done));
  console.log(`\nreport: ${join(settings.outDir, 'latest.md')} and latest.json`);
  for (const r of suite.ratios) {
    if (r.value !== null) {
      const target =
        r.target === undefined
          ? ''
          : `  (target ≥ ${r.target.throughputAtLeast.toFixed(2)}: ${r.target.met ? 'met' : 'NOT met'})`;
      console.log(
        `${r.id.padEnd(8)} p50 ×${r.value.p50.toFixed(2)}  throughput ×${r.value.throughput.toFixed(3)}  ${r.title}${target}`,
      );
    }
  }
  const contended = contendedScenarios(suite);
  if (contended.length > 0) {
    console.warn(
      `bench: other processes loaded the machine during ${contended.map((s) => `(${s.id})`).join(', ')}: ` +
        'the numbers and ratios of this run are not reliable',
    );
  }
  const failed = suite.scenarios.some(
    (s) => s.failure !== undefined || (s.summary?.errors ?? 0) > 0 || s.warmupErrors > 0,
  );
  if (failed) {
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
