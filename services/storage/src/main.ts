/**
 * The storage service: transfer content: staged upload, streamed download, purge (Art. 5.2, 5.3).
 * Run alone with `tsx services/storage/src/main.ts`, or inside the embedded mode.
 */
import { streamName, subjectOf } from '#lib/infra.js';
import { isEntryPoint, runUntilSignal } from '#lib/lifecycle.js';
import { createLogger } from '#lib/logger.js';
import { type ServiceModule, startService } from '#lib/service.js';
import { loadStorageConfig, type StorageConfig } from './config.js';
import { startStorageConsumers } from './consumers/index.js';
import { createStorageContext, disposeStorageContext, type StorageContext } from './context.js';
import { migrations } from './db/migrations/index.js';
import { storageRoutes } from './routes/index.js';

export const storageModule: ServiceModule<StorageConfig, StorageContext> = {
  name: 'storage',
  migrations,
  streams: (config) => [
    {
      name: streamName(config.busPrefix, 'storage'),
      subjects: [subjectOf(config.busPrefix, 'storage', '>')],
    },
  ],
  createContext: createStorageContext,
  routes: storageRoutes,
  consumers: startStorageConsumers,
  dispose: disposeStorageContext,
};

if (isEntryPoint(import.meta.url)) {
  const config = loadStorageConfig();
  runUntilSignal(() => startService(storageModule, config), createLogger({ level: config.logLevel }));
}
