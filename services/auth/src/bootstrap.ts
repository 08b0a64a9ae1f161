/**
 * The first administrator. A new platform has no credential to sign the
 * calls that create credentials, so the first operator credential with the
 * `admin` role is created here, directly in the database: by the
 * `create-admin` command (bin/create-admin.ts), or by the embedded mode at
 * start. It is created only when no active administrator credential exists,
 * under an advisory lock, so concurrent runs create one at most.
 */

import { type Kysely, sql } from 'kysely';
import { CredentialEventKind } from '#gen/lgsp/auth/v1/resources_pb.js';
import type { SecretBox } from '#lib/crypto/secret-box.js';
import { ADMIN_ROLE } from '#lib/rpc/caller.js';
import type { AuthConfig } from './config.js';
import { hasActiveAdmin, insertCredential } from './db/credentials.js';
import { emitCredentialEvent } from './db/events.js';
import type { AuthDatabase } from './db/schema.js';
import { newHmacCredential } from './domain/new-credentials.js';

const OPERATOR_NAME = /^[a-z0-9._-]{3,64}$/;
export const BOOTSTRAP_ACTOR = 'bootstrap';

export interface BootstrapDeps {
  readonly db: Kysely<AuthDatabase>;
  readonly secretBox: SecretBox;
  readonly config: Pick<AuthConfig, 'busPrefix'>;
  /** Publishes the CREATED event soon; without it, a running auth service's relay publishes it. */
  readonly outbox?: { wake(): void };
}

export interface FirstAdmin {
  readonly accessKeyId: string;
  /** Shown once: print it, hand it over, never log it. */
  readonly secret: string;
}

/**
 * Creates an operator credential `name` with the admin role, unless an active
 * administrator credential exists (then: undefined). `forceNew` creates one
 * anyway, e.g. when every administrator secret was lost.
 */
export async function ensureFirstAdmin(
  ctx: BootstrapDeps,
  name: string,
  options: { readonly forceNew?: boolean } = {},
): Promise<FirstAdmin | undefined> {
  if (!OPERATOR_NAME.test(name)) {
    throw new Error(`operator name "${name}" must be 3 to 64 characters of a-z, 0-9, ".", "_" or "-"`);
  }
  const created = await ctx.db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext('lgsp.auth.first_admin'))`.execute(trx);
    if (!options.forceNew && (await hasActiveAdmin(trx, new Date()))) return undefined;
    const { values, secret } = newHmacCredential(
      ctx.secretBox,
      {
        owner: { operatorName: name },
        unitCode: null,
        roles: [ADMIN_ROLE],
        label: 'first administrator',
        rotatedFrom: null,
        createdBy: BOOTSTRAP_ACTOR,
        expiresAt: null,
      },
      false,
    );
    const row = await insertCredential(trx, values);
    await emitCredentialEvent(trx, ctx.config.busPrefix, CredentialEventKind.CREATED, row, {
      actor: BOOTSTRAP_ACTOR,
    });
    return { accessKeyId: row.access_key_id, secret };
  });
  if (created !== undefined) ctx.outbox?.wake();
  return created;
}
