/**
 * The storage of oidc-provider in Postgres: one row per model and id in
 * `oidc_payloads`, with the columns its lookups need (grant, session uid,
 * user code, account) and the expiry. Relying parties are not stored here:
 * the `Client` model reads `relying_parties`, which the SSO API manages.
 *
 * The adapter contract (find, upsert, consume, destroy, findByUid,
 * findByUserCode, revokeByGrantId) is oidc-provider's; expired rows are
 * never returned and are deleted by `sweepExpiredPayloads`.
 */

import { type Kysely, sql } from 'kysely';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { jsonb } from '#lib/db/jsonb.js';
import type { SsoDatabase } from './schema.js';

type Db = Kysely<SsoDatabase>;

/** Models whose rows belong to a grant, removed together when the grant is revoked. */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'Grant',
]);

export interface ClientSource {
  /** The client metadata oidc-provider expects, or undefined for an unknown or disabled client. */
  find(clientId: string): Promise<AdapterPayload | undefined>;
}

export function createAdapterFactory(db: Db, clients: ClientSource): (model: string) => Adapter {
  return (model) => (model === 'Client' ? clientAdapter(clients) : new PostgresAdapter(db, model));
}

class PostgresAdapter implements Adapter {
  constructor(
    private readonly db: Db,
    private readonly model: string,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const expiresAt = expiresIn > 0 ? new Date(Date.now() + expiresIn * 1000) : null;
    const row = {
      model: this.model,
      id,
      payload: jsonb(payload as Record<string, unknown>),
      grant_id: GRANTABLE.has(this.model) ? (payload.grantId ?? (this.model === 'Grant' ? id : null)) : null,
      uid: payload.uid ?? null,
      user_code: payload.userCode ?? null,
      account_id: payload.accountId ?? null,
      expires_at: expiresAt,
    };
    await this.db
      .insertInto('oidc_payloads')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['model', 'id']).doUpdateSet({
          payload: row.payload,
          grant_id: row.grant_id,
          uid: row.uid,
          user_code: row.user_code,
          account_id: row.account_id,
          expires_at: row.expires_at,
        }),
      )
      .execute();
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.#findWhere('id', id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#findWhere('uid', uid);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#findWhere('user_code', userCode);
  }

  async #findWhere(column: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
    const row = await this.db
      .selectFrom('oidc_payloads')
      .select(['payload', 'consumed_at'])
      .where('model', '=', this.model)
      .where(column, '=', value)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]))
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const payload = row.payload as AdapterPayload;
    if (row.consumed_at !== null) payload.consumed = Math.floor(row.consumed_at.getTime() / 1000);
    return payload;
  }

  async consume(id: string): Promise<void> {
    await this.db
      .updateTable('oidc_payloads')
      .set({ consumed_at: new Date() })
      .where('model', '=', this.model)
      .where('id', '=', id)
      .execute();
  }

  async destroy(id: string): Promise<void> {
    await this.db.deleteFrom('oidc_payloads').where('model', '=', this.model).where('id', '=', id).execute();
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).execute();
  }
}

function clientAdapter(clients: ClientSource): Adapter {
  const readOnly = async () => {
    throw new Error('relying parties are managed through the SSO API, not by the provider');
  };
  return {
    find: (id) => clients.find(id),
    upsert: readOnly,
    consume: readOnly,
    destroy: readOnly,
    revokeByGrantId: readOnly,
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
  };
}

/** Deletes rows past their expiry; run periodically by one replica at a time (any may). */
export async function sweepExpiredPayloads(db: Db, now = new Date()): Promise<number> {
  const result = await db
    .deleteFrom('oidc_payloads')
    .where('expires_at', '<', sql<Date>`${now}::timestamptz - interval '1 minute'`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Ends every login session and revokes every grant of an account (locked,
 * disabled or reset by an administrator): its tokens stop working at once.
 * Returns the sessions' payloads, so the caller can notify the applications.
 */
export async function endAccountSessions(db: Db, accountId: string): Promise<AdapterPayload[]> {
  return db.transaction().execute(async (trx) => {
    const grants = await trx
      .selectFrom('oidc_payloads')
      .select('id')
      .where('model', '=', 'Grant')
      .where('account_id', '=', accountId)
      .execute();
    const sessions = await trx
      .deleteFrom('oidc_payloads')
      .where('model', '=', 'Session')
      .where('account_id', '=', accountId)
      .returning('payload')
      .execute();
    const grantIds = grants.map((g) => g.id);
    if (grantIds.length > 0)
      await trx.deleteFrom('oidc_payloads').where('grant_id', 'in', grantIds).execute();
    return sessions.map((s) => s.payload as AdapterPayload);
  });
}
