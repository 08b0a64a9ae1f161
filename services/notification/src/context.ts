import type { Kysely } from 'kysely';
import { type AuditRecorder, createAuditRecorder } from '#lib/audit.js';
import type { BaseContext } from '#lib/service.js';
import { connectRegistry, type RegistryPort } from './clients/registry.js';
import type { NotificationConfig } from './config.js';
import type { NotificationDatabase } from './db/schema.js';
import { NoticeHub } from './domain/hub.js';
import { noStreamHooks, type StreamHooks } from './domain/stream-hooks.js';

/** Everything the notification service's handlers depend on, built once at start. */
export interface NotificationContext extends Omit<BaseContext<NotificationConfig>, 'db'> {
  readonly db: Kysely<NotificationDatabase>;
  /** SEND grants and the receiving apps of a unit, for SendNotice. */
  readonly registry: RegistryPort;
  /** The Subscribe streams this replica holds, fed by its tail of the fan-out events. */
  readonly hub: NoticeHub;
  readonly audit: AuditRecorder;
  /** Presence hook: told when a Subscribe stream opens and when it ends (domain/stream-hooks.ts). */
  readonly streamHooks: StreamHooks;
}

export function createNotificationContext(base: BaseContext<NotificationConfig>): NotificationContext {
  const { config, logger, bus } = base;
  return {
    ...base,
    db: base.db as unknown as Kysely<NotificationDatabase>,
    registry: connectRegistry(config.registryAddr),
    hub: new NoticeHub(),
    audit: createAuditRecorder(bus, config.busPrefix, 'notification', logger),
    streamHooks: noStreamHooks,
  };
}

export async function disposeNotificationContext(ctx: NotificationContext): Promise<void> {
  await ctx.hub.stop();
  ctx.registry.close();
}
