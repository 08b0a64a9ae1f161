/**
 * Creates the first administrator credential and prints it once, as JSON:
 *
 *   node --import tsx services/auth/src/bin/create-admin.ts [--name admin] [--force-new]
 *
 * Reads the auth service's configuration from the environment (DATABASE_URL,
 * DB_SCHEMA, LGSP_MASTER_KEY, ...; see docs/operations.md). Refuses, exit
 * code 1, when an active administrator credential exists, unless --force-new.
 */
import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import { ConfigError } from '#lib/config.js';
import { createSecretBox } from '#lib/crypto/secret-box.js';
import { migrateToLatest } from '#lib/db/migrate.js';
import { openDatabaseFor } from '#lib/infra.js';
import { ensureFirstAdmin } from '../bootstrap.js';
import { loadAuthConfig } from '../config.js';
import { migrations } from '../db/migrations/index.js';
import type { AuthDatabase } from '../db/schema.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { name: { type: 'string', default: 'admin' }, 'force-new': { type: 'boolean', default: false } },
    strict: true,
  });
  let config: ReturnType<typeof loadAuthConfig>;
  try {
    config = loadAuthConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const database = await openDatabaseFor(config);
  try {
    const db = database.forSchema<AuthDatabase>(config.dbSchema);
    await migrateToLatest(db as Kysely<unknown>, config.dbSchema, migrations);
    const admin = await ensureFirstAdmin(
      { db, secretBox: createSecretBox(config.masterKey), config },
      values.name,
      { forceNew: values['force-new'] },
    );
    if (admin === undefined) {
      process.stderr.write(
        'an active administrator credential exists already: sign in with it and create more with ' +
          'CreateCredential, or run again with --force-new if every administrator secret was lost\n',
      );
      return 1;
    }
    process.stdout.write(
      `${JSON.stringify(
        {
          operator_name: values.name,
          access_key_id: admin.accessKeyId,
          secret_key: admin.secret,
          note: 'the secret key is shown only this once; keep it in a password manager or a Secret',
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  } finally {
    await database.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`create-admin failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
