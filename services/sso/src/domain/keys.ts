/**
 * The provider's signing keys (RS256, 2048-bit RSA) and their rotation. A
 * new key is published `prepublish` before it signs, so applications that
 * cache the key set already know it; the key it replaces stays published for
 * `retain` after, so tokens it signed still verify. The private halves are
 * sealed under the master key, bound to their kid.
 */
import { generateKeyPair, type JsonWebKey as NodeJwk } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint } from 'jose';
import type { Kysely } from 'kysely';
import type { SecretBox } from '#lib/crypto/secret-box.js';
import { jsonb } from '#lib/db/jsonb.js';
import type { SsoDatabase } from '../db/schema.js';
import {
  deleteUnpublishedKeys,
  insertSigningKey,
  lockSigningKeys,
  publishedKeys,
  type SigningKeyRow,
  unpublishOlderKeys,
} from '../db/signing-keys.js';

const generate = promisify(generateKeyPair);

export interface RotationPolicy {
  readonly rotationMs: number;
  readonly prepublishMs: number;
  readonly retainMs: number;
}

export type PrivateJwk = NodeJwk & { kid: string; alg: string; use: string };

export interface KeySet {
  /** Private keys for the provider: the one that signs now first. */
  readonly keys: readonly PrivateJwk[];
  /** Changes whenever the keys or the signer change. */
  readonly fingerprint: string;
}

async function newKey(box: SecretBox, signFrom: Date, now: Date) {
  const { privateKey, publicKey } = await generate('rsa', { modulusLength: 2048 });
  const publicJwk = publicKey.export({ format: 'jwk' });
  const kid = await calculateJwkThumbprint(publicJwk as Parameters<typeof calculateJwkThumbprint>[0]);
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  return {
    kid,
    alg: 'RS256',
    private_jwk_sealed: box.seal(Buffer.from(JSON.stringify(privateJwk)), `sso-signing-key:${kid}`),
    public_jwk: jsonb<Record<string, unknown>>({ ...publicJwk, kid, alg: 'RS256', use: 'sig' }),
    created_at: now,
    sign_from: signFrom,
    unpublish_at: null,
  };
}

/**
 * Brings the keys up to date at `now`: a first key if there is none, the next
 * one when the signer is due for rotation, the replaced ones scheduled for
 * removal. Idempotent across replicas (serialised by an advisory lock).
 */
export async function rotateKeys(
  db: Kysely<SsoDatabase>,
  box: SecretBox,
  policy: RotationPolicy,
  now = new Date(),
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockSigningKeys(trx);
    await deleteUnpublishedKeys(trx, now);
    let keys = await publishedKeys(trx, now);
    let signer = keys.find((k) => k.sign_from <= now);
    if (signer === undefined) {
      await insertSigningKey(trx, await newKey(box, now, now));
      keys = await publishedKeys(trx, now);
      signer = keys.find((k) => k.sign_from <= now);
    }
    if (signer === undefined) return;
    await unpublishOlderKeys(trx, signer.sign_from, new Date(signer.sign_from.getTime() + policy.retainMs));
    const pending = keys.some((k) => k.sign_from > now);
    const due = signer.sign_from.getTime() + policy.rotationMs - policy.prepublishMs <= now.getTime();
    if (!pending && due) {
      const signFrom = new Date(Math.max(now.getTime() + policy.prepublishMs, now.getTime()));
      await insertSigningKey(trx, await newKey(box, signFrom, now));
    }
  });
}

/** The published keys opened, the current signer first. */
export async function loadKeySet(db: Kysely<SsoDatabase>, box: SecretBox, now = new Date()): Promise<KeySet> {
  const rows = await publishedKeys(db, now);
  const signerIndex = rows.findIndex((k) => k.sign_from <= now);
  const ordered: SigningKeyRow[] =
    signerIndex <= 0 ? rows : [rows[signerIndex]!, ...rows.filter((_, i) => i !== signerIndex)];
  const keys = ordered.map(
    (row) =>
      JSON.parse(
        box.open(row.private_jwk_sealed, `sso-signing-key:${row.kid}`).toString('utf8'),
      ) as PrivateJwk,
  );
  return { keys, fingerprint: ordered.map((k) => k.kid).join(',') };
}
