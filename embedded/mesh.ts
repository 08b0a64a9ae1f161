/**
 * The embedded mode: every service and the gateway in one process, on
 * loopback ports, sharing one database pool and one bus. Postgres is PGlite
 * under the data directory unless `databaseUrl` is given; the bus is NATS at
 * `natsUrl`, else a private nats-server if one is on PATH, else in-process.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bus } from '#lib/bus/bus.js';
import type { BaseConfig } from '#lib/config.js';
import type { DatabasePool } from '#lib/db/database.js';
import { findNatsServer, type LocalNatsServer, startLocalNatsServer } from '#lib/embedded/nats-server.js';
import { openBusFor, openDatabaseFor } from '#lib/infra.js';
import type { Logger } from '#lib/logger.js';
import { type RunningService, type ServiceModule, startService } from '#lib/service.js';
import { shutdownTelemetry } from '#lib/telemetry.js';
import { type GatewayConfig, loadGatewayConfig } from '../gateway/src/config.js';
import { type RunningGateway, startGateway } from '../gateway/src/main.js';
import { ensureFirstAdmin, type FirstAdmin } from '../services/auth/src/bootstrap.js';
import type { AuthConfig } from '../services/auth/src/config.js';
import { authModule } from '../services/auth/src/main.js';
import { loadNotificationConfig, type NotificationConfig } from '../services/notification/src/config.js';
import { notificationModule } from '../services/notification/src/main.js';
import type { RegistryContext } from '../services/registry/src/context.js';
import { seedUnitTree, type UnitTreeFile } from '../services/registry/src/db/seed.js';
import { registryModule } from '../services/registry/src/main.js';
import { loadSsoConfig, OIDC_MOUNT, type SsoConfig } from '../services/sso/src/config.js';
import { ssoModule } from '../services/sso/src/main.js';
import { type StorageConfig, withStorageReadLimit } from '../services/storage/src/config.js';
import { storageModule } from '../services/storage/src/main.js';
import { loadTransferConfig, type TransferConfig } from '../services/transfer/src/config.js';
import { transferModule } from '../services/transfer/src/main.js';

export interface EmbeddedOptions {
  readonly dataDir: string;
  readonly host?: string;
  readonly gatewayPort?: number;
  /** A real Postgres; default PGlite under `dataDir`. */
  readonly databaseUrl?: string;
  /** A real NATS; `'auto'` (default) starts nats-server from PATH if present, `'memory'` forces the in-process bus. */
  readonly nats?: string | 'auto' | 'memory';
  /** Prefix of stream names and subjects. */
  readonly busPrefix?: string;
  /** Prefix of each service's schema name (tests isolate themselves with it). */
  readonly schemaPrefix?: string;
  /** AES-256-GCM master key (32 bytes); default: read from, or generated into, the data directory. */
  readonly masterKey?: Uint8Array;
  /** Load the demo unit tree (deploy/seed/units-example.json) when the registry is empty. */
  readonly seedDemo?: boolean;
  readonly readMaxBytes?: number;
  /** Gateway settings beyond the defaults, e.g. its rate limits. */
  readonly gateway?: Partial<Pick<GatewayConfig, 'rateLimit' | 'maxStreamsPerApp' | 'tls' | 'corsOrigins'>>;
  readonly logger: Logger;
}

export interface EmbeddedMesh {
  readonly gateway: RunningGateway;
  readonly services: ReadonlyArray<RunningService<unknown>>;
  readonly registry: RunningService<RegistryContext>;
  /** The first administrator's credential, when this start created it (shown once). */
  readonly firstAdmin: FirstAdmin | undefined;
  /** Where the first administrator's credential was written, as `KEY=value` lines. */
  readonly adminEnvFile: string;
  readonly bus: Bus;
  readonly database: DatabasePool;
  /** Where the bus is: a NATS URL, or "in-process". */
  readonly busLocation: string;
  close(): Promise<void>;
}

const DEMO_TREE = new URL('../deploy/seed/units-example.json', import.meta.url);

