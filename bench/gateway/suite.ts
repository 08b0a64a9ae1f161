/**
 * The gateway suite: a signed small read through the gateway against a bare
 * connect-node echo, over gRPC (HTTP/2) and Connect JSON (HTTP/1.1), at 1, 16
 * and 128 requests in flight, in the same run; then where the main thread's
 * time goes for the signed read. See bench/README.md.
 *
 * The read is AuthService/GetServerTime signed with an app's HMAC-SHA256
 * credential: the auth service answers it from its clock, with no database
 * query, so the gateway's own work (decoding, the signature check, the nonce
 * claim, the audit record, the hop) dominates what is measured.
 */
import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import type { EmbeddedMesh } from '../../embedded/mesh.js';
import { type BaselineServer, startBaselineServer } from '../baseline.js';
import { clientFor, signerOf } from '../client.js';
import { provisionSigners } from '../credentials.js';
import {
  type BenchMesh,
  describeInfrastructure,
  firstAdminOf,
  type Infrastructure,
  LOOPBACK,
  startBenchMesh,
} from '../mesh.js';
import {
  GRPC_CLIENT,
  GRPC_PROTOCOL,
  JSON_PROTOCOL,
  runScenario,
  type ScenarioDef,
  WORKER_GRACE_MS,
} from '../registry-suite.js';
import type { RatioReport, ScenarioReport, SuiteReport } from '../report.js';
import type { LoadResult, LoadSpec, SignerSpec, Target } from '../scenarios.js';
import type { Settings } from '../settings.js';
import { ratio } from '../stats.js';
import { MainThreadProfiler } from '../transfers/profile.js';
import { settle } from '../transfers/quiet.js';
import type { TargetVerdict } from '../transfers/report.js';
import { runInWorker } from '../worker.js';
import { billByPart, type PartShare } from './profile.js';

const LOAD_MODULE = new URL('../load.ts', import.meta.url);

export const GATEWAY_CONCURRENCIES = [1, 16, 128] as const;
/** Concurrency of the unsigned reference and of the profiled windows. */
const REFERENCE_CONCURRENCY = 16;
const PROFILE_WARMUP_MS = 500;
const PROFILE_MS = 3_000;
/** Echo and signed read per protocol and concurrency, the two unsigned references, the three profiled windows. */
export const GATEWAY_SCENARIO_COUNT = 2 * 2 * GATEWAY_CONCURRENCIES.length + 2 + 3;

/** The targets for the signed JSON read. */
const JSON_SHARE_TARGET = 0.5;
/** "Several thousand requests per second": read here as at least 3,000. */
const JSON_RPS_TARGET = 3_000;

export function gatewayBudgetMs(s: Settings): number {
  return GATEWAY_SCENARIO_COUNT * (s.warmupMs + s.durationMs + WORKER_GRACE_MS) + 60_000;
}

type Protocol = Target['protocol'];
type Kind = 'echo' | 'signed' | 'unsigned';

const SERVER_TIME = 'lgsp.auth.v1.AuthService/GetServerTime';
const ECHO = 'lgsp.bench.v1.EchoService/Echo';
const JSON_CLIENT =
  'node:http with a keep-alive agent, one HTTP/1.1 connection per request in flight, JSON.stringify/parse';
const SIGNED_PATH =
  'gateway (body digest, HMAC check against cached key material, nonce claim on the bus, audit record of the call) ' +
  '→ auth service (grpc-js hop), which answers from its clock';
const UNSIGNED_PATH = 'gateway (anonymous caller) → auth service (grpc-js hop), which answers from its clock';

const PROTOCOL_TAG: Record<Protocol, string> = { grpc: 'grpc', 'connect-json': 'json' };
const KIND_TAG: Record<Kind, string> = { echo: 'E', signed: 'S', unsigned: 'U' };

function idOf(kind: Kind, protocol: Protocol, concurrency: number): string {
  return `${KIND_TAG[kind]}-${PROTOCOL_TAG[protocol]}-${concurrency}`;
}

interface GatewayScenario extends ScenarioDef {
  readonly concurrency: number;
}

