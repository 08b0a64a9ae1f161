/**
 * Re-wraps the storage service's blob data keys from LGSP_MASTER_KEY_PREVIOUS
 * to LGSP_MASTER_KEY, and records the new key's public name with each blob:
 *
 *   node --import tsx services/storage/src/bin/rotate-master-key.ts [--dry-run] [--batch-size 500]
 *
 * Reads the storage service's configuration (DATABASE_URL, DB_SCHEMA, ...).
 * The content itself is not touched: it is encrypted under the data keys,
 * which do not change. See docs/operations.md, "Rotating the master key".
 */
import { rotationMain } from '#lib/crypto/rotate-command.js';
import { loadStorageConfig } from '../config.js';
import { dataKeyContext, masterKeyId } from '../crypto/data-keys.js';

rotationMain({
  service: 'storage',
  loadConfig: () => loadStorageConfig(),
  columns: (config) => [
    {
      table: 'blobs',
      key: 'id',
      column: 'wrapped_key',
      context: dataKeyContext,
      alsoSet: { master_key_id: masterKeyId(config.masterKey) },
    },
  ],
});
