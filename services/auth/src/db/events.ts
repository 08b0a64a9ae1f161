/**
 * Credential events, written to the outbox in the transaction of the change
 * they announce, on `<prefix>.auth.credential.<kind>` (e.g.
 * `LGSP.auth.credential.revoked`), stream `<prefix>_AUTH`.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Kysely } from 'kysely';
import { CredentialEventKind, CredentialEventSchema } from '#gen/lgsp/auth/v1/resources_pb.js';
import { enqueueEvent } from '#lib/db/outbox.js';
import { subjectOf } from '#lib/infra.js';
import { type CredentialRow, ownerOf } from './rows.js';
import type { AuthDatabase } from './schema.js';

export const authSubjects = (prefix: string) => ({
  /** Every credential event; `credential.<kind>` for one kind. */
  credential: (kind: CredentialEventKind) =>
    subjectOf(prefix, 'auth', 'credential', CredentialEventKind[kind].toLowerCase()),
  credentials: subjectOf(prefix, 'auth', 'credential', '>'),
  /** Broadcast (not stored): an access key id whose cached material every verifier must drop now. */
  revoked: subjectOf(prefix, 'auth', 'revoked'),
  /** Broadcast by the gateways: a JSON array of access key ids that signed accepted requests. */
  used: subjectOf(prefix, 'auth', 'used'),
});

export async function emitCredentialEvent(
  trx: Kysely<AuthDatabase>,
  prefix: string,
  kind: CredentialEventKind,
  row: CredentialRow,
  details: { actor?: string; reason?: string; replacedBy?: string; at?: Date } = {},
): Promise<void> {
  const event = create(CredentialEventSchema, {
    kind,
    accessKeyId: row.access_key_id,
    owner: ownerOf(row),
    version: BigInt(row.version),
    replacedBy: details.replacedBy ?? '',
    ...(row.expires_at === null ? {} : { expireTime: timestampFromDate(row.expires_at) }),
    occurTime: timestampFromDate(details.at ?? new Date()),
    actor: details.actor ?? '',
    reason: details.reason ?? '',
  });
  await enqueueEvent(trx, {
    subject: authSubjects(prefix).credential(kind),
    payload: toBinary(CredentialEventSchema, event),
  });
}
