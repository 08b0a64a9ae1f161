/**
 * Frozen: the audit log (Art. 14.5). `audit_log` holds one row per audit
 * event in a hash chain; `audit_chain` is its single lock row, with the head
 * of the chain and the anchor left by the retention sweep.
 *
 * Triggers make the log append-only for everyone but a superuser (who can
 * disable them; the hash chain is what reveals that):
 * - no UPDATE and no TRUNCATE of `audit_log`;
 * - DELETE only of rows at or below the anchor, i.e. rows the retention sweep
 *   has first recorded as pruned;
 * - `audit_chain` is never deleted; its head and anchor only move forward, and
 *   each must name the hash of the row at its sequence.
 */
import { type Kysely, sql } from 'kysely';

const ZERO_HASH = sql`'\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('audit_log')
    .addColumn('seq', 'bigint', (c) => c.primaryKey())
    .addColumn('event_id', 'text', (c) => c.notNull().unique())
    .addColumn('occur_time', 'timestamptz', (c) => c.notNull())
    .addColumn('record_time', 'timestamptz', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('object', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('trace_id', 'text', (c) => c.notNull())
    .addColumn('client_address', 'text', (c) => c.notNull())
    .addColumn('access_key_id', 'text', (c) => c.notNull())
    .addColumn('actor_kind', 'text', (c) => c.notNull())
    .addColumn('actor_subject', 'text', (c) => c.notNull())
    .addColumn('actor_app_id', 'text', (c) => c.notNull())
    .addColumn('actor_unit_code', 'text', (c) => c.notNull())
    .addColumn('actor_roles', sql`text[]`, (c) => c.notNull())
    .addColumn('prev_hash', 'bytea', (c) => c.notNull())
    .addColumn('hash', 'bytea', (c) => c.notNull())
    .addCheckConstraint('audit_log_seq', sql`seq >= 1`)
    .addCheckConstraint('audit_log_hashes', sql`length(hash) = 32 and length(prev_hash) = 32`)
    .execute();
  await db.schema.createIndex('audit_log_occur_time').on('audit_log').column('occur_time').execute();
  await db.schema.createIndex('audit_log_unit').on('audit_log').columns(['actor_unit_code', 'seq']).execute();
  await db.schema.createIndex('audit_log_request').on('audit_log').column('request_id').execute();
  await db.schema.createIndex('audit_log_app').on('audit_log').columns(['actor_app_id', 'seq']).execute();
  await db.schema
    .createIndex('audit_log_subject')
    .on('audit_log')
    .columns(['actor_subject', 'seq'])
    .execute();

  await db.schema
    .createTable('audit_chain')
    .addColumn('id', 'smallint', (c) => c.primaryKey())
    .addColumn('head_seq', 'bigint', (c) => c.notNull())
    .addColumn('head_hash', 'bytea', (c) => c.notNull())
    .addColumn('anchor_seq', 'bigint', (c) => c.notNull())
    .addColumn('anchor_hash', 'bytea', (c) => c.notNull())
    .addColumn('anchor_time', 'timestamptz')
    .addCheckConstraint('audit_chain_single', sql`id = 1`)
    .addCheckConstraint('audit_chain_order', sql`anchor_seq >= 0 and anchor_seq <= head_seq`)
    .execute();
  await sql`insert into ${table(db, 'audit_chain')} (id, head_seq, head_hash, anchor_seq, anchor_hash)
            values (1, 0, ${ZERO_HASH}, 0, ${ZERO_HASH})`.execute(db);

  const log = table(db, 'audit_log');
  const chain = table(db, 'audit_chain');
  const logGuard = table(db, 'audit_log_guard');
  const chainGuard = table(db, 'audit_chain_guard');
  await sql`
    create function ${logGuard}() returns trigger language plpgsql as $$
    declare
      anchor bigint;
    begin
      if tg_op = 'DELETE' then
        execute format('select anchor_seq from %I.audit_chain where id = 1', tg_table_schema) into anchor;
        if old.seq <= anchor then
          return old;
        end if;
        raise exception 'the audit log is append-only: entry % is not behind the retention anchor (%)', old.seq, anchor
          using errcode = 'insufficient_privilege';
      end if;
      raise exception 'the audit log is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege';
    end
    $$`.execute(db);
  await sql`create trigger audit_log_append_only before update or delete on ${log}
            for each row execute function ${logGuard}()`.execute(db);
  await sql`create trigger audit_log_no_truncate before truncate on ${log}
            for each statement execute function ${logGuard}()`.execute(db);

  await sql`
    create function ${chainGuard}() returns trigger language plpgsql as $$
    declare
      found bytea;
    begin
      if tg_op <> 'UPDATE' then
        raise exception 'the audit chain row cannot be removed' using errcode = 'insufficient_privilege';
      end if;
      if new.id <> old.id or new.head_seq < old.head_seq or new.anchor_seq < old.anchor_seq then
        raise exception 'the audit chain only moves forward' using errcode = 'insufficient_privilege';
      end if;
      if new.head_seq <> old.head_seq or new.head_hash <> old.head_hash then
        execute format('select hash from %I.audit_log where seq = $1', tg_table_schema) into found using new.head_seq;
        if found is distinct from new.head_hash then
          raise exception 'the audit chain head must be the hash of entry %', new.head_seq
            using errcode = 'insufficient_privilege';
        end if;
      end if;
      if new.anchor_seq <> old.anchor_seq or new.anchor_hash <> old.anchor_hash then
        execute format('select hash from %I.audit_log where seq = $1', tg_table_schema) into found using new.anchor_seq;
        if found is distinct from new.anchor_hash then
          raise exception 'the audit chain anchor must be the hash of entry %', new.anchor_seq
            using errcode = 'insufficient_privilege';
        end if;
      end if;
      return new;
    end
    $$`.execute(db);
  await sql`create trigger audit_chain_forward_only before update or delete on ${chain}
            for each row execute function ${chainGuard}()`.execute(db);
  await sql`create trigger audit_chain_no_truncate before truncate on ${chain}
            for each statement execute function ${chainGuard}()`.execute(db);
}

/**
 * A name in the schema the migrator works in. Raw SQL is not rewritten by
 * kysely's schema plugin, so the schema is read from a query it did rewrite.
 */
function table(db: Kysely<unknown>, name: string) {
  const compiled = (db as Kysely<Record<string, unknown>>).selectFrom(name).selectAll().compile().sql;
  const schema = /from "((?:[^"]|"")+)"\./.exec(compiled)?.[1]?.replace(/""/g, '"');
  return schema === undefined ? sql.id(name) : sql.id(schema, name);
}
