/**
 * The sso service: OpenID Connect single sign-on (Art. 4.6, 11).
 * Run alone with `tsx services/sso/src/main.ts`, or inside the embedded mode.
 */
import { streamName, subjectOf } from '#lib/infra.js';
import { isEntryPoint, runUntilSignal } from '#lib/lifecycle.js';
import { createLogger } from '#lib/logger.js';
import { type ServiceModule, startService } from '#lib/service.js';
import { loadSsoConfig, type SsoConfig } from './config.js';
import { startSsoConsumers } from './consumers/index.js';
import { createSsoContext, type SsoContext } from './context.js';
import { migrations } from './db/migrations/index.js';
import { ssoRoutes } from './routes/index.js';

export const ssoModule: ServiceModule<SsoConfig, SsoContext> = {
  name: 'sso',
  migrations,
  streams: (config) => [
    { name: streamName(config.busPrefix, 'sso'), subjects: [subjectOf(config.busPrefix, 'sso', '>')] },
  ],
  createContext: createSsoContext,
  routes: ssoRoutes,
  consumers: startSsoConsumers,
};

if (isEntryPoint(import.meta.url)) {
  const config = loadSsoConfig();
  runUntilSignal(() => startService(ssoModule, config), createLogger({ level: config.logLevel }));
}
