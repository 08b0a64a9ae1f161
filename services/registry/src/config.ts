import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';

export const REGISTRY_DEFAULT_PORT = 7101;

export type RegistryConfig = BaseConfig;

export function loadRegistryConfig(env: Env = process.env): RegistryConfig {
  const reader = new EnvReader(env);
  const config = readBaseConfig(reader, 'registry', REGISTRY_DEFAULT_PORT);
  reader.done();
  return Object.freeze(config);
}
