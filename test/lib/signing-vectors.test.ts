/** The test vectors published in docs/auth.md: if this fails, the document or the signer is wrong. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sha256Hex, sign, stringToSign } from '#lib/auth/signing.js';

const doc = readFileSync(new URL('../../docs/auth.md', import.meta.url), 'utf8');
const body = '{"code":"000.00.03.H26"}';
const secret = 'lgsp-example-secret-key-do-not-use-000000000';
const facts = {
  accessKeyId: 'LGSPEXAMPLEKEY000001',
  timestamp: '2026-11-24T08:30:00Z',
  nonce: '6f1c2a9b8e7d4c3b2a19f0e1d2c3b4a5',
  method: 'POST',
  path: '/lgsp.registry.v1.RegistryService/GetUnit',
  query: '',
  contentSha256: sha256Hex(body),
};

/** The value the document gives for an algorithm, from its vector table. */
function documented(algorithm: string): string {
  const vectors = doc.slice(doc.indexOf('## Test vectors'));
  const row = vectors.split('\n').find((line) => line.startsWith(`| \`${algorithm}\``));
  const value = row?.split('|').at(-2)?.trim().replace(/`/g, '');
  if (value === undefined) throw new Error(`docs/auth.md has no vector for ${algorithm}`);
  return value;
}

describe('docs/auth.md test vectors', () => {
  it('gives the body digest', () => {
    expect(doc).toContain(facts.contentSha256);
  });

  it('gives the exact HMAC-SHA256 string to sign', () => {
    const shown = /string to sign for HMAC-SHA256[\s\S]*?```\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(shown?.replace(/⏎/g, '')).toBe(stringToSign({ ...facts, algorithm: 'HMAC-SHA256' }));
  });

  it.each(['HMAC-SHA256', 'HMAC-SHA1'] as const)('gives the %s signature', (algorithm) => {
    expect(documented(algorithm)).toBe(
      sign(algorithm, { kind: 'hmac', secret }, stringToSign({ ...facts, algorithm })),
    );
  });

  it('gives the RSA-SHA256 signature for the published test key', () => {
    const privateKey = readFileSync(new URL('../fixtures/vector-rsa-private.pem', import.meta.url), 'utf8');
    expect(documented('RSA-SHA256')).toBe(
      sign('RSA-SHA256', { kind: 'rsa', privateKey }, stringToSign({ ...facts, algorithm: 'RSA-SHA256' })),
    );
  });
});
