/**
 * The transfer service: the send and receive flows of Art. 8 and 9.
 * Run alone with `tsx services/transfer/src/main.ts`, or inside the embedded mode.
 */
import { streamName, subjectOf } from '#lib/infra.js';
import { isEntryPoint, runUntilSignal } from '#lib/lifecycle.js';
import { createLogger } from '#lib/logger.js';
import { type ServiceModule, startService } from '#lib/service.js';
import { loadTransferConfig, type TransferConfig } from './config.js';
import { startTransferConsumers } from './consumers/index.js';
import { createTransferContext, disposeTransferContext, type TransferContext } from './context.js';
import { migrations } from './db/migrations/index.js';
import { transferRoutes } from './routes/index.js';

export const transferModule: ServiceModule<TransferConfig, TransferContext> = {
  name: 'transfer',
  migrations,
  streams: (config) => [
    {
      name: streamName(config.busPrefix, 'transfer'),
      subjects: [subjectOf(config.busPrefix, 'transfer', '>')],
    },
  ],
  createContext: createTransferContext,
  routes: transferRoutes,
  consumers: startTransferConsumers,
  dispose: disposeTransferContext,
};

if (isEntryPoint(import.meta.url)) {
  const config = loadTransferConfig();
  runUntilSignal(() => startService(transferModule, config), createLogger({ level: config.logLevel }));
}
