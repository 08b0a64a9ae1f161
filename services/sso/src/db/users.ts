/** Queries on users. Store functions take `db` or a transaction first; the handler owns the transaction. */
import type { Kysely, Selectable, Updateable } from 'kysely';
import { sql } from 'kysely';
import { jsonb } from '#lib/db/jsonb.js';
import { foldText } from '../domain/text.js';
import type { SsoDatabase, UserStatusName, UserTable } from './schema.js';

type Db = Kysely<SsoDatabase>;
export type UserRow = Selectable<UserTable>;

export interface NewUser {
  readonly id: string;
  readonly username: string;
  readonly fullName: string;
  readonly email: string;
  readonly phone: string;
  readonly unitCode: string;
  readonly roles: readonly string[];
  readonly passwordHash: string;
}

export function searchTextOf(username: string, fullName: string): string {
  return foldText(`${username} ${fullName}`);
}

export async function insertUser(db: Db, user: NewUser): Promise<UserRow | undefined> {
  return db
    .insertInto('users')
    .values({
      id: user.id,
      username: user.username,
      full_name: user.fullName,
      email: user.email,
      phone: user.phone,
      unit_code: user.unitCode,
      roles: jsonb([...user.roles]),
      status: 'active',
      search_text: searchTextOf(user.username, user.fullName),
      password_hash: user.passwordHash,
      password_change_required: true,
    })
    .onConflict((oc) => oc.column('username').doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findUserByUsername(db: Db, username: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
}

/** The row, locked for update until the transaction ends. */
export async function lockUser(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function updateUser(
  db: Db,
  id: string,
  changes: Omit<Updateable<UserTable>, 'roles'> & { roles?: readonly string[] },
): Promise<UserRow> {
  const { roles, ...rest } = changes;
  return db
    .updateTable('users')
    .set({ ...rest, ...(roles === undefined ? {} : { roles: jsonb([...roles]) }), updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface UserFilter {
  readonly unitCodes?: readonly string[];
  readonly unitPrefixes?: readonly string[];
  readonly words: readonly string[];
  readonly role?: string;
  readonly status?: UserStatusName;
  readonly offset: number;
  readonly limit: number;
}

export async function listUsers(db: Db, filter: UserFilter): Promise<UserRow[]> {
  let query = db.selectFrom('users').selectAll();
  if (filter.unitCodes !== undefined) {
    const codes = filter.unitCodes;
    if (codes.length === 0) return [];
    query = query.where('unit_code', 'in', codes);
  }
  for (const word of filter.words) query = query.where('search_text', 'like', `%${escapeLike(word)}%`);
  if (filter.role !== undefined) query = query.where(sql<boolean>`roles ? ${filter.role}`);
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  return query.orderBy('username').offset(filter.offset).limit(filter.limit).execute();
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The account as a login sees it: usable now, or why not. */
export type AccountState = 'active' | 'locked' | 'disabled';

export function accountState(row: UserRow, now = new Date()): AccountState {
  if (row.status === 'disabled') return 'disabled';
  if (row.status === 'locked') {
    // A lockout by failed logins opens by itself; one set by an administrator has no end.
    if (row.locked_until !== null && row.locked_until <= now) return 'active';
    return 'locked';
  }
  return 'active';
}