function scenario(
  kind: Kind,
  protocol: Protocol,
  concurrency: number,
  baseline: BaselineServer,
  mesh: EmbeddedMesh,
  signer: SignerSpec,
): GatewayScenario {
  const grpcTarget = protocol === 'grpc';
  const client = grpcTarget ? GRPC_CLIENT : JSON_CLIENT;
  const how = grpcTarget ? 'over gRPC' : 'as Connect JSON';
  const target: Target =
    kind === 'echo'
      ? grpcTarget
        ? { protocol: 'grpc', address: baseline.grpcAddress }
        : { protocol: 'connect-json', baseUrl: baseline.jsonUrl, client: 'node-http' }
      : grpcTarget
        ? { protocol: 'grpc', address: new URL(mesh.gateway.url).host }
        : { protocol: 'connect-json', baseUrl: mesh.gateway.url, client: 'node-http' };
  const common = {
    id: idOf(kind, protocol, concurrency),
    protocol: grpcTarget ? GRPC_PROTOCOL : JSON_PROTOCOL,
    target,
    concurrency,
  };
  switch (kind) {
    case 'echo':
      return {
        ...common,
        title: `Baseline: echo ${how}, ${concurrency} in flight`,
        rpc: ECHO,
        server: grpcTarget
          ? 'bare connect-node (`http2.createServer`, h2c)'
          : 'bare connect-node (`http.createServer`)',
        client,
        call: 'echo',
      };
    case 'signed':
      return {
        ...common,
        title: `GetServerTime signed (HMAC-SHA256) through the gateway ${how}, ${concurrency} in flight`,
        rpc: SERVER_TIME,
        server: SIGNED_PATH,
        client: `${client}; signs every request inside the loop (fresh nonce and timestamp)`,
        call: 'server-time',
        signer,
      };
    case 'unsigned':
      return {
        ...common,
        title: `GetServerTime unsigned through the gateway ${how}, ${concurrency} in flight`,
        rpc: SERVER_TIME,
        server: UNSIGNED_PATH,
        client,
        call: 'server-time',
      };
  }
}

/** The order of the run: for each protocol and concurrency, the baseline right before the signed read. */
function scenarios(baseline: BaselineServer, mesh: EmbeddedMesh, signer: SignerSpec): GatewayScenario[] {
  const list: GatewayScenario[] = [];
  for (const protocol of ['grpc', 'connect-json'] as const) {
    for (const concurrency of GATEWAY_CONCURRENCIES) {
      list.push(scenario('echo', protocol, concurrency, baseline, mesh, signer));
      list.push(scenario('signed', protocol, concurrency, baseline, mesh, signer));
    }
    list.push(scenario('unsigned', protocol, REFERENCE_CONCURRENCY, baseline, mesh, signer));
  }
  return list;
}

function ratioReports(reports: readonly ScenarioReport[]): RatioReport[] {
  const byId = new Map(reports.map((s) => [s.id, s.summary]));
  const make = (num: string, den: string, title: string, isolates: string, target?: number): RatioReport => {
    const n = byId.get(num);
    const d = byId.get(den);
    const value = n && d ? ratio(n, d) : null;
    return {
      id: `(${num})/(${den})`,
      title,
      isolates,
      value,
      ...(target === undefined
        ? {}
        : { target: { throughputAtLeast: target, met: value === null ? null : value.throughput >= target } }),
    };
  };
  const out: RatioReport[] = [];
  for (const protocol of ['grpc', 'connect-json'] as const) {
    const name = protocol === 'grpc' ? 'gRPC' : 'Connect JSON';
    for (const c of GATEWAY_CONCURRENCIES) {
      out.push(
        make(
          idOf('signed', protocol, c),
          idOf('echo', protocol, c),
          `signed GetServerTime via the gateway / bare echo, ${name}, ${c} in flight`,
          'everything a signed read costs over a trivial RPC: the gateway, its signature check, nonce claim and ' +
            'audit record, the hop to the auth service and its handler',
          protocol === 'connect-json' ? JSON_SHARE_TARGET : undefined,
        ),
      );
    }
    const r = REFERENCE_CONCURRENCY;
    out.push(
      make(
        idOf('signed', protocol, r),
        idOf('unsigned', protocol, r),
        `signed / unsigned GetServerTime via the gateway, ${name}, ${r} in flight`,
        'the signature alone: body digest, HMAC check, nonce claim, audit record (and signing on the client)',
      ),
      make(
        idOf('unsigned', protocol, r),
        idOf('echo', protocol, r),
        `unsigned GetServerTime via the gateway / bare echo, ${name}, ${r} in flight`,
        'the gateway, the hop and the service without any signature',
      ),
    );
  }
  return out;
}

/** Main-thread milliseconds per request: the servers' CPU cost of one request, whatever paced the loop. */
export function serverMsPerRequest(s: ScenarioReport): number | null {
  if (s.summary === null || s.serverBusy === null || s.summary.requests === 0) return null;
  return (s.serverBusy * s.summary.elapsedMs) / s.summary.requests;
}

