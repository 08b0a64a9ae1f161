/**
 * Suite 3, "notifications": on a fresh embedded mesh, apps set up through
 * the gateway by the first administrator hold Subscribe streams and are sent
 * notices, every call signed, while the main thread counts what the servers
 * did (transfers/probes.ts). Three requirements, each with its baseline in
 * the same run:
 *
 * 1. commit to subscriber, one notice at a time: a 1 KiB inline transfer's
 *    NEW_DELIVERY and a SendNotice's APP_MESSAGE, against the raw bus;
 * 2. one transfer to 500 subscribed apps, against 500 messages on the raw bus;
 * 3. the mesh process's CPU and memory with every app subscribed and
 *    heartbeating at the platform's interval, phase by phase.
 *
 * Loads that talk to the mesh run in child processes, so that the mesh
 * process's CPU and memory are the servers' alone; the bus baselines run in
 * a worker thread alone, as suite 2's. See bench/README.md.
 */
import type { NotificationContext } from '../../services/notification/src/context.js';
import {
  type BenchMesh,
  describeInfrastructure,
  firstAdminOf,
  type Infrastructure,
  startBenchMesh,
} from '../mesh.js';
import type { ScenarioReport, SuiteReport } from '../report.js';
import type { Settings } from '../settings.js';
import { ratio, type Summary, summarize } from '../stats.js';
import { pct } from '../transfers/format.js';
import { busCounts, busDelta, installProbes, sqlCounts, sqlDelta } from '../transfers/probes.js';
import { MainThreadProfiler } from '../transfers/profile.js';
import { settle, steadyRss } from '../transfers/quiet.js';
import { runInChild, runInWorker, type WindowMeasure } from '../worker.js';
import { limitFindings, targetVerdicts } from './limits.js';
import { notificationsNotes } from './markdown.js';
import { MACHINE_CORES, PhaseMeter } from './phases.js';
import { provisionPopulation } from './provision.js';
import type {
  FanoutReport,
  NoticeCosts,
  NotificationsSection,
  PresencePhaseReport,
  PresenceReport,
} from './report.js';
import { FANOUT_ROUNDS, latencyWindowMs, PAYLOAD_BYTES, recipientsOf } from './scale.js';
import {
  type BusBaselineResult,
  type BusBaselineSpec,
  type FanoutResult,
  type FanoutSpec,
  type LatencyResult,
  type LatencySpec,
  type NoticePath,
  type Population,
  PRESENCE_PHASES,
  type PresencePhase,
  type PresenceResult,
  type PresenceSpec,
} from './spec.js';

const LATENCY_MODULE = new URL('./latency-load.ts', import.meta.url);
const FANOUT_MODULE = new URL('./fanout-load.ts', import.meta.url);
const BUS_MODULE = new URL('./bus-baseline-load.ts', import.meta.url);
const PRESENCE_MODULE = new URL('./presence-load.ts', import.meta.url);

/** Streams opening at once in the presence scenario. */
const OPEN_CONCURRENCY = 100;
/** Phases of the presence scenario that are not a whole number of intervals. */
const IDLE_MS = 5_000;
const PROFILE_MS = 10_000;
/** Time a child process may take beyond its load: start-up, connections, closing. */
const GRACE_MS = 90_000;
/** Set-up calls: at most this long per app. */
const PROVISION_MS_PER_APP = 40;

const GRPC_CLIENT =
  '@grpc/grpc-js generic clients, protobuf-es (de)serialisation, a connection per app, every call HMAC-SHA256 signed, in a child process';

export function notificationsBudgetMs(settings: Settings): number {
  const loop = settings.warmupMs + latencyWindowMs(settings) + GRACE_MS;
  const interval = 30_000;
  return (
    settings.apps * PROVISION_MS_PER_APP +
    3 * loop +
    (FANOUT_ROUNDS + 1) * 60_000 +
    GRACE_MS +
    IDLE_MS +
    4 * interval +
    PROFILE_MS +
    120_000 +
    GRACE_MS +
    60_000
  );
}

interface Context {
  readonly settings: Settings;
  readonly infra: Infrastructure;
  readonly gateway: string;
  readonly population: Population;
  readonly intervalMs: number;
}

