/**
 * Suite 1, "registry read through the gateway": the embedded mesh next to a
 * bare connect-node server, driven from a worker thread over loopback; the
 * same read unsigned and signed by an app's HMAC and RSA credentials, set up
 * through the gateway by the first administrator. See bench/README.md.
 */
import type { EmbeddedMesh } from '../embedded/mesh.js';
import { type BaselineServer, startBaselineServer } from './baseline.js';
import { type BenchSigners, provisionSigners } from './credentials.js';
import {
  type BenchMesh,
  describeInfrastructure,
  firstAdminOf,
  type Infrastructure,
  LOOPBACK,
  startBenchMesh,
} from './mesh.js';
import type { RatioReport, ScenarioReport, SuiteReport } from './report.js';
import type { CallName, LoadResult, LoadSpec, SignerSpec, Target } from './scenarios.js';
import type { Settings } from './settings.js';
import { ratio, summarize } from './stats.js';
import { runInWorker } from './worker.js';

const LOAD_MODULE = new URL('./load.ts', import.meta.url);
/** Extra time a worker may take beyond warm-up and duration before it is stopped. */
export const WORKER_GRACE_MS = 30_000;
/** Scenarios of the suite, for the run's overall time budget. */
export const REGISTRY_SCENARIO_COUNT = 8;

/** One closed-loop scenario: what to call, where, how, signed or not (suite 1 and the gateway suite). */
export interface ScenarioDef {
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

export const GRPC_PROTOCOL = 'gRPC over HTTP/2 cleartext';
export const JSON_PROTOCOL = 'Connect JSON over HTTP/1.1';
export const GRPC_CLIENT =
  '@grpc/grpc-js generic client, protobuf-es (de)serialisation, one HTTP/2 connection';
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

/** Suite 1: starts its own mesh and bare server, provisions the signers, runs (a)–(h). */
export async function registryReadSuite(settings: Settings, infra: Infrastructure): Promise<SuiteReport> {
  let baseline: BaselineServer | undefined;
  let bench: BenchMesh | undefined;
  try {
    baseline = await startBaselineServer(LOOPBACK);
    bench = await startBenchMesh(infra);
    const { mesh } = bench;
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
      infrastructure: describeInfrastructure(infra),
      scenarios,
      ratios,
      notes: signedNotes(ratios),
    };
  } finally {
    await baseline?.close();
    await bench?.close();
  }
}

/** Runs one scenario in a fresh load worker, at `concurrency` requests in flight (default: the settings'). */
export async function runScenario(
  def: ScenarioDef,
  settings: Settings,
  concurrency = settings.concurrency,
): Promise<ScenarioReport> {
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
    const { result, window } = await runInWorker<LoadResult>(
      LOAD_MODULE,
      {
        call: def.call,
        target: def.target,
        ...(def.signer === undefined ? {} : { signer: def.signer }),
        warmupMs: settings.warmupMs,
        durationMs: settings.durationMs,
        concurrency,
        maxRequests: settings.maxRequests,
      } satisfies LoadSpec,
      settings.warmupMs + settings.durationMs + WORKER_GRACE_MS,
    );
    const summary = summarize(result.latenciesMs, result.errors, result.elapsedMs);
    const errors = result.errors + result.warmupErrors;
    console.log(
      `${Math.round(summary.rps)} req/s, p50 ${summary.latencyMs.p50.toFixed(3)} ms, ` +
        `p99 ${summary.latencyMs.p99.toFixed(3)} ms, busy: server ${pct(window.serverBusy)} client ${pct(result.clientBusy)}, ` +
        `other processes ${pct(window.otherLoad)}` +
        `${errors > 0 ? `, ${errors} errors: ${result.errorSamples.join('; ')}` : ''}`,
    );
    return {
      ...base,
      summary,
      serverBusy: window.serverBusy,
      clientBusy: result.clientBusy,
      otherLoad: window.otherLoad,
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

function pct(share: number): string {
  return `${Math.round(share * 100)} %`;
}
