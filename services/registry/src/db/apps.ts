/** Queries on apps. */
import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { AppRow } from './rows.js';
import type { AppKindName, AppStatusName, RegistryDatabase } from './schema.js';

type Db = Kysely<RegistryDatabase>;

/** `app_` and 16 hex digits: short enough to type, random enough not to guess. */
export function newAppId(): string {
  return `app_${randomBytes(8).toString('hex')}`;
}

export async function findApp(db: Db, id: string): Promise<AppRow | undefined> {
  return db.selectFrom('apps').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function lockApp(trx: Db, id: string): Promise<AppRow | undefined> {
  return trx.selectFrom('apps').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export interface NewAppRow {
  readonly unitCode: string;
  readonly name: string;
  readonly description: string;
  readonly kind: AppKindName;
  readonly acceptedContentTypes: readonly string[];
  readonly webhookUrl: string | null;
}

export async function insertApp(trx: Db, app: NewAppRow): Promise<AppRow> {
  return trx
    .insertInto('apps')
    .values({
      id: newAppId(),
      unit_code: app.unitCode,
      name: app.name,
      description: app.description,
      kind: app.kind,
      accepted_content_types: [...app.acceptedContentTypes],
      webhook_url: app.webhookUrl,
      status: 'active',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface AppChanges {
  name?: string;
  description?: string;
  accepted_content_types?: string[];
  webhook_url?: string | null;
  status?: AppStatusName;
  unit_code?: string;
}

export async function updateApp(trx: Db, id: string, changes: AppChanges): Promise<AppRow> {
  return trx
    .updateTable('apps')
    .set({ ...changes, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function appsOfUnits(
  db: Db,
  unitCodes: readonly string[],
  onlyActive: boolean,
): Promise<AppRow[]> {
  if (unitCodes.length === 0) return [];
  let query = db
    .selectFrom('apps')
    .selectAll()
    .where('unit_code', 'in', [...unitCodes]);
  if (onlyActive) query = query.where('status', '=', 'active');
  return query.orderBy('id').execute();
}

/** Moves every app of `from` units to `to` (rename with a new code, merge). */
export async function moveApps(trx: Db, from: readonly string[], to: string): Promise<AppRow[]> {
  if (from.length === 0) return [];
  return trx
    .updateTable('apps')
    .set({ unit_code: to, updated_at: sql<Date>`now()` })
    .where('unit_code', 'in', [...from])
    .returningAll()
    .execute();
}

/** Suspends the active apps of units that stopped operating. */
export async function suspendAppsOf(trx: Db, unitCodes: readonly string[]): Promise<AppRow[]> {
  if (unitCodes.length === 0) return [];
  return trx
    .updateTable('apps')
    .set({ status: 'suspended', updated_at: sql<Date>`now()` })
    .where('unit_code', 'in', [...unitCodes])
    .where('status', '=', 'active')
    .returningAll()
    .execute();
}

export async function listApps(
  db: Db,
  filter: { unitCode: string | undefined; includeInactive: boolean },
  offset: number,
  limit: number,
): Promise<AppRow[]> {
  let query = db.selectFrom('apps').selectAll();
  if (filter.unitCode !== undefined) query = query.where('unit_code', '=', filter.unitCode);
  if (!filter.includeInactive) query = query.where('status', '=', 'active');
  return query.orderBy('unit_code').orderBy('id').offset(offset).limit(limit).execute();
}
