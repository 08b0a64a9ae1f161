/**
 * The platform's ES256 keys for session tokens. A key is created on first
 * use, signs for 30 days, and then stays published in the JWKS until every
 * token it signed has expired. Private keys are stored sealed with the master
 * key; every replica signs with the same current key and verifies with all.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, errors, importJWK, type JWTVerifyGetKey } from 'jose';
import type { Kysely } from 'kysely';
import type { SecretBox } from '#lib/crypto/secret-box.js';
import { MAX_SESSION_TOKEN_TTL_SECONDS } from '../config.js';
import type { AuthDatabase, PublicJwk } from '../db/schema.js';
import * as store from '../db/signing-keys.js';

export const SIGNING_PERIOD_MS = 30 * 24 * 3600_000;
/** Room for clock differences between the issuer and verifiers. */
const MARGIN_MS = 5 * 60_000;
const REFRESH_MS = 60_000;
const MISS_REFRESH_MS = 5_000;

export interface Signer {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly retireAfter: Date;
}

export interface SessionKeys {
  /** The key to sign with now, created if there is none. */
  signer(): Promise<Signer>;
  /** The JWKS document: every public key whose tokens may still be valid. */
  jwks(): Promise<{ keys: PublicJwk[] }>;
  /** Key resolver for jose's jwtVerify. */
  readonly resolve: JWTVerifyGetKey;
}

export function createSessionKeys(db: Kysely<AuthDatabase>, box: SecretBox): SessionKeys {
  let current: Signer | undefined;
  let creating: Promise<Signer> | undefined;
  let published: { at: number; keys: PublicJwk[] } | undefined;
  const imported = new Map<string, ReturnType<typeof importJWK>>();

  const open = (row: store.SigningKeyRow): Signer => ({
    kid: row.kid,
    privateKey: createPrivateKey({
      key: JSON.parse(
        box.open(row.private_jwk_ciphertext, row.kid).toString('utf8'),
      ) as import('node:crypto').JsonWebKey,
      format: 'jwk',
    }),
    retireAfter: row.retire_after,
  });

  const obtain = async (): Promise<Signer> => {
    const now = new Date();
    const existing = await store.currentSigningKey(db, now);
    if (existing !== undefined) return open(existing);
    const row = await db.transaction().execute(async (trx) => {
      await store.lockSigningKeys(trx);
      const raced = await store.currentSigningKey(trx, now);
      if (raced !== undefined) return raced;
      await store.retireSigningKeys(trx, now);
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const pub = publicKey.export({ format: 'jwk' });
      const base = { kty: pub.kty ?? 'EC', crv: pub.crv ?? 'P-256', x: pub.x ?? '', y: pub.y ?? '' };
      const kid = await calculateJwkThumbprint(base);
      const privateJwk = Buffer.from(JSON.stringify(privateKey.export({ format: 'jwk' })), 'utf8');
      return store.insertSigningKey(trx, {
        kid,
        privateJwkCiphertext: box.seal(privateJwk, kid),
        publicJwk: { ...base, kid, alg: 'ES256', use: 'sig' },
        retireAfter: new Date(now.getTime() + SIGNING_PERIOD_MS),
      });
    });
    published = undefined;
    return open(row);
  };

  const publicKeys = async (force: boolean): Promise<PublicJwk[]> => {
    const now = Date.now();
    const age = published === undefined ? Number.POSITIVE_INFINITY : now - published.at;
    if (published === undefined || age > REFRESH_MS || (force && age > MISS_REFRESH_MS)) {
      const signedSince = new Date(now - MAX_SESSION_TOKEN_TTL_SECONDS * 1000 - MARGIN_MS);
      published = { at: now, keys: await store.verificationKeys(db, signedSince) };
    }
    return published.keys;
  };

  return {
    async signer() {
      if (current !== undefined && current.retireAfter.getTime() > Date.now()) return current;
      creating ??= obtain().finally(() => {
        creating = undefined;
      });
      current = await creating;
      return current;
    },

    async jwks() {
      return { keys: await publicKeys(false) };
    },

    async resolve(header) {
      const kid = header.kid;
      if (header.alg !== 'ES256' || kid === undefined) throw new errors.JWKSNoMatchingKey();
      let jwk = (await publicKeys(false)).find((k) => k.kid === kid);
      jwk ??= (await publicKeys(true)).find((k) => k.kid === kid);
      if (jwk === undefined) throw new errors.JWKSNoMatchingKey();
      let key = imported.get(kid);
      if (key === undefined) {
        key = importJWK({ ...jwk }, 'ES256');
        imported.set(kid, key);
      }
      return key;
    },
  };
}
