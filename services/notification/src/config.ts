import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';

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
}

export function loadNotificationConfig(env: Env = process.env): NotificationConfig {
  const reader = new EnvReader(env);
  const base = readBaseConfig(reader, 'notification', NOTIFICATION_DEFAULT_PORT);
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
  };
  reader.done();
  return Object.freeze(config);
}
