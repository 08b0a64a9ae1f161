/** Queries on grants. */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { GrantRow } from './rows.js';
import type { GrantActionName, RegistryDatabase } from './schema.js';

type Db = Kysely<RegistryDatabase>;

export interface NewGrantRow {
  readonly subjectUnitCode: string | null;
  readonly subjectAppId: string | null;
  readonly objectUnitCode: string | null;
  readonly objectAppId: string | null;
  readonly objectAny: boolean;
  readonly action: GrantActionName;
  readonly expiresAt: Date | null;
  readonly note: string;
  readonly createdBy: string;
}

export async function insertGrant(trx: Db, grant: NewGrantRow): Promise<GrantRow> {
  return trx
    .insertInto('grants')
    .values({
      id: `grt_${randomBytes(8).toString('hex')}`,
      subject_unit_code: grant.subjectUnitCode,
      subject_app_id: grant.subjectAppId,
      object_unit_code: grant.objectUnitCode,
      object_app_id: grant.objectAppId,
      object_any: grant.objectAny,
      action: grant.action,
      expires_at: grant.expiresAt,
      note: grant.note,
      created_by: grant.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteGrant(trx: Db, id: string): Promise<GrantRow | undefined> {
  return trx.deleteFrom('grants').where('id', '=', id).returningAll().executeTakeFirst();
}

export async function listGrants(
  db: Db,
  filter: {
    subjectUnitCode?: string;
    subjectAppId?: string;
    subjectAppUnitCode?: string;
    action?: GrantActionName;
  },
  offset: number,
  limit: number,
): Promise<GrantRow[]> {
  let query = db.selectFrom('grants').selectAll();
  if (filter.subjectUnitCode !== undefined)
    query = query.where('subject_unit_code', '=', filter.subjectUnitCode);
  if (filter.subjectAppId !== undefined) {
    const { subjectAppId, subjectAppUnitCode } = filter;
    query = query.where((eb) =>
      eb.or([
        eb('subject_app_id', '=', subjectAppId),
        ...(subjectAppUnitCode === undefined ? [] : [eb('subject_unit_code', '=', subjectAppUnitCode)]),
      ]),
    );
  }
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  return query.orderBy('created_at').orderBy('id').offset(offset).limit(limit).execute();
}

/**
 * The unexpired grants of `action` whose subject is the app or its unit:
 * the candidates for every object check of one request.
 */
export async function grantsHeldBy(
  db: Db,
  app: { id: string; unitCode: string },
  action: GrantActionName,
  now: Date,
): Promise<GrantRow[]> {
  return db
    .selectFrom('grants')
    .selectAll()
    .where('action', '=', action)
    .where((eb) => eb.or([eb('subject_app_id', '=', app.id), eb('subject_unit_code', '=', app.unitCode)]))
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('id')
    .execute();
}

/** The first held grant that covers the object (a unit, or an app of a unit), if any. */
export function coveringGrant(
  held: readonly GrantRow[],
  object: { unitCode: string; appId?: string },
): GrantRow | undefined {
  return held.find(
    (g) =>
      g.object_any ||
      g.object_unit_code === object.unitCode ||
      (object.appId !== undefined && g.object_app_id === object.appId),
  );
}
