import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';

export const STORAGE_DEFAULT_PORT = 7104;

export type StorageConfig = BaseConfig;

export function loadStorageConfig(env: Env = process.env): StorageConfig {
  const reader = new EnvReader(env);
  const config = readBaseConfig(reader, 'storage', STORAGE_DEFAULT_PORT);
  reader.done();
  return Object.freeze(config);
}