export async function startEmbeddedMesh(options: EmbeddedOptions): Promise<EmbeddedMesh> {
  const { logger } = options;
  mkdirSync(options.dataDir, { recursive: true });
  const stack: Array<() => Promise<void>> = [];
  const unwind = async () => {
    for (const fn of stack.reverse())
      await fn().catch((err: unknown) => logger.warn({ err }, 'shutdown step failed'));
  };
  try {
    let natsUrl: string | undefined;
    let localNats: LocalNatsServer | undefined;
    const nats = options.nats ?? 'auto';
    if (nats === 'auto') {
      if (findNatsServer() !== undefined) {
        localNats = await startLocalNatsServer(join(options.dataDir, 'nats'), logger);
        stack.push(() => localNats!.stop());
        natsUrl = localNats.url;
      } else {
        logger.warn('no nats-server on PATH: using the in-process bus (single process only)');
      }
    } else if (nats !== 'memory') {
      natsUrl = nats;
    }

    const base: BaseConfig = {
      service: 'embedded',
      host: options.host ?? '127.0.0.1',
      port: 0,
      logLevel: logger.level,
      databaseUrl: options.databaseUrl,
      dbSchema: 'embedded',
      dataDir: options.dataDir,
      natsUrl,
      busPrefix: options.busPrefix ?? 'LGSP',
      readMaxBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
    };
    const database = await openDatabaseFor(base);
    stack.push(() => database.close());
    const bus = await openBusFor(base, logger);
    stack.push(() => bus.close());

    const shared = { database, bus, logger };
    const configFor = (service: string): BaseConfig => ({
      ...base,
      service,
      dbSchema: `${options.schemaPrefix ?? ''}${service}`,
    });
    const start = async <Ctx>(module: ServiceModule<BaseConfig, Ctx>): Promise<RunningService<Ctx>> => {
      const running = await startService(module, configFor(module.name), shared);
      stack.push(() => running.close());
      return running;
    };

    const registry = await start(registryModule);
    const masterKey = options.masterKey ?? readOrCreateMasterKey(join(options.dataDir, 'master-key'));
    const authConfig: AuthConfig = {
      ...configFor('auth'),
      masterKey,
      allowHmacSha1: true,
      maxClockSkewSeconds: 300,
      sessionTokenTtlSeconds: 300,
      tokenIssuer: 'lgsp',
      registryAddr: hostPort(registry.url),
    };
    const auth = await startService(authModule, authConfig, shared);
    stack.push(() => auth.close());
    const storageConfig: StorageConfig = withStorageReadLimit({
      ...configFor('storage'),
      masterKey,
      blobBackend: 'fs',
      storageDir: join(options.dataDir, 'blobs'),
      natsBlobReplicas: 1,
      maxBlobBytes: 2 * 1024 ** 3,
      appStagingQuotaBytes: 8 * 1024 ** 3,
    });
    const storage = await startService(storageModule, storageConfig, shared);
    stack.push(() => storage.close());
    const transferConfig: TransferConfig = {
      // The documented defaults, with the mesh's own addresses and infrastructure.
      ...loadTransferConfig({}),
      ...configFor('transfer'),
      registryAddr: hostPort(registry.url),
      storageAddr: hostPort(storage.url),
      maxTransferBytes: storageConfig.maxBlobBytes,
    };
    const transfer = await startService(transferModule, transferConfig, shared);
    stack.push(() => transfer.close());
    const notificationConfig: NotificationConfig = {
      ...loadNotificationConfig({}),
      ...configFor('notification'),
      masterKey,
      registryAddr: hostPort(registry.url),
      // The embedded mesh is for one machine: its apps' webhooks are often on it too.
      webhookAllowLoopback: true,
    };
    const notification = await startService(notificationModule, notificationConfig, shared);
    stack.push(() => notification.close());
    const ssoConfig: SsoConfig = {
      ...loadSsoConfig({}),
      ...configFor('sso'),
      masterKey,
      registryAddr: hostPort(registry.url),
      // One machine: applications under development run on loopback over plain http.
      allowInsecureLocal: true,
    };
    const sso = await startService(ssoModule, ssoConfig, shared);
    stack.push(() => sso.close());
    const others = [auth, transfer, storage, notification, sso];

    if (options.seedDemo ?? false) {
      const tree = JSON.parse(readFileSync(DEMO_TREE, 'utf8')) as UnitTreeFile;
      const seeded = await seedUnitTree(registry.context.db, base.busPrefix, tree, {
        localZone: { code: 'H26', name: 'LGSP tỉnh Hải Dương' },
      });
      registry.context.outbox.wake();
      if (seeded.units > 0) logger.info(seeded, 'demo unit tree loaded');
    }

    const adminEnvFile = join(options.dataDir, 'admin.env');
    const firstAdmin = await ensureFirstAdmin(auth.context, 'admin');
    if (firstAdmin !== undefined) {
      writeFileSync(
        adminEnvFile,
        `LGSP_ACCESS_KEY_ID=${firstAdmin.accessKeyId}\nLGSP_SECRET_KEY=${firstAdmin.secret}\n`,
        { mode: 0o600 },
      );
    }
    const gateway = await startGateway(
      {
        ...loadGatewayConfig({}),
        host: base.host,
        port: options.gatewayPort ?? 8080,
        logLevel: logger.level,
        upstreams: {
          registry: hostPort(registry.url),
          auth: hostPort(auth.url),
          transfer: hostPort(transfer.url),
          storage: hostPort(storage.url),
          notification: hostPort(notification.url),
          sso: hostPort(sso.url),
        },
        natsUrl,
        busPrefix: base.busPrefix,
        readMaxBytes: base.readMaxBytes,
        defaultTimeoutMs: 30_000,
        maxClockSkewMs: 300_000,
        allowHmacSha1: true,
        ...options.gateway,
      },
      { logger, bus },
    );
    stack.push(() => gateway.close());
    // The provider's public URLs are the gateway's, known once it listens.
    sso.context.oidc.setIssuer(`${gateway.url}${OIDC_MOUNT}`);

    let closing: Promise<void> | undefined;
    return {
      gateway,
      registry,
      services: [registry, ...others] as RunningService<unknown>[],
      firstAdmin,
      adminEnvFile,
      bus,
      database,
      busLocation: natsUrl ?? 'in-process',
      close: () => {
        closing ??= unwind().then(() => shutdownTelemetry());
        return closing;
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

function hostPort(url: string): string {
  return new URL(url).host;
}

/** The master key must outlive restarts: without it, the stored secrets cannot be read. */
function readOrCreateMasterKey(file: string): Uint8Array {
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 master key`);
    return new Uint8Array(key);
  }
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600 });
  return new Uint8Array(key);
}
