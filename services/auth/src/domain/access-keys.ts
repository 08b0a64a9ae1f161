/**
 * Access key ids (khóa truy xuất) and HMAC secrets (khóa bí mật), Art. 10.
 *
 * An access key id is `LGSP` and 16 characters of base32 (A-Z, 2-7): 80
 * random bits, 20 characters, safe in headers, URLs and file names. A secret
 * is 32 random bytes as base64url (43 characters); the HMAC key is the UTF-8
 * bytes of that string, so a shell user signs with
 * `openssl dgst -sha256 -hmac "$SECRET"`.
 */
import { randomBytes } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const ACCESS_KEY_ID = /^LGSP[A-Z2-7]{16}$/;

export function newAccessKeyId(): string {
  return `LGSP${base32(randomBytes(10))}`;
}

export function newHmacSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The key an HMAC is computed with: the secret string's UTF-8 bytes. */
export function hmacKeyOf(secret: string): Buffer {
  return Buffer.from(secret, 'utf8');
}

/** Last four characters, to tell credentials apart without revealing the secret. */
export function secretHint(secret: string): string {
  return secret.slice(-4);
}

/** RFC 4648 base32 without padding. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}
