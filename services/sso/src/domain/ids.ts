/** Ids the sso service issues: a prefix and 16 random hex digits, like the other services'. */
import { randomBytes } from 'node:crypto';

export const newUserId = (): string => `usr_${randomBytes(8).toString('hex')}`;

/** A client id names the relying party's unit-free slug and a random tail: `rp_<slug>_<8 hex>`. */
export function newClientId(name: string): string {
  const slug = name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/[đĐ]/g, 'd')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 24);
  return `rp_${slug === '' ? 'app' : slug}_${randomBytes(4).toString('hex')}`;
}

/** A client secret: 32 random bytes, base64url without padding. */
export const newClientSecret = (): string => randomBytes(32).toString('base64url');
