/** The SSO service's pure rules: URIs, TOTP, passwords, ids, folding, account states. */
import { describe, expect, it } from 'vitest';
import { Violations } from '#lib/errors.js';
import type { UserRow } from '../src/db/users.js';
import { accountState } from '../src/db/users.js';
import { newClientId } from '../src/domain/ids.js';
import { hashPassword, oneTimePassword, passwordProblem, verifyPassword } from '../src/domain/passwords.js';
import { foldText } from '../src/domain/text.js';
import { checkTotp, currentTotp, newTotpSecret } from '../src/domain/totp.js';
import { checkUri } from '../src/domain/uris.js';

function uriProblems(uri: string, insecure = false): string[] {
  const violations = new Violations();
  checkUri(uri, 'uri', insecure, violations);
  try {
    violations.throwIfAny();
    return [];
  } catch (error) {
    return (error as { violations: { reason: string }[] }).violations.map((v) => v.reason);
  }
}

describe('redirect URIs', () => {
  it('accepts https, and http on loopback only when insecure local URIs are allowed', () => {
    expect(uriProblems('https://qlvb.stc.example.gov.vn/cb')).toEqual([]);
    expect(uriProblems('http://127.0.0.1:3000/cb')).toEqual(['URI_SCHEME']);
    expect(uriProblems('http://127.0.0.1:3000/cb', true)).toEqual([]);
    expect(uriProblems('http://10.0.0.5/cb', true)).toEqual(['URI_SCHEME']);
  });
  it('refuses fragments, credentials, wildcards and what is not a URL', () => {
    expect(uriProblems('https://a.example/cb#x')).toEqual(['URI_FRAGMENT']);
    expect(uriProblems('https://u:p@a.example/cb')).toEqual(['URI_CREDENTIALS']);
    expect(uriProblems('https://*.example/cb')).toContain('URI_WILDCARD');
    expect(uriProblems('/relative')).toEqual(['URI_FORMAT']);
    expect(uriProblems('javascript:alert(1)')).toEqual(['URI_SCHEME']);
  });
});

describe('TOTP', () => {
  it('accepts the current code and its neighbours, each once', () => {
    const secret = newTotpSecret();
    const now = Date.UTC(2026, 10, 24, 8, 30, 0);
    const step = checkTotp(secret, currentTotp(secret, now), null, now);
    expect(step).toBe(Math.floor(now / 30_000));
    expect(checkTotp(secret, currentTotp(secret, now), step!, now)).toBeUndefined();
    expect(checkTotp(secret, currentTotp(secret, now - 30_000), null, now)).toBe(step! - 1);
    expect(checkTotp(secret, currentTotp(secret, now - 90_000), null, now)).toBeUndefined();
    expect(checkTotp(secret, '12345', null, now)).toBeUndefined();
  });
});

describe('passwords', () => {
  it('hashes with Argon2id and verifies', async () => {
    const hash = await hashPassword('Mat-khau-rat-dai-1');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(hash, 'Mat-khau-rat-dai-1')).toBe(true);
    expect(await verifyPassword(hash, 'mat-khau-rat-dai-1')).toBe(false);
    expect(await verifyPassword('not a hash', 'x')).toBe(false);
  });
  it('gives 16-character one-time passwords without look-alikes, and checks new ones', () => {
    const otp = oneTimePassword();
    expect(otp).toMatch(/^[A-HJ-NP-Za-km-z2-9]{16}$/);
    expect(passwordProblem('short', { username: 'abc' })).toBe('password_too_short');
    expect(passwordProblem('xx-nguyenvana.stc-xx', { username: 'nguyenvana.stc' })).toBe(
      'password_is_username',
    );
    expect(passwordProblem('Mat-khau-rat-dai-1', { username: 'abc' })).toBeUndefined();
  });
});

describe('names', () => {
  it('folds Vietnamese for search and slugs client ids', () => {
    expect(foldText('  Nguyễn  Văn Đức ')).toBe('nguyen van duc');
    expect(newClientId('Quản lý văn bản Sở Tài chính')).toMatch(/^rp_quan_ly_van_ban_so_tai_c_[0-9a-f]{8}$/);
    expect(newClientId('!!!')).toMatch(/^rp_app_[0-9a-f]{8}$/);
  });
});

describe('account states', () => {
  const row = (status: UserRow['status'], lockedUntil: Date | null) =>
    ({ status, locked_until: lockedUntil }) as UserRow;
  it('opens a lockout by failed logins when it runs out, never an administrator lock', () => {
    const now = new Date();
    expect(accountState(row('locked', new Date(now.getTime() + 1000)), now)).toBe('locked');
    expect(accountState(row('locked', new Date(now.getTime() - 1000)), now)).toBe('active');
    expect(accountState(row('locked', null), now)).toBe('locked');
    expect(accountState(row('disabled', null), now)).toBe('disabled');
  });
});
