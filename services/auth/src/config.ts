import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';

export const AUTH_DEFAULT_PORT = 7102;

export type AuthConfig = BaseConfig;

export function loadAuthConfig(env: Env = process.env): AuthConfig {
  const reader = new EnvReader(env);
  const config = readBaseConfig(reader, 'auth', AUTH_DEFAULT_PORT);
  reader.done();
  return Object.freeze(config);
}
