/**
 * The auth service: credentials, request signatures, session tokens (Art. 4.4, 10).
 * Run alone with `tsx services/auth/src/main.ts`, or inside the embedded mode.
 */
import { streamName } from '#lib/infra.js';
import { isEntryPoint, runUntilSignal } from '#lib/lifecycle.js';
import { createLogger } from '#lib/logger.js';
import { type ServiceModule, startService } from '#lib/service.js';
import { type AuthConfig, loadAuthConfig } from './config.js';
import { startAuthConsumers } from './consumers/index.js';
import { type AuthContext, createAuthContext, disposeAuthContext } from './context.js';
import { authSubjects } from './db/events.js';
import { migrations } from './db/migrations/index.js';
import { authHttpRoutes, authRoutes } from './routes/index.js';

export const authModule: ServiceModule<AuthConfig, AuthContext> = {
  name: 'auth',
  migrations,
  // Only the credential events are stored: the `auth.revoked` and `auth.used` broadcasts are not.
  streams: (config) => [
    { name: streamName(config.busPrefix, 'auth'), subjects: [authSubjects(config.busPrefix).credentials] },
  ],
  createContext: createAuthContext,
  routes: authRoutes,
  httpRoutes: authHttpRoutes,
  consumers: startAuthConsumers,
  dispose: disposeAuthContext,
};

if (isEntryPoint(import.meta.url)) {
  const config = loadAuthConfig();
  runUntilSignal(() => startService(authModule, config), createLogger({ level: config.logLevel }));
}
