import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalQuery,
  grpcFrame,
  parseTimestamp,
  readSignatureHeaders,
  SIGNATURE_HEADERS,
  signRequest,
  stringToSign,
  verify,
} from '#lib/auth/signing.js';

const SECRET = 'c2VjcmV0LWtleS1vZi10aGUtdGVzdC1hcHAtMDAwMDE';
const body = '{"code":"000.00.03.H26"}';
const fixed = {
  method: 'POST',
  url: '/lgsp.registry.v1.RegistryService/GetUnit',
  body,
  accessKeyId: 'LGSPTESTKEY00000001',
  key: { kind: 'hmac' as const, secret: SECRET },
  now: new Date('2026-11-24T08:30:00Z'),
  nonce: 'n0nce-0123456789abcdef',
};

describe('the string to sign', () => {
  it('is the facts, one per line, in a fixed order', () => {
    expect(
      stringToSign({
        algorithm: 'HMAC-SHA256',
        accessKeyId: fixed.accessKeyId,
        timestamp: '2026-11-24T08:30:00Z',
        nonce: fixed.nonce,
        method: 'post',
        path: fixed.url,
        query: 'b=2&a=1',
        contentSha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      }),
    ).toBe(
      [
        'HMAC-SHA256',
        'LGSPTESTKEY00000001',
        '2026-11-24T08:30:00Z',
        'n0nce-0123456789abcdef',
        'POST',
        '/lgsp.registry.v1.RegistryService/GetUnit',
        'a=1&b=2',
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        '',
      ].join('\n'),
    );
  });

  it('canonicalises the query: sorted, RFC 3986 encoded', () => {
    expect(canonicalQuery('message=%7B%22a%22%3A1%7D&encoding=json&connect=v1')).toBe(
      'connect=v1&encoding=json&message=%7B%22a%22%3A1%7D',
    );
    expect(canonicalQuery('q=s%E1%BB%9F+t%C3%A0i&q=a')).toBe('q=a&q=s%E1%BB%9F%20t%C3%A0i');
    expect(canonicalQuery('')).toBe('');
  });

  it('frames a gRPC message as on the wire', () => {
    expect([...grpcFrame(new Uint8Array([1, 2, 3]))]).toEqual([0, 0, 0, 0, 3, 1, 2, 3]);
  });

  it('accepts only whole-second UTC timestamps', () => {
    expect(parseTimestamp('2026-11-24T08:30:00Z')?.toISOString()).toBe('2026-11-24T08:30:00.000Z');
    for (const bad of [
      '2026-11-24T08:30:00.000Z',
      '2026-11-24T08:30:00+07:00',
      '2026-13-01T00:00:00Z',
      'yesterday',
    ]) {
      expect(parseTimestamp(bad)).toBeUndefined();
    }
  });
});

describe('signing and verifying', () => {
  it('round-trips HMAC-SHA256 and HMAC-SHA1 and detects tampering', () => {
    for (const algorithm of ['HMAC-SHA256', 'HMAC-SHA1'] as const) {
      const headers = new Headers(signRequest({ ...fixed, algorithm }));
      const read = readSignatureHeaders(headers);
      if (!read.ok) throw new Error(read.message);
      const facts = { ...read.facts, method: 'POST', path: fixed.url, query: '' };
      const key = { kind: 'hmac' as const, secret: Buffer.from(SECRET) };
      expect(verify(algorithm, key, stringToSign(facts), read.signature)).toBe(true);
      expect(verify(algorithm, key, stringToSign({ ...facts, path: '/other' }), read.signature)).toBe(false);
      expect(
        verify(
          algorithm,
          { kind: 'hmac', secret: Buffer.from('another') },
          stringToSign(facts),
          read.signature,
        ),
      ).toBe(false);
    }
  });

  it('round-trips RSA-SHA256', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const headers = new Headers(signRequest({ ...fixed, key: { kind: 'rsa', privateKey } }));
    expect(headers.get(SIGNATURE_HEADERS.algorithm)).toBe('RSA-SHA256');
    const read = readSignatureHeaders(headers);
    if (!read.ok) throw new Error(read.message);
    const text = stringToSign({ ...read.facts, method: 'POST', path: fixed.url, query: '' });
    expect(
      verify(
        'RSA-SHA256',
        { kind: 'rsa', publicKey: createPublicKey(publicKey.export({ type: 'spki', format: 'pem' })) },
        text,
        read.signature,
      ),
    ).toBe(true);
    expect(verify('RSA-SHA256', { kind: 'hmac', secret: Buffer.from(SECRET) }, text, read.signature)).toBe(
      false,
    );
  });

  it('names the missing, duplicated or malformed header', () => {
    const good = signRequest(fixed);
    const without = new Headers(good);
    without.delete(SIGNATURE_HEADERS.nonce);
    expect(readSignatureHeaders(without)).toMatchObject({
      ok: false,
      problem: 'MISSING_HEADER',
      header: 'lgsp-nonce',
    });
    const twice = new Headers(good);
    twice.append(SIGNATURE_HEADERS.signature, 'AAAA');
    expect(readSignatureHeaders(twice)).toMatchObject({
      ok: false,
      problem: 'DUPLICATE_HEADER',
      header: 'lgsp-signature',
    });
    const sha1 = new Headers({ ...good, [SIGNATURE_HEADERS.algorithm]: 'MD5' });
    expect(readSignatureHeaders(sha1)).toMatchObject({ ok: false, problem: 'UNSUPPORTED_ALGORITHM' });
    const short = new Headers({ ...good, [SIGNATURE_HEADERS.nonce]: 'abc' });
    expect(readSignatureHeaders(short)).toMatchObject({
      ok: false,
      problem: 'MALFORMED_HEADER',
      header: 'lgsp-nonce',
    });
  });
});