export async function notificationsSuite(settings: Settings, infra: Infrastructure): Promise<SuiteReport> {
  let bench: BenchMesh | undefined;
  try {
    bench = await startBenchMesh(infra);
    const { mesh } = bench;
    installProbes(mesh.bus, infra.schemaPrefix);
    const gateway = new URL(mesh.gateway.url).host;
    const notification = mesh.services.find((s) => s.name === 'notification');
    if (notification === undefined) throw new Error('the mesh runs no notification service');
    const intervalMs = (notification.context as NotificationContext).config.presenceIntervalMs;

    process.stdout.write(`setting up ${settings.apps} subscribing apps through the gateway … `);
    const provisionStarted = performance.now();
    const population = await provisionPopulation(gateway, firstAdminOf(mesh), settings.apps);
    const provisionMs = performance.now() - provisionStarted;
    console.log(`${(provisionMs / 1000).toFixed(1)} s`);
    const context: Context = { settings, infra, gateway, population, intervalMs };

    const scenarios: ScenarioReport[] = [];
    const costs: NoticeCosts[] = [];
    scenarios.push(await busLatency(context));
    for (const path of ['transfer', 'message'] as const) {
      const { scenario, cost } = await noticeLatency(context, path);
      scenarios.push(scenario);
      if (cost !== null) costs.push(cost);
    }
    const busFan = await busFanout(context);
    scenarios.push(busFan.scenario);
    const fan = await fanout(context, busFan.rounds);
    scenarios.push(fan.scenario);
    // Many apps online last: the heap they leave behind (gigabytes on PGlite) would slow every later
    // scenario; their idle phase is the reference their CPU and memory are read against.
    const presence = await presenceScenario(context);

    const section: NotificationsSection = {
      settings: {
        apps: settings.apps,
        fanoutRecipients: recipientsOf(settings),
        fanoutRounds: FANOUT_ROUNDS,
        payloadBytes: PAYLOAD_BYTES,
      },
      provisioning: { apps: settings.apps, ms: provisionMs },
      costs,
      fanout: fan.report,
      presence,
      targets: targetVerdicts(scenarios, fan.report, presence),
      limits: [],
    };
    const withLimits: NotificationsSection = {
      ...section,
      limits: limitFindings(section, scenarios, infra),
    };
    return {
      id: 'notifications',
      title: 'Suite 3 — notifications',
      baseline:
        'the raw bus the mesh uses, in a worker thread alone: raw JetStream with NATS_URL (a stream of the ' +
        'run’s own, a durable pull consumer acknowledging each message), else a fresh in-process bus; ' +
        '1 KiB messages, one at a time or as many at once as a fan-out has recipients.',
      infrastructure: describeInfrastructure(infra),
      rateUnit: 'notices/s',
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
      notes: notificationsNotes(settings, recipientsOf(settings)),
      notifications: withLimits,
    };
  } finally {
    await bench?.close();
  }
}

const RATIOS = [
  {
    num: 'b',
    den: 'a',
    title: 'NEW_DELIVERY commit to subscriber / 1 KiB over the bus',
    isolates:
      'what the notice path adds to one bus hop: the transfer’s outbox, the notification service’s transaction and its own outbox, a second hop, the hub, the gateway stream',
  },
  {
    num: 'c',
    den: 'a',
    title: 'APP_MESSAGE commit to subscriber / 1 KiB over the bus',
    isolates: 'the same from SendNotice’s commit: the notification outbox, one hop, the hub, the stream',
  },
  {
    num: 'e',
    den: 'd',
    title: 'one transfer to 500 subscribers / 500 messages over the bus',
    isolates: 'what notifying 500 apps adds to carrying 500 messages at once',
  },
] as const;

// ---------------------------------------------------------------------------
// Scenario rows

type Description = Pick<ScenarioReport, 'id' | 'title' | 'rpc' | 'server' | 'protocol' | 'client'>;

function row(
  description: Description,
  summary: Summary | null,
  measures: { serverBusy: number | null; clientBusy: number | null; otherLoad: number | null },
  errors: { warmupErrors: number; errorSamples: readonly string[]; failure?: string },
): ScenarioReport {
  return { ...description, summary, ...measures, ...errors };
}

