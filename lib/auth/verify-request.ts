/**
 * Checks one signed request against the key material of its access key:
 * shape, algorithm, key state, clock skew, signature, then the nonce (last,
 * so that a forged request cannot burn a genuine client's nonce). Used by the
 * gateway for every public call and by the auth service's VerifyAccess.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import {
  CredentialKind,
  type KeyMaterial,
  RefusalReason,
  SignatureAlgorithm,
} from '#gen/lgsp/auth/v1/resources_pb.js';
import type { NonceStore } from './nonces.js';
import { parseTimestamp, type SignedFacts, type SigningAlgorithm, stringToSign, verify } from './signing.js';

export interface VerifyPolicy {
  /** Largest accepted difference between the request's timestamp and the server clock. */
  readonly maxSkewMs: number;
  /** The platform-wide switch for HMAC-SHA1 (Art. 4.4 legacy systems). */
  readonly allowHmacSha1: boolean;
}

export type Verdict =
  | { readonly ok: true; readonly material: KeyMaterial; readonly skewMs: number }
  | {
      readonly ok: false;
      readonly reason: RefusalReason;
      /** Machine-readable reason for ErrorInfo, e.g. `BAD_SIGNATURE`. */
      readonly code: string;
      readonly message: string;
      readonly skewMs?: number;
    };

const ALGORITHMS: Record<SigningAlgorithm, SignatureAlgorithm> = {
  'HMAC-SHA256': SignatureAlgorithm.HMAC_SHA256,
  'HMAC-SHA1': SignatureAlgorithm.HMAC_SHA1,
  'RSA-SHA256': SignatureAlgorithm.RSA_SHA256,
};

export async function verifyRequest(input: {
  readonly facts: SignedFacts;
  readonly signature: string;
  /** Undefined when the key id is unknown. */
  readonly material: KeyMaterial | undefined;
  readonly nonces: NonceStore;
  readonly policy: VerifyPolicy;
  readonly now?: Date;
}): Promise<Verdict> {
  const { facts, material, policy } = input;
  const now = input.now ?? new Date();
  const refuse = (reason: RefusalReason, message: string, skewMs?: number): Verdict => ({
    ok: false,
    reason,
    code: RefusalReason[reason],
    message,
    ...(skewMs === undefined ? {} : { skewMs }),
  });

  if (material === undefined)
    return refuse(RefusalReason.UNKNOWN_KEY, `unknown access key ${facts.accessKeyId}`);
  if (material.expireTime !== undefined && timestampDate(material.expireTime).getTime() <= now.getTime()) {
    return refuse(RefusalReason.KEY_EXPIRED, `access key ${facts.accessKeyId} has expired`);
  }
  const algorithm = ALGORITHMS[facts.algorithm];
  if (facts.algorithm === 'HMAC-SHA1' && !policy.allowHmacSha1) {
    return refuse(
      RefusalReason.ALGORITHM_NOT_ALLOWED,
      'HMAC-SHA1 is switched off on this platform; use HMAC-SHA256',
    );
  }
  if (!material.algorithms.includes(algorithm)) {
    return refuse(
      RefusalReason.ALGORITHM_NOT_ALLOWED,
      `access key ${facts.accessKeyId} may not sign with ${facts.algorithm}`,
    );
  }
  const signedAt = parseTimestamp(facts.timestamp);
  if (signedAt === undefined)
    return refuse(RefusalReason.MALFORMED, 'the timestamp is not a UTC time like 2026-01-31T08:30:00Z');
  const skewMs = signedAt.getTime() - now.getTime();
  if (Math.abs(skewMs) > policy.maxSkewMs) {
    return refuse(
      RefusalReason.CLOCK_SKEW,
      `the request is signed ${Math.round(skewMs / 1000)} s from the server's time; at most ${policy.maxSkewMs / 1000} s is accepted`,
      skewMs,
    );
  }
  const key =
    material.kind === CredentialKind.RSA_PUBLIC_KEY
      ? { kind: 'rsa' as const, publicKey: publicKeyOf(material) }
      : { kind: 'hmac' as const, secret: material.hmacSecret };
  if (!verify(facts.algorithm, key, stringToSign(facts), input.signature)) {
    return refuse(RefusalReason.BAD_SIGNATURE, 'the signature does not match the request');
  }
  if (!(await input.nonces.claim(facts.accessKeyId, facts.nonce))) {
    return refuse(RefusalReason.NONCE_REPLAYED, `nonce ${facts.nonce} was already used with this key`);
  }
  return { ok: true, material, skewMs };
}

/** Parsing a DER key per request would cost more than the check itself; cached material keeps its parsed key. */
const parsedKeys = new WeakMap<KeyMaterial, KeyObject>();

function publicKeyOf(material: KeyMaterial): KeyObject {
  let key = parsedKeys.get(material);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.from(material.publicKeyDer), format: 'der', type: 'spki' });
    parsedKeys.set(material, key);
  }
  return key;
}
