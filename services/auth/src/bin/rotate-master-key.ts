/**
 * Re-seals the auth service's sealed values (HMAC credential secrets, session
 * token signing keys) from LGSP_MASTER_KEY_PREVIOUS to LGSP_MASTER_KEY:
 *
 *   node --import tsx services/auth/src/bin/rotate-master-key.ts [--dry-run] [--batch-size 500]
 *
 * Reads the auth service's configuration (DATABASE_URL, DB_SCHEMA, ...). See
 * docs/operations.md, "Rotating the master key"; exit codes in rotate-command.ts.
 */
import { rotationMain } from '#lib/crypto/rotate-command.js';
import { loadAuthConfig } from '../config.js';

rotationMain({
  service: 'auth',
  loadConfig: () => loadAuthConfig(),
  columns: () => [
    // Sealed to the access key id (domain/new-credentials.ts).
    { table: 'credentials', key: 'access_key_id', column: 'secret_ciphertext', context: (id) => id },
    // Sealed to the kid (domain/session-keys.ts).
    { table: 'signing_keys', key: 'kid', column: 'private_jwk_ciphertext', context: (kid) => kid },
  ],
});