/**
 * Waits for the main thread to fall quiet after a scenario (below 15 % busy,
 * at most 15 s) and says how long that took and how busy it was meanwhile:
 * work the scenario left behind (the audit log's consumer appending the
 * records of signed calls, outbox relays) is billed to it, not to the next.
 */
async function settleAfter(): Promise<{ ms: number; activeMs: number }> {
  const before = performance.eventLoopUtilization();
  const started = performance.now();
  await settle();
  return { ms: performance.now() - started, activeMs: performance.eventLoopUtilization(before).active };
}

export interface GatewayProfile {
  readonly id: string;
  readonly title: string;
  readonly requests: number;
  readonly busyMs: number;
  readonly otherLoad: number;
  readonly parts: readonly PartShare[];
}

/** The gateway suite's own section of the report. */
export interface GatewaySection {
  readonly read: string;
  readonly costs: ReadonlyArray<{
    readonly id: string;
    /** Main-thread ms per request during the measured window. */
    readonly serverMsPerRequest: number | null;
    /** Main-thread ms per request after the window, until the mesh fell quiet (work left behind). */
    readonly deferredMsPerRequest: number | null;
    /** How long the mesh took to fall quiet after the window. */
    readonly settleMs: number;
  }>;
  readonly targets: readonly TargetVerdict[];
  readonly profiles: readonly GatewayProfile[];
}

function targets(reports: readonly ScenarioReport[]): TargetVerdict[] {
  const byId = new Map(reports.map((s) => [s.id, s]));
  const out: TargetVerdict[] = [];
  for (const c of GATEWAY_CONCURRENCIES.filter((n) => n > 1)) {
    const signed = byId.get(idOf('signed', 'connect-json', c))?.summary ?? null;
    const echo = byId.get(idOf('echo', 'connect-json', c))?.summary ?? null;
    const share = signed !== null && echo !== null ? signed.rps / echo.rps : null;
    out.push({
      id: `json-share-${c}`,
      what: `signed JSON read through the gateway, share of the bare echo's req/s, ${c} in flight`,
      target: `≥ ${Math.round(JSON_SHARE_TARGET * 100)} %`,
      measured: share === null ? 'not measured' : `${Math.round(share * 100)} %`,
      met: share === null ? null : share >= JSON_SHARE_TARGET,
    });
    out.push({
      id: `json-rps-${c}`,
      what: `signed JSON read through the gateway, ${c} in flight`,
      target: `≥ ${JSON_RPS_TARGET.toLocaleString('en')} req/s`,
      measured: signed === null ? 'not measured' : `${Math.round(signed.rps).toLocaleString('en')} req/s`,
      met: signed === null ? null : signed.rps >= JSON_RPS_TARGET,
    });
  }
  return out;
}

/** A GetServerTime signed with the wrong secret must be refused over both protocols before any load. */
async function assertVerified(mesh: EmbeddedMesh, signer: SignerSpec): Promise<void> {
  if (signer.key.kind !== 'hmac') throw new Error('the gateway suite signs with an HMAC credential');
  const forged = signerOf({
    accessKeyId: signer.accessKeyId,
    key: { kind: 'hmac', secret: `${signer.key.secret}x` },
  });
  const method = AuthService.method.getServerTime;
  const request = create(method.input, {});
  const targets: Target[] = [
    { protocol: 'grpc', address: new URL(mesh.gateway.url).host },
    { protocol: 'connect-json', baseUrl: mesh.gateway.url, client: 'node-http' },
  ];
  for (const target of targets) {
    const bad = clientFor(target, forged);
    const good = clientFor(target, signerOf(signer));
    try {
      const error = await bad.unary(method, request).then(
        () => undefined,
        (e: unknown) => e,
      );
      const refused =
        (error as grpc.ServiceError | undefined)?.code === grpc.status.UNAUTHENTICATED ||
        (error instanceof Error && error.message.startsWith('HTTP 401'));
      if (!refused) {
        throw new Error(
          `the gateway did not refuse a GetServerTime forged with key ${signer.accessKeyId} (${target.protocol}): ` +
            String(error ?? 'it answered'),
        );
      }
      const answer = await good.unary(method, request);
      if (answer.serverTime === undefined) throw new Error('GetServerTime answered no server time');
    } finally {
      bad.close();
      good.close();
    }
  }
}

