import type { Kysely } from 'kysely';
import type { BaseContext } from '#lib/service.js';
import { connectRegistry, type RegistryPort } from './clients/registry.js';
import { connectStorage, type StoragePort } from './clients/storage.js';
import type { TransferConfig } from './config.js';
import type { TransferDatabase } from './db/schema.js';

/** Everything the transfer service's handlers depend on, built once at start. */
export interface TransferContext extends Omit<BaseContext<TransferConfig>, 'db'> {
  readonly db: Kysely<TransferDatabase>;
  readonly registry: RegistryPort;
  readonly storage: StoragePort;
  /** Asks the background work (offers, expiry, purge) to run now rather than at its next tick. */
  wakeWorker(): void;
  /** Set by the worker when it starts. */
  onWake(listener: () => void): void;
}

export function createTransferContext(base: BaseContext<TransferConfig>): TransferContext {
  const listeners: Array<() => void> = [];
  return {
    ...base,
    db: base.db as unknown as Kysely<TransferDatabase>,
    registry: connectRegistry(base.config.registryAddr),
    storage: connectStorage(base.config.storageAddr),
    wakeWorker: () => {
      for (const listener of listeners) listener();
    },
    onWake: (listener) => {
      listeners.push(listener);
    },
  };
}

export async function disposeTransferContext(ctx: TransferContext): Promise<void> {
  ctx.registry.close();
  ctx.storage.close();
}
