import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';
import { previousMasterKey } from '#lib/crypto/rotate.js';
import { checkNetworks } from './domain/webhook-address.js';

export const NOTIFICATION_DEFAULT_PORT = 7105;

const DAY_SECONDS = 24 * 3600;

export interface NotificationConfig extends BaseConfig {
  /** The registry, `host:port`, for the SEND grants of SendNotice and the apps of a unit. */
  readonly registryAddr: string;
  /** How long a notice is kept unacknowledged when its producer names no shorter time. */
  readonly noticeTtlSeconds: number;
  /** How often each replica deletes the notices past their expire time. */
  readonly noticeSweepIntervalSeconds: number;
  /**
   * How long the fan-out events (`<prefix>.notification.>`) stay in JetStream. The
   * notices themselves are in Postgres; the events only carry them to the replicas.
   */
  readonly noticeStreamMaxAgeSeconds: number;
  /**
   * The heartbeat interval apps are asked to keep (Art. 5.9); an app nothing
   * holds for three intervals is offline. Milliseconds, so tests can shrink it.
   */
  readonly presenceIntervalMs: number;
  /** Copies of the presence KV bucket `<prefix>_PRESENCE` in a NATS cluster. */
  readonly presenceKvReplicas: number;
  /** This replica's name in presence and the connection history: unique per process start. */
  readonly replicaId: string;
  /** Seals the webhooks' signing secrets at rest (the same key the auth and storage services use). */
  readonly masterKey: Uint8Array;
  /**
   * The master key before a rotation (LGSP_MASTER_KEY_PREVIOUS): opens values
   * not yet re-sealed under `masterKey`, never seals. Unset outside a rotation.
   */
  readonly previousMasterKey?: Uint8Array;
  /** How long one webhook call may take, answer included. */
  readonly webhookTimeoutMs: number;
  /** Calls per notice and webhook before it is parked (MAX_ATTEMPTS). */
  readonly webhookMaxAttempts: number;
  /** Wait before the second call; doubled for each later one, capped at one hour. */
  readonly webhookRetryBaseMs: number;
  /** A webhook failing every call for this long is disabled. */
  readonly webhookDisableAfterMs: number;
  /** Webhook calls under way at once on each replica. */
  readonly webhookConcurrency: number;
  /** Whether webhooks may be called on loopback addresses (development only). */
  readonly webhookAllowLoopback: boolean;
  /** Private or reserved networks webhooks may nevertheless be called in, e.g. the provincial WAN. */
  readonly webhookAllowedNetworks: readonly string[];
}

export function loadNotificationConfig(env: Env = process.env): NotificationConfig {
  const reader = new EnvReader(env);
  const base = readBaseConfig(reader, 'notification', NOTIFICATION_DEFAULT_PORT);
  const networks = reader
    .string('LGSP_WEBHOOK_ALLOWED_NETWORKS', '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  for (const problem of checkNetworks(networks)) reader.report(`LGSP_WEBHOOK_ALLOWED_NETWORKS: ${problem}`);
  const config: NotificationConfig = {
    ...base,
    registryAddr: reader.string('REGISTRY_ADDR', '127.0.0.1:7101'),
    noticeTtlSeconds: reader.int('LGSP_NOTICE_TTL_SECONDS', 30 * DAY_SECONDS, {
      min: 60,
      max: 90 * DAY_SECONDS,
    }),
    noticeSweepIntervalSeconds: reader.int('LGSP_NOTICE_SWEEP_INTERVAL_SECONDS', 60, { min: 1, max: 3600 }),
    noticeStreamMaxAgeSeconds: reader.int('LGSP_NOTICE_STREAM_MAX_AGE_SECONDS', DAY_SECONDS, {
      min: 300,
      max: 30 * DAY_SECONDS,
    }),
    presenceIntervalMs: reader.int('LGSP_PRESENCE_INTERVAL_SECONDS', 30, { min: 1, max: 600 }) * 1000,
    presenceKvReplicas: reader.int('LGSP_PRESENCE_KV_REPLICAS', 1, { min: 1, max: 5 }),
    replicaId: replicaName(reader.string('LGSP_REPLICA_NAME', hostname())),
    masterKey: reader.base64Key('LGSP_MASTER_KEY', 32) ?? new Uint8Array(0),
    ...previousMasterKey(reader),
    webhookTimeoutMs: reader.int('LGSP_WEBHOOK_TIMEOUT_SECONDS', 10, { min: 1, max: 60 }) * 1000,
    webhookMaxAttempts: reader.int('LGSP_WEBHOOK_MAX_ATTEMPTS', 12, { min: 1, max: 50 }),
    webhookRetryBaseMs: reader.int('LGSP_WEBHOOK_RETRY_BASE_MS', 30_000, { min: 10, max: 3_600_000 }),
    webhookDisableAfterMs:
      reader.int('LGSP_WEBHOOK_DISABLE_AFTER_SECONDS', DAY_SECONDS, { min: 1, max: 30 * DAY_SECONDS }) * 1000,
    webhookConcurrency: reader.int('LGSP_WEBHOOK_CONCURRENCY', 16, { min: 1, max: 256 }),
    webhookAllowLoopback: reader.bool('LGSP_WEBHOOK_ALLOW_LOOPBACK', false),
    webhookAllowedNetworks: networks,
  };
  reader.done();
  return Object.freeze(config);
}

/** `<name>-<6 hex>`: the pod's name (or the host's) made unique per start, in KV key characters. */
export function replicaName(name: string): string {
  const base = name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 60) || 'replica';
  return `${base}-${randomBytes(3).toString('hex')}`;
}
