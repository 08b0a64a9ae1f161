/**
 * Opens the two shared dependencies from configuration: Postgres (or PGlite)
 * and the bus (NATS JetStream, or the in-process bus without NATS_URL).
 */
import { join } from 'node:path';
import type { Bus } from './bus/bus.js';
import { createMemoryBus } from './bus/memory.js';
import { connectNatsBus } from './bus/nats.js';
import type { BaseConfig } from './config.js';
import { type DatabasePool, openDatabase } from './db/database.js';
import type { Logger } from './logger.js';

export function openDatabaseFor(config: BaseConfig): Promise<DatabasePool> {
  if (config.databaseUrl !== undefined) return openDatabase({ kind: 'postgres', url: config.databaseUrl });
  return openDatabase({ kind: 'pglite', dataDir: join(config.dataDir, 'pglite') });
}

export function openBusFor(config: BaseConfig, logger: Logger): Promise<Bus> {
  if (config.natsUrl !== undefined) {
    return connectNatsBus({
      servers: config.natsUrl,
      name: `lgsp-${config.service}`,
      logger,
      replicas: config.natsReplicas ?? 1,
    });
  }
  return Promise.resolve(createMemoryBus({ logger }));
}

/** Stream and subject names under the configured prefix, so deployments and test suites can share a server. */
export function streamName(prefix: string, service: string): string {
  return `${prefix}_${service.toUpperCase()}`;
}

export function subjectOf(prefix: string, service: string, ...parts: string[]): string {
  return [prefix, service, ...parts].join('.');
}
