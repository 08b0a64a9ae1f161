import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';

export const SSO_DEFAULT_PORT = 7106;

export type SsoConfig = BaseConfig;

export function loadSsoConfig(env: Env = process.env): SsoConfig {
  const reader = new EnvReader(env);
  const config = readBaseConfig(reader, 'sso', SSO_DEFAULT_PORT);
  reader.done();
  return Object.freeze(config);
}