function failedRow(description: Description, error: unknown): ScenarioReport {
  const failure = error instanceof Error ? error.message : String(error);
  console.log(`failed: ${failure}`);
  return row(
    description,
    null,
    { serverBusy: null, clientBusy: null, otherLoad: null },
    { warmupErrors: 0, errorSamples: [], failure },
  );
}

function busDescription(context: Context, id: string, fan: boolean): Description {
  const nats = context.infra.natsUrl !== undefined;
  const n = recipientsOf(context.settings);
  return {
    id,
    title: fan
      ? `Baseline: ${n} messages of 1 KiB published at once and consumed on the bus`
      : 'Baseline: 1 KiB published and consumed on the bus, one at a time',
    rpc: nats
      ? 'JetStream publish (ack) + durable pull consumer (ack)'
      : 'in-process bus publish + durable consume (ack)',
    server: nats ? 'the NATS server' : 'a fresh in-process bus in the worker',
    protocol: nats ? 'NATS client protocol over TCP' : 'in-process',
    client: fan
      ? 'from the first publish call to each message’s receipt; a round ends when all are consumed'
      : 'from the publish call to the consumer’s receipt',
  };
}

function log(summary: Summary, extra: string): void {
  console.log(
    `p50 ${summary.latencyMs.p50.toFixed(2)} ms, p99 ${summary.latencyMs.p99.toFixed(2)} ms, ` +
      `max ${summary.latencyMs.max.toFixed(2)} ms${extra}`,
  );
}

/** Other processes' share of the machine in a window, the load's child process taken out. */
function othersThan(window: WindowMeasure, clientCpuMs: number): number {
  const machineMs = window.windowMs * MACHINE_CORES;
  return Math.max(0, window.otherLoad - (machineMs > 0 ? clientCpuMs / machineMs : 0));
}

// ---------------------------------------------------------------------------
// 1. Commit to subscriber

async function busLatency(context: Context): Promise<ScenarioReport> {
  const description = busDescription(context, 'a', false);
  process.stdout.write(`(a) ${description.title} … `);
  const { settings, infra } = context;
  try {
    await settle();
    const spec: BusBaselineSpec = {
      mode: 'latency',
      natsUrl: infra.natsUrl,
      busPrefix: infra.busPrefix,
      payloadBytes: PAYLOAD_BYTES,
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      maxOps: settings.maxRequests,
      messages: 1,
      rounds: 0,
    };
    const { result, window } = await runInWorker<BusBaselineResult>(
      BUS_MODULE,
      spec,
      settings.warmupMs + settings.durationMs + GRACE_MS,
    );
    const summary = summarize(result.latenciesMs, result.errors, result.elapsedMs);
    log(summary, `, other processes ${pct(window.otherLoad)}`);
    return row(
      description,
      summary,
      { serverBusy: window.serverBusy, clientBusy: result.clientBusy, otherLoad: window.otherLoad },
      { warmupErrors: 0, errorSamples: result.errorSamples },
    );
  } catch (error) {
    return failedRow(description, error);
  }
}

