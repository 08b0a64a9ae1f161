/**
 * Where the mesh process's main thread spends a signed read through the
 * gateway, from a CPU profile (transfers/profile.ts takes it): each sample is
 * billed to a part of the request's path, not only to the package on top of
 * the stack. Walking from the sampled function towards the root, the first
 * frame that belongs to a known part decides:
 *
 * - Node.js internals and native code (an HMAC, a socket write) are billed to
 *   the JavaScript that called them, so that the signature check holds its
 *   crypto and the upstream hop its HTTP/2 writes;
 * - bus code is billed to what used the bus, when that is on the stack (the
 *   nonce claim, the audit record, the audit log's consumer);
 * - what has no project or package frame at all (the HTTP parsers and the
 *   HTTP/2 sessions reading from sockets) is billed to Node.js's module.
 */
import { fileURLToPath } from 'node:url';
import type { Profile, ProfileNode } from '../transfers/profile.js';

export interface PartShare {
  readonly part: string;
  /** Milliseconds of the main thread in the window. */
  readonly ms: number;
  /** Share of the main thread's busy (non-idle) time. */
  readonly share: number;
}

export interface PathProfile {
  /** Busy milliseconds sampled, idle excluded. */
  readonly busyMs: number;
  readonly parts: readonly PartShare[];
}

export const PARTS = {
  signature:
    'signature check (signature headers, body digest, key cache, HMAC) — gateway/src/auth, lib/auth, lib/rpc/body-digest',
  nonce: 'nonce claim (replay store on the bus) — lib/auth/nonces',
  auditRecord:
    'audit record of the call (one bus message per signed call) — gateway/src/auth/audit-calls, lib/audit',
  auditLog:
    'audit log: the auth service appends every record to its hash chain — services/auth audit consumer',
  usage: 'key usage report (batched) — gateway/src/auth/usage',
  limits: 'rate limits — gateway/src/limits',
  hop: 'upstream gRPC hop (gateway → auth, grpc-js client) — gateway/src/routes/proxy, lib/rpc/grpc-transport',
  codec: 'protobuf-es (binary and JSON codecs, both hops)',
  connect: 'connect-node (the gateway\u2019s server and the auth service\u2019s server)',
  plumbing: 'RPC plumbing (protocol sniffing, body check, errors, caller entry) — lib/rpc',
  telemetry: 'telemetry (traces, metrics) — lib/telemetry, @opentelemetry',
  service: 'the service: AuthService/GetServerTime handler — services/auth/src/routes',
  serviceOther: 'the auth service (interceptors, other)',
  bus: 'bus (other)',
  database: 'database (SQL: kysely, the driver, PGlite)',
  logging: 'logging',
  gc: 'garbage collector',
  program: 'V8 and native code without JavaScript on the stack',
} as const;

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Exact files of the repository that name a part. */
const FILES: ReadonlyArray<readonly [string, string]> = [
  ['gateway/src/auth/authenticate.ts', PARTS.signature],
  ['gateway/src/auth/key-cache.ts', PARTS.signature],
  ['lib/auth/verify-request.ts', PARTS.signature],
  ['lib/auth/signing.ts', PARTS.signature],
  ['lib/rpc/body-digest.ts', PARTS.signature],
  ['lib/auth/nonces.ts', PARTS.nonce],
  ['gateway/src/auth/audit-calls.ts', PARTS.auditRecord],
  ['lib/audit.ts', PARTS.auditRecord],
  ['gateway/src/auth/usage.ts', PARTS.usage],
  ['gateway/src/routes/proxy.ts', PARTS.hop],
  ['lib/rpc/grpc-transport.ts', PARTS.hop],
  ['lib/rpc/internal-client.ts', PARTS.hop],
  ['services/auth/src/consumers/audit-log.ts', PARTS.auditLog],
  ['services/auth/src/db/audit-log.ts', PARTS.auditLog],
  ['services/auth/src/domain/audit-chain.ts', PARTS.auditLog],
  ['services/auth/src/domain/audit.ts', PARTS.auditLog],
  ['lib/telemetry.ts', PARTS.telemetry],
  ['lib/logger.ts', PARTS.logging],
];

