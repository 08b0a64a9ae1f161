/**
 * The registry service: units, apps, grants, zones and routing.
 * Run alone with `tsx services/registry/src/main.ts` (configuration from the
 * environment, see docs/operations.md), or inside the embedded mode.
 */

import { streamName, subjectOf } from '#lib/infra.js';
import { isEntryPoint, runUntilSignal } from '#lib/lifecycle.js';
import { createLogger } from '#lib/logger.js';
import { type ServiceModule, startService } from '#lib/service.js';
import { loadRegistryConfig, type RegistryConfig } from './config.js';
import { startRegistryConsumers } from './consumers/index.js';
import { createRegistryContext, type RegistryContext } from './context.js';
import { migrations } from './db/migrations/index.js';
import { registryRoutes } from './routes/index.js';

export const registryModule: ServiceModule<RegistryConfig, RegistryContext> = {
  name: 'registry',
  migrations,
  streams: (config) => [
    {
      name: streamName(config.busPrefix, 'registry'),
      subjects: [subjectOf(config.busPrefix, 'registry', '>')],
    },
  ],
  createContext: createRegistryContext,
  routes: registryRoutes,
  consumers: startRegistryConsumers,
};

if (isEntryPoint(import.meta.url)) {
  const config = loadRegistryConfig();
  runUntilSignal(() => startService(registryModule, config), createLogger({ level: config.logLevel }));
}