async function noticeLatency(
  context: Context,
  path: NoticePath,
): Promise<{ scenario: ScenarioReport; cost: NoticeCosts | null }> {
  const id = path === 'transfer' ? 'b' : 'c';
  const description: Description =
    path === 'transfer'
      ? {
          id,
          title: 'NEW_DELIVERY of a 1 KiB inline transfer, commit to subscriber',
          rpc: 'CreateTransfer (inline) → NEW_DELIVERY on the destination’s Subscribe stream (then ConfirmDelivery, not timed)',
          server:
            'gateway → transfer → outbox → bus → notification (transaction, outbox) → bus → hub → gateway stream',
          protocol: 'gRPC over HTTP/2 cleartext, through the gateway',
          client: GRPC_CLIENT,
        }
      : {
          id,
          title: 'APP_MESSAGE of a 1 KiB SendNotice, commit to subscriber',
          rpc: 'SendNotice → APP_MESSAGE on the destination’s Subscribe stream',
          server:
            'gateway → notification (registry grant check, transaction, outbox) → bus → hub → gateway stream',
          protocol: 'gRPC over HTTP/2 cleartext, through the gateway',
          client: GRPC_CLIENT,
        };
  process.stdout.write(`(${id}) ${description.title} … `);
  const { settings, population } = context;
  try {
    await settle();
    const spec: LatencySpec = {
      gateway: context.gateway,
      source: population.source,
      destination: population.apps[0]!,
      path,
      payloadBytes: PAYLOAD_BYTES,
      warmupMs: settings.warmupMs,
      durationMs: latencyWindowMs(settings),
      maxOps: settings.maxRequests,
    };
    let sqlBefore = sqlCounts();
    let busBefore = busCounts();
    let sql = sqlDelta(sqlBefore, sqlBefore);
    let bus = busDelta(busBefore, busBefore);
    const { result, window } = await runInChild<LatencyResult>(
      LATENCY_MODULE,
      spec,
      settings.warmupMs + latencyWindowMs(settings) + GRACE_MS,
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
    const summary = summarize(result.latenciesMs, result.errors, result.elapsedMs);
    const otherLoad = othersThan(window, result.clientCpuMs);
    const sends = Float64Array.from(result.sendMs).sort();
    const n = Math.max(1, summary.requests);
    const per = (counts: Readonly<Record<string, number>>) =>
      Object.fromEntries(
        Object.entries(counts)
          .sort(([, a], [, b]) => b - a)
          .map(([k, v]) => [k, v / n]),
      );
    const cost: NoticeCosts = {
      scenario: id,
      notices: summary.requests,
      sendMs: { p50: percentileOf(sends, 50), p99: percentileOf(sends, 99) },
      early: result.early,
      serverMsPerNotice: window.serverActiveMs / n,
      sqlPerNotice: sql.statements / n,
      sqlByService: per(sql.byService),
      busPerNotice: bus.published / n,
      busBySubject: per(bus.bySubject),
    };
    log(
      summary,
      ` (send ${cost.sendMs.p50.toFixed(1)} ms), ${summary.requests} notices, server ${pct(window.serverBusy)} busy, ` +
        `other processes ${pct(otherLoad)}` +
        `${result.errors + result.warmupErrors > 0 ? `, ${result.errors + result.warmupErrors} errors: ${result.errorSamples.join('; ')}` : ''}`,
    );
    return {
      scenario: row(
        description,
        summary,
        { serverBusy: window.serverBusy, clientBusy: result.clientBusy, otherLoad },
        { warmupErrors: result.warmupErrors, errorSamples: result.errorSamples },
      ),
      cost,
    };
  } catch (error) {
    return { scenario: failedRow(description, error), cost: null };
  }
}

function percentileOf(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

// ---------------------------------------------------------------------------
// 2. Fan-out

async function busFanout(
  context: Context,
): Promise<{ scenario: ScenarioReport; rounds: readonly Float64Array[] }> {
  const description = busDescription(context, 'd', true);
  process.stdout.write(`(d) ${description.title}, ${FANOUT_ROUNDS} rounds … `);
  const { settings, infra } = context;
  try {
    await settle();
    const spec: BusBaselineSpec = {
      mode: 'fanout',
      natsUrl: infra.natsUrl,
      busPrefix: infra.busPrefix,
      payloadBytes: PAYLOAD_BYTES,
      warmupMs: 0,
      durationMs: 0,
      maxOps: 0,
      messages: recipientsOf(settings),
      rounds: FANOUT_ROUNDS,
    };
    const { result, window } = await runInWorker<BusBaselineResult>(BUS_MODULE, spec, GRACE_MS);
    const summary = summarize(concat(result.rounds), result.errors, result.elapsedMs);
    log(summary, `, other processes ${pct(window.otherLoad)}`);
    return {
      scenario: row(
        description,
        summary,
        { serverBusy: window.serverBusy, clientBusy: result.clientBusy, otherLoad: window.otherLoad },
        { warmupErrors: 0, errorSamples: result.errorSamples },
      ),
      rounds: result.rounds,
    };
  } catch (error) {
    return { scenario: failedRow(description, error), rounds: [] };
  }
}

function concat(arrays: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

const lastOf = (sorted: Float64Array) => sorted[sorted.length - 1] ?? Number.NaN;

async function fanout(
  context: Context,
  baseline: readonly Float64Array[],
): Promise<{ scenario: ScenarioReport; report: FanoutReport }> {
  const n = recipientsOf(context.settings);
  const description: Description = {
    id: 'e',
    title: `One 1 KiB inline transfer to ${n} subscribed apps, commit to each NEW_DELIVERY`,
    rpc: `CreateTransfer to ${n} apps → NEW_DELIVERY on each one’s Subscribe stream (then ConfirmDelivery and AckNotices, not timed)`,
    server: 'gateway → transfer (→ registry) → outbox → bus → notification → bus → hub → gateway streams',
    protocol: 'gRPC over HTTP/2 cleartext, through the gateway',
    client: GRPC_CLIENT,
  };
  const baselineRounds = baseline.map((r) => ({ lastMs: lastOf(r), p50Ms: percentileOf(r, 50) }));
  process.stdout.write(`(e) ${description.title}, ${FANOUT_ROUNDS} rounds … `);
  const meter = new PhaseMeter();
  try {
    await settle();
    const spec: FanoutSpec = {
      gateway: context.gateway,
      source: context.population.source,
      recipients: context.population.apps.slice(0, n),
      rounds: FANOUT_ROUNDS,
      payloadBytes: PAYLOAD_BYTES,
    };
    const { result } = await runInChild<FanoutResult>(
      FANOUT_MODULE,
      spec,
      (FANOUT_ROUNDS + 1) * 60_000 + GRACE_MS,
      {
        onReady: () => settle(),
        onPhase: (name, cpuMs) => meter.enter(name, cpuMs),
      },
    );
    const phases = meter.finish();
    const roundPhases = phases.filter((p) => p.name.startsWith('round '));
    const rounds = result.rounds.map((latencies, i) => {
      const phase = roundPhases[i];
      return {
        sendMs: result.sendMs[i]!,
        lastMs: lastOf(latencies),
        p50Ms: percentileOf(latencies, 50),
        serverBusy: phase?.serverBusy ?? null,
        otherLoad: phase?.otherLoad ?? null,
        sqlStatements: phase?.sql.statements ?? null,
        busMessages: phase?.bus.published ?? null,
      };
    });
    const summary = summarize(concat(result.rounds), result.errors, result.elapsedMs);
    const wall = roundPhases.reduce((t, p) => t + p.wallMs, 0);
    const weighted = (f: (p: (typeof roundPhases)[number]) => number) =>
      wall > 0 ? roundPhases.reduce((t, p) => t + f(p) * p.wallMs, 0) / wall : null;
    const serverBusy = weighted((p) => p.serverBusy);
    const otherLoad = weighted((p) => p.otherLoad);
    log(
      summary,
      `; every recipient notified within ${rounds.map((r) => `${r.lastMs.toFixed(0)} ms`).join(', ')}` +
        ` (CreateTransfer ${rounds.map((r) => r.sendMs.toFixed(0)).join(', ')} ms), other processes ${pct(otherLoad ?? 0)}` +
        `${result.errors > 0 ? `, ${result.errors} errors: ${result.errorSamples.join('; ')}` : ''}`,
    );
    return {
      scenario: row(
        description,
        summary,
        {
          serverBusy,
          clientBusy: result.elapsedMs > 0 ? Math.min(1, result.clientCpuMs / result.elapsedMs) : null,
          otherLoad,
        },
        { warmupErrors: 0, errorSamples: result.errorSamples },
      ),
      report: { recipients: n, rounds, baselineRounds },
    };
  } catch (error) {
    meter.finish();
    const scenario = failedRow(description, error);
    return {
      scenario,
      report: { recipients: n, rounds: [], baselineRounds, failure: scenario.failure ?? 'failed' },
    };
  }
}

// ---------------------------------------------------------------------------
// 3. Every app subscribed and heartbeating

/**
 * The mesh process's memory after a full collection (npm run bench passes --expose-gc), every stream still
 * open: what the servers hold for the apps, as opposed to garbage not yet collected.
 */
function retainedMemory(): PresenceReport['retained'] {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) return null;
  const started = performance.now();
  collect();
  const collectMs = performance.now() - started;
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, collectMs };
}

async function presenceScenario(context: Context): Promise<PresenceReport> {
  const { population, intervalMs } = context;
  const apps = population.apps.length;
  process.stdout.write(
    `presence: ${apps} apps, streams then heartbeats every ${intervalMs / 1000} s, ` +
      `about ${Math.round((IDLE_MS + 4 * intervalMs + PROFILE_MS) / 1000)} s plus opening … `,
  );
  const spec: PresenceSpec = {
    gateway: context.gateway,
    apps: population.apps,
    intervalMs,
    openConcurrency: OPEN_CONCURRENCY,
    phaseMs: {
      idle: IDLE_MS,
      streams: intervalMs,
      'heartbeats warm-up': 2 * intervalMs,
      'streams + heartbeats': intervalMs,
      profiled: PROFILE_MS,
    },
  };
  const meter = new PhaseMeter();
  let readies = 0;
  let retained: PresenceReport['retained'] = null;
  const profiler = new MainThreadProfiler();
  let profiling: Promise<unknown> = Promise.resolve();
  let profile: PresenceReport['profile'] = [];
  const empty = {
    apps,
    intervalMs,
    openingMs: null,
    streamErrors: 0,
    errorSamples: [],
    clientRssBytes: null,
    retained,
  };
  try {
    await settle();
    const { result } = await runInChild<PresenceResult>(
      PRESENCE_MODULE,
      spec,
      IDLE_MS + 4 * intervalMs + PROFILE_MS + 120_000 + GRACE_MS,
      {
        // At rest before the idle phase and again after the wave of opening streams: a full
        // collection, then an RSS that holds still, so that each phase starts from the steady state.
        onReady: async () => {
          readies++;
          if (readies < 3) await steadyRss();
          else retained = retainedMemory();
        },
        onPhase: (name, cpuMs) => {
          meter.enter(name, cpuMs);
          if (name === 'profiled') profiling = profiler.start();
          if (name === 'done') {
            profiling = profiling.then(async () => {
              const taken = await profiler.stop();
              profile = taken.owners.map((o) => ({ owner: o.owner, ms: o.ms, share: o.share }));
            });
          }
        },
      },
    );
    await profiling.catch(() => undefined);
    const measured = meter.finish().filter((p) => p.name !== 'done');
    const phases: PresencePhaseReport[] = measured.map((p) => {
      const counts = result.phases[p.name];
      return {
        ...p,
        heartbeats: counts?.heartbeats ?? 0,
        heartbeatErrors: counts?.heartbeatErrors ?? 0,
        streamMessages: counts?.streamMessages ?? 0,
        openStreams: counts?.openStreams ?? 0,
      };
    });
    const steady = phases.find((p) => p.name === ('streams + heartbeats' satisfies PresencePhase));
    console.log(
      phases
        .filter((p) => PRESENCE_PHASES.includes(p.name as PresencePhase) && p.name !== 'profiled')
        .map((p) => `${p.name} ${p.cores.toFixed(3)} core`)
        .join(', ') +
        `; RSS ${steady === undefined ? '—' : `${(steady.rssEndBytes / 2 ** 20).toFixed(0)} MiB`}` +
        `${result.streamErrors > 0 ? `; ${result.streamErrors} streams failed: ${result.errorSamples.join('; ')}` : ''}`,
    );
    return {
      apps,
      intervalMs,
      phases,
      openingMs: result.openingMs,
      streamErrors: result.streamErrors,
      errorSamples: result.errorSamples,
      clientRssBytes: result.clientRssBytes,
      retained,
      profile,
    };
  } catch (error) {
    const failure = error instanceof Error ? error.message : String(error);
    console.log(`failed: ${failure}`);
    await profiling.catch(() => undefined);
    const phases = meter.finish().map((p) => ({
      ...p,
      heartbeats: 0,
      heartbeatErrors: 0,
      streamMessages: 0,
      openStreams: 0,
    }));
    return { ...empty, retained, phases, profile, failure };
  }
}
