import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';

export const TRANSFER_DEFAULT_PORT = 7103;

export type TransferConfig = BaseConfig;

export function loadTransferConfig(env: Env = process.env): TransferConfig {
  const reader = new EnvReader(env);
  const config = readBaseConfig(reader, 'transfer', TRANSFER_DEFAULT_PORT);
  reader.done();
  return Object.freeze(config);
}
