/** TOTP (RFC 6238) second factor: SHA-1, 6 digits, 30-second steps, one step of drift either way. */
import { Secret, TOTP } from 'otpauth';

const PERIOD = 30;

function totpOf(secretBase32: string, label = ''): TOTP {
  return new TOTP({
    issuer: 'LGSP SSO',
    label,
    algorithm: 'SHA1',
    digits: 6,
    period: PERIOD,
    secret: Secret.fromBase32(secretBase32),
  });
}

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

export function otpauthUri(secretBase32: string, username: string): string {
  return totpOf(secretBase32, username).toString();
}

/**
 * The time step of the code if it is valid now and later than `lastStep`
 * (a code is good once), else undefined.
 */
export function checkTotp(
  secretBase32: string,
  code: string,
  lastStep: number | null,
  now = Date.now(),
): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = totpOf(secretBase32).validate({ token: code, timestamp: now, window: 1 });
  if (delta === null) return undefined;
  const step = Math.floor(now / 1000 / PERIOD) + delta;
  if (lastStep !== null && step <= lastStep) return undefined;
  return step;
}

/** The current code, for tests and tools. */
export function currentTotp(secretBase32: string, now = Date.now()): string {
  return totpOf(secretBase32).generate({ timestamp: now });
}
