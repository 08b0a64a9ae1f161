/**
 * Re-seals the sso service's sealed values (token signing keys, client
 * secrets, the previous client secrets still in their grace period, TOTP
 * secrets) from LGSP_MASTER_KEY_PREVIOUS to LGSP_MASTER_KEY:
 *
 *   node --import tsx services/sso/src/bin/rotate-master-key.ts [--dry-run] [--batch-size 500]
 *
 * Reads the sso service's configuration (DATABASE_URL, DB_SCHEMA,
 * LGSP_SSO_ISSUER, ...). Cookie and form keys derive from the master key and
 * are not stored; see docs/operations.md, "Rotating the master key".
 */
import { rotationMain } from '#lib/crypto/rotate-command.js';
import { loadSsoConfig } from '../config.js';
import { sealedSecretContext } from '../context.js';

rotationMain({
  service: 'sso',
  loadConfig: () => loadSsoConfig(),
  columns: () => [
    // domain/keys.ts
    {
      table: 'signing_keys',
      key: 'kid',
      column: 'private_jwk_sealed',
      context: (kid) => `sso-signing-key:${kid}`,
    },
    // routes/relying-parties.ts: both secrets are sealed to the client id.
    { table: 'relying_parties', key: 'client_id', column: 'secret_sealed', context: sealedSecretContext },
    {
      table: 'relying_parties',
      key: 'client_id',
      column: 'previous_secret_sealed',
      context: sealedSecretContext,
    },
    // routes/users.ts
    { table: 'users', key: 'id', column: 'totp_secret_sealed', context: (id) => `sso-totp:${id}` },
  ],
});
