/**
 * Health and readiness. Liveness (`/healthz`) only says the process answers;
 * readiness (`/readyz`, and grpc.health.v1 for gRPC probes) says whether every
 * dependency (Postgres, NATS, ...) answers right now. A failing readiness takes
 * the replica out of load balancing without restarting it.
 */
import type { ServiceImpl } from '@connectrpc/connect';
import { type Health, HealthCheckResponse_ServingStatus } from '#gen/grpc/health/v1/health_pb.js';
import type { HttpRoute } from './server.js';

export type Check = () => Promise<void>;

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, { ok: boolean; error?: string }>>;
}

export interface HealthMonitor {
  readiness(): Promise<Readiness>;
  /** Marks the process as shutting down: readiness turns false at once. */
  drain(): void;
  readonly grpc: Partial<ServiceImpl<typeof Health>>;
  readonly httpRoutes: Readonly<Record<string, HttpRoute>>;
}

const CHECK_TIMEOUT_MS = 2_000;
/** Probes of several replicas and orchestrators must not multiply the load on Postgres. */
const CACHE_MS = 1_000;
const WATCH_INTERVAL_MS = 5_000;

export function createHealthMonitor(checks: Readonly<Record<string, Check>>): HealthMonitor {
  let draining = false;
  let cached: { at: number; value: Promise<Readiness> } | undefined;

  const evaluate = async (): Promise<Readiness> => {
    const entries = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          await withTimeout(check(), CHECK_TIMEOUT_MS);
          return [name, { ok: true }] as const;
        } catch (error) {
          return [
            name,
            { ok: false, error: error instanceof Error ? error.message : String(error) },
          ] as const;
        }
      }),
    );
    const results = Object.fromEntries(entries);
    return { ready: !draining && entries.every(([, r]) => r.ok), checks: results };
  };

  const readiness = (): Promise<Readiness> => {
    if (draining)
      return Promise.resolve({ ready: false, checks: { shutdown: { ok: false, error: 'draining' } } });
    const now = Date.now();
    if (cached === undefined || now - cached.at > CACHE_MS) cached = { at: now, value: evaluate() };
    return cached.value;
  };

  const status = async () =>
    (await readiness()).ready
      ? HealthCheckResponse_ServingStatus.SERVING
      : HealthCheckResponse_ServingStatus.NOT_SERVING;

  return {
    readiness,
    drain: () => {
      draining = true;
    },
    grpc: {
      check: async () => ({ status: await status() }),
      async *watch(_req, ctx) {
        let last: HealthCheckResponse_ServingStatus | undefined;
        while (!ctx.signal.aborted) {
          const current = await status();
          if (current !== last) yield { status: current };
          last = current;
          await sleep(WATCH_INTERVAL_MS, ctx.signal);
        }
      },
    },
    httpRoutes: {
      '/healthz': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'ok' }));
      },
      '/readyz': (_req, res) => {
        void readiness().then((r) => {
          res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status: r.ready ? 'ready' : 'not_ready', checks: r.checks }));
        });
      },
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
