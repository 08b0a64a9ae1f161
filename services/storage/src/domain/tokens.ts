/**
 * Upload and download tokens: 32 random bytes, base64url, shown once. Only
 * their SHA-256 is stored, so a copy of the database opens no transfer space.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function newToken(): { token: string; sha256: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, sha256: tokenDigest(token) };
}

export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** True when `token` has the shape of a token (checked before any lookup). */
export function looksLikeToken(token: string): boolean {
  return TOKEN.test(token);
}

/** Constant-time comparison of a presented token with a stored digest. */
export function tokenMatches(token: string, stored: Uint8Array | null): boolean {
  if (stored === null || !looksLikeToken(token)) return false;
  const presented = tokenDigest(token);
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
