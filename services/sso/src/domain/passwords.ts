/**
 * Passwords are hashed with Argon2id (RFC 9106) at OWASP's recommended
 * minimum: 19 MiB of memory, 2 passes, 1 lane. One-time passwords given by
 * administrators are 16 characters from an alphabet without look-alikes.
 */
import { randomInt } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

// algorithm 2 is Argon2id (the package's const enum cannot be imported under verbatimModuleSyntax).
const OPTIONS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 200;

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/** A hash of a random password: verified against when the username is unknown, so timing tells nothing. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(oneTimePassword());
  return decoy;
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789';

export function oneTimePassword(length = 16): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/** Why a new password is refused, as a message key of the login pages; undefined when it is acceptable. */
export function passwordProblem(
  password: string,
  user: { username: string },
): 'password_too_short' | 'password_too_long' | 'password_is_username' | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return 'password_too_short';
  if (password.length > MAX_PASSWORD_LENGTH) return 'password_too_long';
  if (password.toLowerCase().includes(user.username.toLowerCase())) return 'password_is_username';
  return undefined;
}
