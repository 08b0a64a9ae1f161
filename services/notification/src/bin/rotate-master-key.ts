/**
 * Re-seals the notification service's webhook signing secrets from
 * LGSP_MASTER_KEY_PREVIOUS to LGSP_MASTER_KEY:
 *
 *   node --import tsx services/notification/src/bin/rotate-master-key.ts [--dry-run] [--batch-size 500]
 *
 * Reads the notification service's configuration (DATABASE_URL, DB_SCHEMA,
 * ...). See docs/operations.md, "Rotating the master key".
 */
import { rotationMain } from '#lib/crypto/rotate-command.js';
import { loadNotificationConfig } from '../config.js';

rotationMain({
  service: 'notification',
  loadConfig: () => loadNotificationConfig(),
  // Sealed to the webhook id (routes/webhooks.ts).
  columns: () => [{ table: 'webhooks', key: 'id', column: 'secret_sealed', context: (id) => id }],
});
