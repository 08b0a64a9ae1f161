/**
 * The body of each service's `rotate-master-key` command: reads the
 * service's configuration (DATABASE_URL, DB_SCHEMA, LGSP_MASTER_KEY — the
 * new key — and LGSP_MASTER_KEY_PREVIOUS — the old one), re-seals its sealed
 * columns (rotate.ts) and prints what it did.
 *
 *   rotate-master-key [--dry-run] [--batch-size 500]
 *
 * Exit codes: 0 done (or nothing to do), 1 a value opens with neither key or
 * the database failed (the message names which), 2 configuration.
 */
import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import { type BaseConfig, ConfigError } from '../config.js';
import { openDatabaseFor } from '../infra.js';
import {
  type ColumnReport,
  DEFAULT_ROTATION_BATCH,
  RotationError,
  rotateSealedColumns,
  type SealedColumn,
} from './rotate.js';

export interface RotationCommand<C extends BaseConfig> {
  readonly service: string;
  loadConfig(): C & { readonly masterKey: Uint8Array; readonly previousMasterKey?: Uint8Array };
  /** The sealed columns; `config` for values that depend on it (a key's public name). */
  columns(config: C & { readonly masterKey: Uint8Array }): readonly SealedColumn[];
}

const line = (r: ColumnReport) =>
  `${r.name}: ${r.values} values, ${r.resealed} re-sealed, ${r.current} already under the new key`;

export async function runRotationCommand<C extends BaseConfig>(command: RotationCommand<C>): Promise<number> {
  const out = (text: string) => process.stdout.write(`${command.service}: ${text}\n`);
  const err = (text: string) => process.stderr.write(`${command.service}: ${text}\n`);
  let args: { dryRun: boolean; batchSize: number };
  let config: ReturnType<RotationCommand<C>['loadConfig']>;
  try {
    const { values } = parseArgs({
      options: { 'dry-run': { type: 'boolean', default: false }, 'batch-size': { type: 'string' } },
      strict: true,
    });
    const batchSize = Number(values['batch-size'] ?? DEFAULT_ROTATION_BATCH);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw new ConfigError('--batch-size must be an integer between 1 and 10000');
    }
    args = { dryRun: values['dry-run'], batchSize };
    config = command.loadConfig();
  } catch (error) {
    if (error instanceof ConfigError || (error instanceof TypeError && 'code' in error)) {
      err(error.message);
      return 2;
    }
    throw error;
  }
  if (config.masterKey.length !== 32) {
    err('LGSP_MASTER_KEY is required: the new master key, base64 of 32 bytes');
    return 2;
  }
  if (config.previousMasterKey === undefined) {
    err('LGSP_MASTER_KEY_PREVIOUS is required: the master key the values are sealed under now');
    return 2;
  }
  if (Buffer.from(config.masterKey).equals(Buffer.from(config.previousMasterKey))) {
    err('LGSP_MASTER_KEY and LGSP_MASTER_KEY_PREVIOUS are the same key: nothing to rotate');
    return 2;
  }

  const database = await openDatabaseFor(config);
  try {
    const db = database.forSchema<unknown>(config.dbSchema) as Kysely<unknown>;
    out(`${args.dryRun ? 'checking' : 're-sealing'} the sealed values of schema ${config.dbSchema}`);
    const reports = await rotateSealedColumns(
      db,
      config.dbSchema,
      command.columns(config),
      { current: config.masterKey, previous: config.previousMasterKey },
      {
        batchSize: args.batchSize,
        dryRun: args.dryRun,
        onBatch: (r) => out(`  ${r.name}: ${r.resealed} re-sealed so far`),
      },
    );
    for (const r of reports) {
      out(
        args.dryRun
          ? `${r.name}: ${r.values} values, ${r.values - r.current} to re-seal, ${r.current} already under the new key`
          : line(r),
      );
    }
    out(args.dryRun ? 'check passed, nothing written' : 'done: every sealed value is under the new key');
    return 0;
  } catch (error) {
    if (error instanceof RotationError) {
      for (const r of error.reports) err(`${line(r)}, ${r.unreadable} open with neither key`);
      err(`failed: ${error.message}`);
      return 1;
    }
    err(`failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await database.close();
  }
}

/** Runs the command and sets the exit code; for the services' bin files. */
export function rotationMain<C extends BaseConfig>(command: RotationCommand<C>): void {
  runRotationCommand(command).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `${command.service}: rotate-master-key failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
