import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readBatch } from '../src/consumers/usage.js';
import {
  ACCESS_KEY_ID,
  base32,
  newAccessKeyId,
  newHmacSecret,
  secretHint,
} from '../src/domain/access-keys.js';
import { parseRsaPublicKey } from '../src/domain/public-keys.js';
import { displayRoles, parseOperatorRoles } from '../src/domain/roles.js';
import { inScope } from '../src/domain/session-tokens.js';

describe('access keys and secrets', () => {
  it('makes 20-character ids of LGSP and base32', () => {
    const ids = new Set(Array.from({ length: 200 }, newAccessKeyId));
    expect(ids.size).toBe(200);
    for (const id of ids) {
      expect(id).toMatch(/^LGSP[A-Z2-7]{16}$/);
      expect(ACCESS_KEY_ID.test(id)).toBe(true);
    }
  });

  it('encodes base32 as RFC 4648 does', () => {
    expect(base32(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(base32(Buffer.from('f'))).toBe('MY');
  });

  it('makes 43-character base64url secrets and shows their last four characters only', () => {
    const secret = newHmacSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(secretHint(secret)).toBe(secret.slice(-4));
  });
});

describe('operator roles', () => {
  it('accepts admin, or unit_admin with its unit', () => {
    expect(parseOperatorRoles(['admin'])).toEqual({ ok: true, value: { roles: ['admin'], unitCode: null } });
    expect(parseOperatorRoles(['unit_admin:000.00.03.h26'])).toEqual({
      ok: true,
      value: { roles: ['unit_admin'], unitCode: '000.00.03.H26' },
    });
    expect(displayRoles(['unit_admin'], '000.00.03.H26')).toEqual(['unit_admin:000.00.03.H26']);
  });

  it.each([
    [[], 'REQUIRED'],
    [['unit_admin'], 'UNIT_REQUIRED'],
    [['unit_admin:3.H26'], 'UNIT_CODE_FORMAT'],
    [['root'], 'UNKNOWN_ROLE'],
    [['admin', 'unit_admin:000.00.03.H26'], 'ROLE_CONFLICT'],
    [['unit_admin:000.00.03.H26', 'unit_admin:000.00.04.H26'], 'ROLE_CONFLICT'],
  ])('refuses %j (%s)', (roles, reason) => {
    const parsed = parseOperatorRoles(roles);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems.map((p) => p.reason)).toContain(reason);
  });
});

describe('RSA public keys', () => {
  const pem = (bits: number, exponent = 65537) =>
    generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: exponent })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();

  it('accepts 2048-bit SPKI and PKCS#1 keys, fingerprinted over the SPKI DER', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = parseRsaPublicKey(publicKey.export({ format: 'pem', type: 'spki' }).toString());
    const pkcs1 = parseRsaPublicKey(publicKey.export({ format: 'pem', type: 'pkcs1' }).toString());
    expect(spki.ok && pkcs1.ok).toBe(true);
    if (spki.ok && pkcs1.ok) {
      expect(spki.key.bits).toBe(2048);
      expect(spki.key.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(pkcs1.key.fingerprint).toBe(spki.key.fingerprint);
    }
  });

  it.each([
    ['a 1024-bit key', () => pem(1024), 'KEY_TOO_SHORT'],
    ['exponent 3', () => pem(2048, 3), 'KEY_EXPONENT'],
    [
      'an EC key',
      () =>
        generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
          .publicKey.export({ format: 'pem', type: 'spki' })
          .toString(),
      'KEY_TYPE',
    ],
    [
      'garbage inside PEM armour',
      () => '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----',
      'PEM_FORMAT',
    ],
    ['no PEM at all', () => 'ssh-rsa AAAAB3NzaC1yc2E', 'PEM_FORMAT'],
    [
      'a private key',
      () =>
        generateKeyPairSync('rsa', { modulusLength: 2048 })
          .privateKey.export({ format: 'pem', type: 'pkcs8' })
          .toString(),
      'PEM_FORMAT',
    ],
    ['an empty string', () => '', 'REQUIRED'],
    ['17 KiB', () => `-----BEGIN PUBLIC KEY-----\n${'A'.repeat(17 * 1024)}`, 'TOO_LONG'],
  ])('refuses %s', (_what, make, reason) => {
    const parsed = parseRsaPublicKey(make());
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toBe(reason);
  });
});

describe('usage batches and scopes', () => {
  it('reads a JSON array of access key ids, dropping what is not one', () => {
    const id = newAccessKeyId();
    expect(readBatch(Buffer.from(JSON.stringify([id, id, 'nope'])))).toEqual([id]);
    expect(readBatch(Buffer.from('{"a":1}'))).toBeUndefined();
    expect(readBatch(Buffer.from('[1,2]'))).toBeUndefined();
    expect(readBatch(Buffer.from('not json'))).toBeUndefined();
  });

  it('limits a path to the token scopes, none meaning any', () => {
    expect(inScope([], '/anything')).toBe(true);
    expect(inScope(['/api/citizens/'], '/api/citizens/lookup')).toBe(true);
    expect(inScope(['/api/citizens/'], '/api/land/parcels')).toBe(false);
  });
});
