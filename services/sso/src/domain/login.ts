/**
 * Checking a login: the password (Argon2id), the account's state, and the
 * lockout after `maxFailedLogins` failures in a row. A lockout opens by itself
 * after `lockoutMs`; one set by an administrator has no end. An unknown
 * username costs the same hash as a known one, and gets the same answer as a
 * wrong password.
 */
import { type Kysely, sql } from 'kysely';
import type { SsoDatabase } from '../db/schema.js';
import { accountState, findUserByUsername, type UserRow } from '../db/users.js';
import { decoyHash, verifyPassword } from './passwords.js';

export interface LockoutPolicy {
  readonly maxFailedLogins: number;
  readonly lockoutMs: number;
}

export type LoginOutcome =
  | { readonly ok: true; readonly user: UserRow }
  | { readonly ok: false; readonly reason: 'invalid' | 'locked' | 'disabled'; readonly user?: UserRow };

export async function checkPassword(
  db: Kysely<SsoDatabase>,
  username: string,
  password: string,
  policy: LockoutPolicy,
  now = new Date(),
): Promise<LoginOutcome> {
  const user = await findUserByUsername(db, username.trim().toLowerCase());
  if (user === undefined) {
    await verifyPassword(await decoyHash(), password);
    return { ok: false, reason: 'invalid' };
  }
  const state = accountState(user, now);
  if (state === 'locked') return { ok: false, reason: 'locked', user };
  if (!(await verifyPassword(user.password_hash, password))) {
    if (state === 'disabled') return { ok: false, reason: 'invalid', user };
    const locked = await recordFailure(db, user.id, policy, now);
    return { ok: false, reason: locked ? 'locked' : 'invalid', user };
  }
  if (state === 'disabled') return { ok: false, reason: 'disabled', user };
  return { ok: true, user };
}

/** Counts one failed login (a wrong password or TOTP code); true when it locked the account. */
export async function recordFailure(
  db: Kysely<SsoDatabase>,
  userId: string,
  policy: LockoutPolicy,
  now = new Date(),
): Promise<boolean> {
  const row = await db
    .updateTable('users')
    .set({
      failed_logins: sql`failed_logins + 1`,
      status: sql`case when failed_logins + 1 >= ${policy.maxFailedLogins} then 'locked' else status end`,
      locked_until: sql`case when failed_logins + 1 >= ${policy.maxFailedLogins} then ${new Date(now.getTime() + policy.lockoutMs)}::timestamptz else locked_until end`,
      updated_at: now,
    })
    .where('id', '=', userId)
    .where('status', '!=', 'disabled')
    .returning(['status'])
    .executeTakeFirst();
  return row?.status === 'locked';
}

/** A completed login: the failure count starts again, an expired lockout is lifted. */
export async function recordSuccess(
  db: Kysely<SsoDatabase>,
  userId: string,
  now = new Date(),
): Promise<void> {
  await db
    .updateTable('users')
    .set({
      failed_logins: 0,
      status: sql`case when status = 'locked' and locked_until <= ${now}::timestamptz then 'active' else status end`,
      locked_until: sql`case when status = 'locked' and locked_until <= ${now}::timestamptz then null else locked_until end`,
      last_login_at: now,
      updated_at: now,
    })
    .where('id', '=', userId)
    .execute();
}
