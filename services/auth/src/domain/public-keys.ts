/**
 * RSA public keys registered by agencies (Art. 4.4): SPKI or PKCS#1 PEM,
 * modulus at least 2048 bits, public exponent 65537. Stored as SPKI DER,
 * identified by the SHA-256 of that DER.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';

export const MAX_PEM_BYTES = 16 * 1024;
export const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 16384;

export interface RsaPublicKey {
  readonly der: Buffer;
  /** Lower-case hex SHA-256 of the DER. */
  readonly fingerprint: string;
  readonly bits: number;
}

export type ParsedPublicKey =
  | { readonly ok: true; readonly key: RsaPublicKey }
  | { readonly ok: false; readonly reason: string; readonly problem: string };

export function parseRsaPublicKey(pem: string): ParsedPublicKey {
  const text = pem.trim();
  const refuse = (reason: string, problem: string): ParsedPublicKey => ({ ok: false, reason, problem });
  if (text === '') return refuse('REQUIRED', 'is required');
  if (Buffer.byteLength(text) > MAX_PEM_BYTES)
    return refuse('TOO_LONG', `must be at most ${MAX_PEM_BYTES} bytes`);
  const spki = text.startsWith('-----BEGIN PUBLIC KEY-----');
  const pkcs1 = text.startsWith('-----BEGIN RSA PUBLIC KEY-----');
  if (!spki && !pkcs1) {
    return refuse('PEM_FORMAT', 'must be a PEM public key ("BEGIN PUBLIC KEY" or "BEGIN RSA PUBLIC KEY")');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem', ...(pkcs1 ? { type: 'pkcs1' as const } : {}) });
  } catch {
    return refuse('PEM_FORMAT', 'is not a readable PEM public key');
  }
  if (key.asymmetricKeyType !== 'rsa') {
    return refuse('KEY_TYPE', `must be an RSA key, got ${key.asymmetricKeyType ?? 'an unknown type'}`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS)
    return refuse('KEY_TOO_SHORT', `must have at least ${MIN_RSA_BITS} bits, has ${bits}`);
  if (bits > MAX_RSA_BITS) return refuse('KEY_TOO_LONG', `must have at most ${MAX_RSA_BITS} bits`);
  if (key.asymmetricKeyDetails?.publicExponent !== 65537n) {
    return refuse('KEY_EXPONENT', 'must have the public exponent 65537');
  }
  const der = key.export({ format: 'der', type: 'spki' });
  return { ok: true, key: { der, fingerprint: createHash('sha256').update(der).digest('hex'), bits } };
}

/** SPKI PEM of a stored DER key, as the API shows it. */
export function toPem(der: Uint8Array): string {
  return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' })
    .export({ format: 'pem', type: 'spki' })
    .toString();
}
