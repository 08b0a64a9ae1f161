import type { Kysely } from 'kysely';
import { type AuditRecorder, createAuditRecorder } from '#lib/audit.js';
import { createSecretBox, type SecretBox } from '#lib/crypto/secret-box.js';
import type { BaseContext } from '#lib/service.js';
import { connectRegistry, type RegistryPort } from './clients/registry.js';
import type { NotificationConfig } from './config.js';
import { WebhookDispatcher } from './consumers/webhook-dispatch.js';
import type { NotificationDatabase } from './db/schema.js';
import { NoticeHub } from './domain/hub.js';
import { presenceStreamHooks } from './domain/presence-hooks.js';
import { PresenceTracker } from './domain/presence-tracker.js';
import { ReadGate } from './domain/read-gate.js';
import type { StreamHooks } from './domain/stream-hooks.js';
import { AddressGuard } from './domain/webhook-address.js';

/**
 * Postgres reads of Subscribe streams running at once per replica; the pool
 * has 10 connections, and the consumers, the relay and the other RPCs need theirs.
 */
const SUBSCRIBE_READS = 6;

/** Everything the notification service's handlers depend on, built once at start. */
export interface NotificationContext extends Omit<BaseContext<NotificationConfig>, 'db'> {
  readonly db: Kysely<NotificationDatabase>;
  /** SEND grants and the receiving apps of a unit, for SendNotice. */
  readonly registry: RegistryPort;
  /** The Subscribe streams this replica holds, fed by its tail of the fan-out events. */
  readonly hub: NoticeHub;
  /** Bounds the Postgres reads of Subscribe streams, so a wave of reconnects cannot drain the pool. */
  readonly streamReads: ReadGate;
  readonly audit: AuditRecorder;
  /** Presence hook: told when a Subscribe stream opens and when it ends (domain/stream-hooks.ts). */
  readonly streamHooks: StreamHooks;
  /** Presence of apps across replicas (Art. 5.9), in the KV bucket `<prefix>_PRESENCE`. */
  readonly presence: PresenceTracker;
  /** Seals and opens the webhooks' signing secrets. */
  readonly secretBox: SecretBox;
  /** Which addresses webhook calls may reach. */
  readonly webhookGuard: AddressGuard;
  /** Webhook calls; started with the consumers, woken when notices are committed. */
  readonly webhooks: WebhookDispatcher;
}

export async function createNotificationContext(
  base: BaseContext<NotificationConfig>,
): Promise<NotificationContext> {
  const { config, logger, bus } = base;
  if (config.masterKey.length !== 32) {
    throw new Error(
      'the notification service needs its 32-byte master key for webhook secrets (LGSP_MASTER_KEY, config.masterKey)',
    );
  }
  const db = base.db as unknown as Kysely<NotificationDatabase>;
  const presence = await PresenceTracker.start({
    bus,
    db,
    logger,
    prefix: config.busPrefix,
    replicaId: config.replicaId,
    intervalMs: config.presenceIntervalMs,
    kvReplicas: config.presenceKvReplicas,
    onRecorded: () => base.outbox.wake(),
  });
  const audit = createAuditRecorder(bus, config.busPrefix, 'notification', logger);
  const secretBox = createSecretBox(config.masterKey, config.previousMasterKey);
  const webhookGuard = new AddressGuard({
    allowLoopback: config.webhookAllowLoopback,
    allowedNetworks: config.webhookAllowedNetworks,
  });
  return {
    ...base,
    db,
    registry: connectRegistry(config.registryAddr),
    hub: new NoticeHub(),
    streamReads: new ReadGate(SUBSCRIBE_READS),
    audit,
    streamHooks: presenceStreamHooks(presence, logger),
    presence,
    secretBox,
    webhookGuard,
    webhooks: new WebhookDispatcher({ db, config, logger, audit, presence, secretBox, webhookGuard }),
  };
}

export async function disposeNotificationContext(ctx: NotificationContext): Promise<void> {
  await ctx.hub.stop();
  await ctx.presence.close();
  ctx.registry.close();
}