/** The signed read again, with the main thread's CPU profile taken (not a measurement: the profiler costs). */
async function profiled(def: GatewayScenario, settings: Settings): Promise<GatewayProfile | null> {
  process.stdout.write(`profile of (${def.id}) for ${PROFILE_MS / 1000} s … `);
  const profiler = new MainThreadProfiler();
  let started: Promise<void> | undefined;
  try {
    const { result, window } = await runInWorker<LoadResult>(
      LOAD_MODULE,
      {
        call: def.call,
        target: def.target,
        ...(def.signer === undefined ? {} : { signer: def.signer }),
        warmupMs: PROFILE_WARMUP_MS,
        durationMs: PROFILE_MS,
        concurrency: def.concurrency,
        maxRequests: settings.maxRequests,
      } satisfies LoadSpec,
      PROFILE_WARMUP_MS + PROFILE_MS + WORKER_GRACE_MS,
      {
        onMeasuring: () => {
          started = profiler.start();
        },
      },
    );
    await started;
    const { busyMs, parts } = billByPart(await profiler.stopRaw());
    const top = parts.slice(0, 3).map((p) => `${p.part.split(' — ')[0]} ${Math.round(p.share * 100)} %`);
    console.log(`${result.requests} requests; ${top.join(', ')}`);
    return {
      id: def.id,
      title: def.title,
      requests: result.requests,
      busyMs,
      otherLoad: window.otherLoad,
      parts,
    };
  } catch (error) {
    if (started !== undefined) await profiler.stop().catch(() => undefined);
    console.log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
}

export async function gatewaySuite(settings: Settings, infra: Infrastructure): Promise<SuiteReport> {
  let baseline: BaselineServer | undefined;
  let bench: BenchMesh | undefined;
  try {
    baseline = await startBaselineServer(LOOPBACK);
    bench = await startBenchMesh(infra);
    const { mesh } = bench;
    const { hmac } = await provisionSigners(new URL(mesh.gateway.url).host, firstAdminOf(mesh));
    await assertVerified(mesh, hmac);
    console.log(`bench app credential: HMAC ${hmac.accessKeyId}`);

    const defs = scenarios(baseline, mesh, hmac);
    const reports: ScenarioReport[] = [];
    const deferred = new Map<string, { ms: number; activeMs: number }>();
    await settleAfter();
    for (const def of defs) {
      const report = await runScenario(def, settings, def.concurrency);
      const after = await settleAfter();
      deferred.set(def.id, after);
      if (after.ms > 500) {
        console.log(
          `  the mesh fell quiet ${Math.round(after.ms)} ms later (${Math.round(after.activeMs)} ms busy)`,
        );
      }
      reports.push(report);
    }

    const profiles: GatewayProfile[] = [];
    const profiledIds = [
      idOf('signed', 'connect-json', REFERENCE_CONCURRENCY),
      idOf('unsigned', 'connect-json', REFERENCE_CONCURRENCY),
      idOf('signed', 'grpc', REFERENCE_CONCURRENCY),
    ];
    for (const id of profiledIds) {
      await settle();
      const def = defs.find((d) => d.id === id);
      const profile = def === undefined ? null : await profiled(def, settings);
      if (profile !== null) profiles.push(profile);
    }
    const section: GatewaySection = {
      read:
        'AuthService/GetServerTime signed with an HMAC-SHA256 credential of an app: a public read the auth service ' +
        'answers from its clock (no database query), so that the gateway dominates.',
      costs: reports.map((s) => {
        const after = deferred.get(s.id) ?? { ms: 0, activeMs: 0 };
        const requests = s.summary?.requests ?? 0;
        return {
          id: s.id,
          serverMsPerRequest: serverMsPerRequest(s),
          deferredMsPerRequest: requests > 0 ? after.activeMs / requests : null,
          settleMs: after.ms,
        };
      }),
      targets: targets(reports),
      profiles,
    };
    return {
      id: 'gateway-signed-read',
      title: 'Gateway — a signed small read against a bare echo',
      baseline:
        'lgsp.bench.v1.EchoService/Echo on a bare connect-node server in the same process: answers the message it ' +
        'was sent (no interceptors, no authentication, no upstream, no database); its descriptor exists only in the ' +
        'bench. Measured at the same concurrencies and protocols, each right before its signed twin.',
      infrastructure: describeInfrastructure(infra),
      scenarios: reports,
      ratios: ratioReports(reports),
      notes: [
        `The read: ${section.read} The unsigned reads (U-…) at ${REFERENCE_CONCURRENCY} in flight separate the ` +
          'signature from the rest of the path.',
        'The load generator runs in a worker thread (one core), the servers on the main thread (the other); with 1 ' +
          'in flight the loop measures latency, not capacity. Near 100 % client busy, the loader is the limit and ' +
          'the echo understates the bare server (the ratio then flatters the gateway); server ms per request ' +
          '(below) is the servers\u2019 CPU per request, whichever side paced the loop.',
      ],
      gateway: section,
    };
  } finally {
    await baseline?.close();
    await bench?.close();
  }
}
