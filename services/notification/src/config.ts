import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';

export const NOTIFICATION_DEFAULT_PORT = 7105;

export type NotificationConfig = BaseConfig;

export function loadNotificationConfig(env: Env = process.env): NotificationConfig {
  const reader = new EnvReader(env);
  const config = readBaseConfig(reader, 'notification', NOTIFICATION_DEFAULT_PORT);
  reader.done();
  return Object.freeze(config);
}
