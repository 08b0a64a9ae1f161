/**
 * Verifies the audit log's hash chain (Art. 14.5) and says whether it is intact:
 *
 *   node --import tsx services/auth/src/bin/verify-audit.ts [--json]
 *
 * Reads the auth service's database settings from the environment
 * (DATABASE_URL, DB_SCHEMA, LGSP_DATA_DIR; see docs/operations.md); the
 * master key is not needed. Prints `OK` with the number of entries checked
 * and the head of the chain, exit code 0; or names the first broken entry
 * (its sequence and event id), exit code 1. A configuration problem exits 2,
 * any other failure (the database unreachable) 3.
 */
import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import { ConfigError, EnvReader, readBaseConfig } from '#lib/config.js';
import { migrateToLatest } from '#lib/db/migrate.js';
import { openDatabaseFor } from '#lib/infra.js';
import { AUTH_DEFAULT_PORT } from '../config.js';
import { verifyAuditChain } from '../db/audit-log.js';
import { migrations } from '../db/migrations/index.js';
import type { AuthDatabase } from '../db/schema.js';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { json: { type: 'boolean', default: false } }, strict: true });
  let config: ReturnType<typeof readBaseConfig>;
  try {
    const reader = new EnvReader();
    config = readBaseConfig(reader, 'auth', AUTH_DEFAULT_PORT);
    reader.done();
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
    const report = await verifyAuditChain(db);
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const summary = {
      intact: report.broken === undefined,
      entries_checked: report.checked,
      anchor_sequence: report.anchor.anchor_seq,
      anchor_hash: hex(report.anchor.anchor_hash),
      head_sequence: report.headSeq,
      head_hash: hex(report.headHash),
      ...(report.broken === undefined
        ? {}
        : {
            first_break: {
              sequence: report.broken.seq,
              event_id: report.broken.eventId,
              problem: report.broken.problem,
              message: report.broken.message,
            },
          }),
    };
    if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else if (report.broken === undefined) {
      process.stdout.write(
        `OK ${report.checked} entries checked (sequence ${report.anchor.anchor_seq + 1} to ${report.headSeq}); ` +
          `head ${summary.head_hash}\n`,
      );
    } else {
      const b = report.broken;
      process.stdout.write(
        `BROKEN at entry ${b.seq}${b.eventId === '' ? '' : ` (event ${b.eventId})`}: ${b.problem}: ${b.message}; ` +
          `${report.checked} entries checked\n`,
      );
    }
    return report.broken === undefined ? 0 : 1;
  } finally {
    await database.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`verify-audit failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 3;
  },
);
