/**
 * The notification service: real-time notices, webhooks and presence (Art. 4.5, 5.9).
 * Run alone with `tsx services/notification/src/main.ts`, or inside the embedded mode.
 */
import { streamName } from '#lib/infra.js';
import { isEntryPoint, runUntilSignal } from '#lib/lifecycle.js';
import { createLogger } from '#lib/logger.js';
import { type ServiceModule, startService } from '#lib/service.js';
import { loadNotificationConfig, type NotificationConfig } from './config.js';
import { startNotificationConsumers } from './consumers/index.js';
import {
  createNotificationContext,
  disposeNotificationContext,
  type NotificationContext,
} from './context.js';
import { notificationSubjects } from './db/events.js';
import { migrations } from './db/migrations/index.js';
import { notificationRoutes } from './routes/index.js';

export const notificationModule: ServiceModule<NotificationConfig, NotificationContext> = {
  name: 'notification',
  migrations,
  streams: (config) => [
    {
      name: streamName(config.busPrefix, 'notification'),
      subjects: [notificationSubjects(config.busPrefix).all],
      // The events only carry notices to the replicas; the notices are in Postgres.
      maxAgeMs: config.noticeStreamMaxAgeSeconds * 1000,
    },
  ],
  createContext: createNotificationContext,
  routes: notificationRoutes,
  consumers: startNotificationConsumers,
  dispose: disposeNotificationContext,
};

if (isEntryPoint(import.meta.url)) {
  const config = loadNotificationConfig();
  runUntilSignal(() => startService(notificationModule, config), createLogger({ level: config.logLevel }));
}
