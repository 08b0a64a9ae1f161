/**
 * The host every service runs in: it opens Postgres and the bus (or takes the
 * shared ones of the embedded mode), migrates the service's schema, starts
 * the outbox relay, serves the routes with health and metrics, starts the
 * consumers, and shuts all of it down in reverse order.
 */
import type { ConnectRouter } from '@connectrpc/connect';
import type { Kysely } from 'kysely';
import { Health } from '#gen/grpc/health/v1/health_pb.js';
import { auditRefusals, auditStream, createAuditRecorder } from './audit.js';
import type { Bus, StreamSpec, Subscription } from './bus/bus.js';
import type { BaseConfig } from './config.js';
import type { DatabasePool } from './db/database.js';
import { type Migrations, migrateToLatest } from './db/migrate.js';
import { type OutboxDatabase, type OutboxRelay, startOutboxRelay } from './db/outbox.js';
import { openBusFor, openDatabaseFor } from './infra.js';
import { createLogger, type Logger } from './logger.js';
import { accessInterceptor } from './rpc/access.js';
import { createHealthMonitor, type HealthMonitor } from './rpc/health.js';
import { type HttpRoute, type RpcServer, startRpcServer } from './rpc/server.js';
import { initTelemetry, metricsRoute, rpcTelemetryInterceptor } from './telemetry.js';

/** What the host hands to a service's `createContext`. */
export interface BaseContext<C extends BaseConfig = BaseConfig> {
  readonly config: C;
  readonly logger: Logger;
  readonly db: Kysely<OutboxDatabase>;
  readonly bus: Bus;
  readonly outbox: OutboxRelay;
}

export interface ServiceModule<C extends BaseConfig, Ctx> {
  /** Short name: `registry`, `auth`, ... */
  readonly name: string;
  readonly migrations: Migrations;
  /** Streams the service publishes into (created at start, idempotently). */
  streams?(config: C): readonly StreamSpec[];
  createContext(base: BaseContext<C>): Promise<Ctx> | Ctx;
  routes(ctx: Ctx): (router: ConnectRouter) => void;
  /**
   * Plain HTTP GET endpoints served next to the RPCs on the same port, by exact
   * path (e.g. `/.well-known/jwks.json`). They may not take the paths of the
   * health and metrics endpoints.
   */
  httpRoutes?(ctx: Ctx): Readonly<Record<string, HttpRoute>>;
  /** HTTP handlers by path prefix, any method (the SSO provider's `/oidc/`). */
  httpPrefixRoutes?(ctx: Ctx): Readonly<Record<string, HttpRoute>>;
  consumers?(ctx: Ctx): Promise<readonly Subscription[]>;
  /** Releases what `createContext` opened (clients to other services, timers). */
  dispose?(ctx: Ctx): Promise<void>;
}

/** Dependencies the embedded mode shares between the services of one process. */
export interface SharedInfrastructure {
  readonly database?: DatabasePool;
  readonly bus?: Bus;
  readonly logger?: Logger;
}

export interface RunningService<Ctx> {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly context: Ctx;
  readonly health: HealthMonitor;
  close(): Promise<void>;
}

export async function startService<C extends BaseConfig, Ctx>(
  module: ServiceModule<C, Ctx>,
  config: C,
  shared: SharedInfrastructure = {},
): Promise<RunningService<Ctx>> {
  const logger = (shared.logger ?? createLogger({ level: config.logLevel })).child({ service: module.name });
  initTelemetry(module.name);
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse())
      await fn().catch((err: unknown) => logger.warn({ err }, 'shutdown step failed'));
  };
  try {
    const database = shared.database ?? (await openDatabaseFor(config));
    if (shared.database === undefined) cleanups.push(() => database.close());
    const db = database.forSchema<OutboxDatabase>(config.dbSchema);
    const applied = await migrateToLatest(db as Kysely<unknown>, config.dbSchema, module.migrations);
    if (applied.length > 0) logger.info({ schema: config.dbSchema, applied }, 'migrations applied');

    const bus = shared.bus ?? (await openBusFor(config, logger));
    if (shared.bus === undefined) cleanups.push(() => bus.close());
    for (const stream of module.streams?.(config) ?? []) await bus.ensureStream(stream);

    await bus.ensureStream(auditStream(config.busPrefix));
    const audit = createAuditRecorder(bus, config.busPrefix, module.name, logger);

    const outbox = startOutboxRelay({ db, bus, logger });
    cleanups.push(() => outbox.stop());

    const context = await module.createContext({ config, logger, db, bus, outbox });
    if (module.dispose !== undefined) cleanups.push(() => module.dispose!(context));

    const health = createHealthMonitor({ postgres: () => database.ping(), bus: () => bus.ping() });
    const routes = module.routes(context);
    const httpRoutes = withServiceRoutes(
      { ...health.httpRoutes, '/metrics': metricsRoute },
      module.httpRoutes?.(context) ?? {},
      module.name,
    );
    const server: RpcServer = await startRpcServer({
      host: config.host,
      port: config.port,
      logger,
      domain: `${module.name}.lgsp`,
      readMaxBytes: config.readMaxBytes,
      interceptors: [rpcTelemetryInterceptor(module.name)],
      // Refusals by the access check are audited too: the audit guard wraps it.
      guards: [auditRefusals(audit), accessInterceptor()],
      routes: (router) => {
        router.service(Health, health.grpc);
        routes(router);
      },
      httpRoutes,
      prefixRoutes: module.httpPrefixRoutes?.(context) ?? {},
    });
    cleanups.push(() => server.close());

    const subscriptions = (await module.consumers?.(context)) ?? [];
    cleanups.push(async () => {
      await Promise.all(subscriptions.map((s) => s.stop()));
    });
    logger.info({ url: server.url }, `${module.name} listening`);

    let closing: Promise<void> | undefined;
    return {
      name: module.name,
      url: server.url,
      port: server.port,
      context,
      health,
      close: () => {
        closing ??= (async () => {
          health.drain();
          await cleanup();
          logger.info(`${module.name} stopped`);
        })();
        return closing;
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The host's own endpoints plus the service's; a service cannot shadow health or metrics. */
function withServiceRoutes(
  host: Readonly<Record<string, HttpRoute>>,
  service: Readonly<Record<string, HttpRoute>>,
  name: string,
): Readonly<Record<string, HttpRoute>> {
  const taken = Object.keys(service).filter((path) => Object.hasOwn(host, path));
  if (taken.length > 0)
    throw new Error(`${name} declares HTTP routes the host serves itself: ${taken.join(', ')}`);
  return { ...service, ...host };
}
