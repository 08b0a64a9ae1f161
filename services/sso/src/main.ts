/**
 * The sso service: OpenID Connect single sign-on (Art. 4.6, 11). The gRPC
 * API manages users and relying parties; the provider (login pages, tokens,
 * logout) is served over HTTP under `/oidc` on the same port, and the
 * gateway serves it under the platform's public origin.
 * Run alone with `tsx services/sso/src/main.ts`, or inside the embedded mode.
 */
import { streamName, subjectOf } from '#lib/infra.js';
import { isEntryPoint, runUntilSignal } from '#lib/lifecycle.js';
import { createLogger } from '#lib/logger.js';
import { type ServiceModule, startService } from '#lib/service.js';
import { loadSsoConfig, OIDC_MOUNT, type SsoConfig } from './config.js';
import { startSsoConsumers } from './consumers/index.js';
import { createSsoContext, disposeSsoContext, type SsoContext } from './context.js';
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
  httpPrefixRoutes: (ctx) => ({ [`${OIDC_MOUNT}/`]: ctx.oidc.route() }),
  consumers: startSsoConsumers,
  dispose: disposeSsoContext,
};

if (isEntryPoint(import.meta.url)) {
  const config = loadSsoConfig();
  runUntilSignal(() => startService(ssoModule, config), createLogger({ level: config.logLevel }));
}
