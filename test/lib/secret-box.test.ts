import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, SecretBoxError } from '#lib/crypto/secret-box.js';

const key = randomBytes(32);
const box = createSecretBox(key);
const plaintext = Buffer.from('Jx3vK8qT0mZr5Yw2pL9sN4cB7dF1gH6jA0eE2iU5oQ8', 'utf8');

describe('secret box (AES-256-GCM at rest)', () => {
  it('opens what it sealed, with a fresh IV every time', () => {
    const a = box.seal(plaintext, 'LGSPAAAAAAAAAAAAAAAA');
    const b = box.seal(plaintext, 'LGSPAAAAAAAAAAAAAAAA');
    expect(a.equals(b)).toBe(false);
    expect(a[0]).toBe(1);
    expect(a.length).toBe(1 + 12 + 16 + plaintext.length);
    expect(a.includes(plaintext)).toBe(false);
    expect(box.open(a, 'LGSPAAAAAAAAAAAAAAAA').equals(plaintext)).toBe(true);
    expect(box.open(b, 'LGSPAAAAAAAAAAAAAAAA').equals(plaintext)).toBe(true);
  });

  it.each([
    ['the version byte', 0],
    ['the IV', 5],
    ['the tag', 20],
    ['the ciphertext', 40],
  ])('refuses a value with %s altered', (_what, at) => {
    const sealed = box.seal(plaintext, 'ctx');
    sealed[at] = (sealed[at] ?? 0) ^ 0x01;
    expect(() => box.open(sealed, 'ctx')).toThrow(SecretBoxError);
  });

  it('refuses a truncated value, another context and another key', () => {
    const sealed = box.seal(plaintext, 'LGSPAAAAAAAAAAAAAAAA');
    expect(() => box.open(sealed.subarray(0, 20), 'LGSPAAAAAAAAAAAAAAAA')).toThrow(SecretBoxError);
    expect(() => box.open(sealed.subarray(0, sealed.length - 1), 'LGSPAAAAAAAAAAAAAAAA')).toThrow(
      SecretBoxError,
    );
    expect(() => box.open(sealed, 'LGSPBBBBBBBBBBBBBBBB')).toThrow(SecretBoxError);
    expect(() => createSecretBox(randomBytes(32)).open(sealed, 'LGSPAAAAAAAAAAAAAAAA')).toThrow(
      SecretBoxError,
    );
  });

  it('needs a 32-byte key', () => {
    expect(() => createSecretBox(randomBytes(16))).toThrow(SecretBoxError);
  });
});

describe('secret box with the previous master key (rotation)', () => {
  const previous = randomBytes(32);
  const next = randomBytes(32);
  const both = createSecretBox(next, previous);

  it('seals with the current key and opens values of either key', () => {
    const old = createSecretBox(previous).seal(plaintext, 'ctx');
    expect(both.open(old, 'ctx').equals(plaintext)).toBe(true);
    const fresh = both.seal(plaintext, 'ctx');
    expect(createSecretBox(next).open(fresh, 'ctx').equals(plaintext)).toBe(true);
    expect(() => createSecretBox(previous).open(fresh, 'ctx')).toThrow(SecretBoxError);
  });

  it('still refuses another key, another context and a previous key of the wrong size', () => {
    const old = createSecretBox(previous).seal(plaintext, 'ctx');
    expect(() => both.open(old, 'other')).toThrow(SecretBoxError);
    expect(() => both.open(createSecretBox(randomBytes(32)).seal(plaintext, 'ctx'), 'ctx')).toThrow(
      SecretBoxError,
    );
    expect(() => createSecretBox(next, randomBytes(16))).toThrow(SecretBoxError);
  });
});