/** Folders of the repository, longest first. */
const FOLDERS: ReadonlyArray<readonly [string, string]> = [
  ['gateway/src/limits/', PARTS.limits],
  ['services/auth/src/routes/', PARTS.service],
  ['services/auth/', PARTS.serviceOther],
  ['lib/bus/', PARTS.bus],
  ['lib/db/', PARTS.database],
  ['lib/rpc/', PARTS.plumbing],
  ['gateway/', PARTS.plumbing],
];

const PACKAGES: ReadonlyArray<readonly [string, string]> = [
  ['@grpc/', PARTS.hop],
  ['@bufbuild/', PARTS.codec],
  ['@connectrpc/', PARTS.connect],
  ['@opentelemetry/', PARTS.telemetry],
  ['@nats-io/', PARTS.bus],
  ['@electric-sql/', PARTS.database],
  ['pg', PARTS.database],
  ['pg-protocol', PARTS.database],
  ['kysely', PARTS.database],
  ['pino', PARTS.logging],
];

/** What a bus call is billed to when its user is on the stack. */
const BUS_USERS = new Set<string>([PARTS.nonce, PARTS.auditRecord, PARTS.auditLog, PARTS.usage]);

/** The part a frame belongs to, or undefined for Node.js internals and native code. */
function partOf(frame: ProfileNode['callFrame']): string | undefined {
  const { url } = frame;
  if (url === '' || url.startsWith('node:')) return undefined;
  if (url.startsWith('wasm://')) return PARTS.database;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = path.slice(modules + 'node_modules/'.length).split('/');
    const name = rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
    for (const [prefix, part] of PACKAGES) {
      if (prefix.endsWith('/') ? name.startsWith(prefix) : name === prefix) return part;
    }
    return `package ${name}`;
  }
  if (!path.startsWith(REPO)) return '(other code)';
  const relative = path.slice(REPO.length);
  for (const [file, part] of FILES) if (relative === file) return part;
  for (const [folder, part] of FOLDERS) if (relative.startsWith(folder)) return part;
  const parts = relative.split('/');
  return parts[0] === 'services' || parts[0] === 'lib'
    ? parts.slice(0, 2).join('/')
    : (parts[0] ?? '(other)');
}

/** Node.js's own module of a frame, for samples with no project or package frame at all. */
function nodeModuleOf(frame: ProfileNode['callFrame']): string | undefined {
  const { url } = frame;
  if (!url.startsWith('node:')) return undefined;
  const name = url.startsWith('node:internal/')
    ? url.slice('node:internal/'.length).split('/')[0]
    : url.slice(5);
  if (name === undefined) return undefined;
  if (name.startsWith('http2')) return 'Node.js HTTP/2 (sessions, streams)';
  if (name.startsWith('_http') || name === 'http') return 'Node.js HTTP/1.1 (parser, server, agent)';
  return `Node.js ${name}`;
}

export function billByPart(profile: Profile): PathProfile {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const memo = new Map<number, string | null>();
  const classify = (leafId: number): string | null => {
    const known = memo.get(leafId);
    if (known !== undefined) return known;
    const leaf = byId.get(leafId);
    let result: string | null = '(unknown)';
    if (leaf !== undefined) {
      const name = leaf.callFrame.functionName;
      if (name === '(idle)') result = null;
      else if (name === '(garbage collector)') result = PARTS.gc;
      else if (name === '(program)') result = PARTS.program;
      else result = walk(leafId);
    }
    memo.set(leafId, result);
    return result;
  };
  const walk = (leafId: number): string => {
    let found: string | undefined;
    let nodeModule: string | undefined;
    for (let id: number | undefined = leafId; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (frame === undefined) break;
      const part = partOf(frame);
      if (found === undefined) {
        if (part === undefined) {
          nodeModule ??= nodeModuleOf(frame);
          continue;
        }
        found = part;
        if (part !== PARTS.bus) return part;
      } else if (part !== undefined && BUS_USERS.has(part)) {
        return part;
      }
    }
    return found ?? nodeModule ?? PARTS.program;
  };

  const ms = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const part = classify(samples[i]!);
    if (part === null) continue;
    // A sample's time is the gap to the next one (the last has none).
    ms.set(part, (ms.get(part) ?? 0) + (deltas[i + 1] ?? 0) / 1000);
  }
  const busyMs = [...ms.values()].reduce((a, b) => a + b, 0);
  const parts = [...ms.entries()]
    .sort(([, a], [, b]) => b - a)
    .map(([part, value]) => ({ part, ms: value, share: busyMs > 0 ? value / busyMs : 0 }));
  return { busyMs, parts };
}
