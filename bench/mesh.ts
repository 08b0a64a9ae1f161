/**
 * The embedded mesh every suite measures: six services and the gateway in
 * this process, on loopback, with the demo unit tree; PGlite in a temporary
 * directory and the in-process bus unless DATABASE_URL / NATS_URL name real
 * servers, in which case the run works in schemas and streams of its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createLogger, silentLogger } from '#lib/logger.js';
import { type EmbeddedMesh, startEmbeddedMesh } from '../embedded/mesh.js';
import { NO_RATE_LIMIT } from '../gateway/src/config.js';
import type { FirstAdmin } from '../services/auth/src/bootstrap.js';

export const LOOPBACK = '127.0.0.1';
export const SERVICES = ['registry', 'auth', 'transfer', 'storage', 'notification', 'sso'] as const;

/** Where the mesh keeps its data and its messages, and the run's own names on shared servers. */
export interface Infrastructure {
  readonly databaseUrl: string | undefined;
  readonly natsUrl: string | undefined;
  /** Prefix of the run's schemas on a real PostgreSQL (`bench_<run>_`); empty with PGlite. */
  readonly schemaPrefix: string;
  /** Prefix of the run's streams and subjects (`BENCH_<RUN>` on a real NATS). */
  readonly busPrefix: string;
}

/** A mesh with its data directory, both removed by `close`. */
export interface BenchMesh {
  readonly mesh: EmbeddedMesh;
  /** The mesh's temporary data directory (PGlite, blobs), on the machine's temporary filesystem. */
  readonly dataDir: string;
  close(): Promise<void>;
}

export async function startBenchMesh(infra: Infrastructure): Promise<BenchMesh> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'lgsp-bench-'));
  const level = process.env['BENCH_LOG_LEVEL'];
  try {
    const started = performance.now();
    const mesh = await startEmbeddedMesh({
      dataDir,
      host: LOOPBACK,
      gatewayPort: 0,
      ...(infra.databaseUrl === undefined ? {} : { databaseUrl: infra.databaseUrl }),
      nats: infra.natsUrl ?? 'memory',
      busPrefix: infra.busPrefix,
      schemaPrefix: infra.schemaPrefix,
      seedDemo: true,
      logger: level === undefined ? silentLogger() : createLogger({ level }),
      // The bench loads the platform on purpose, from a few apps: no per-app limits.
      gateway: { rateLimit: NO_RATE_LIMIT, maxStreamsPerApp: 0 },
    });
    console.log(
      `mesh started in ${Math.round(performance.now() - started)} ms (gateway ${mesh.gateway.url})`,
    );
    return {
      mesh,
      dataDir,
      close: async () => {
        try {
          await mesh.close();
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** A fresh mesh creates its first administrator: without it, no credential could be set up through the gateway. */
export function firstAdminOf(mesh: EmbeddedMesh): FirstAdmin {
  if (mesh.firstAdmin === undefined) {
    throw new Error('the mesh did not create a first administrator: is its database not fresh?');
  }
  return mesh.firstAdmin;
}

/** For the report: which database and which bus the mesh used. */
export function describeInfrastructure(infra: Infrastructure): { database: string; bus: string } {
  return {
    database:
      infra.databaseUrl === undefined
        ? 'PGlite (PostgreSQL in WebAssembly, on the main thread) in a temporary directory'
        : `PostgreSQL at ${redact(infra.databaseUrl)}`,
    bus:
      infra.natsUrl === undefined
        ? 'in-process bus (nats: "memory")'
        : `NATS JetStream at ${redact(infra.natsUrl)}`,
  };
}

export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
