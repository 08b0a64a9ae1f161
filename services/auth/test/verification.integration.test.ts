import { generateKeyPairSync } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefusalReason, type SignedRequest, SignedRequestSchema } from '#gen/lgsp/auth/v1/resources_pb.js';
import { CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { newNonce, type SigningKey } from '#lib/auth/signing.js';
import { expectCode } from '../../../test/support/errors.js';
import {
  asAdmin,
  asApp,
  asService,
  hmacKey,
  registerApp,
  signed,
  startTestAuth,
  type TestMesh,
} from './support.js';

let mesh: TestMesh;
const admin = asAdmin();
const gateway = asService('gateway');
const FINANCE = '000.00.03.H26';
let financeApp: string;
let hmac: { id: string; key: SigningKey };
let legacy: { id: string; key: SigningKey };
let rsa: { id: string; key: SigningKey };
let other: { id: string; key: SigningKey };

async function hmacCredential(appId: string, allowLegacySha1 = false) {
  const res = await mesh.client.createCredential(
    { owner: { owner: { case: 'appId', value: appId } }, allowLegacySha1 },
    admin,
  );
  return { id: res.credential!.accessKeyId, key: hmacKey(res.secretKey) };
}

beforeAll(async () => {
  mesh = await startTestAuth();
  financeApp = await registerApp(mesh, FINANCE, 'Cổng dữ liệu Sở Tài chính');
  const homeAffairsApp = await registerApp(mesh, '000.00.02.H26', 'QLVB Sở Nội vụ');
  hmac = await hmacCredential(financeApp);
  legacy = await hmacCredential(financeApp, true);
  other = await hmacCredential(homeAffairsApp);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const registered = await mesh.client.registerPublicKey(
    { appId: financeApp, publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString() },
    admin,
  );
  rsa = { id: registered.credential!.accessKeyId, key: { kind: 'rsa', privateKey } };
});
afterAll(async () => {
  await mesh?.close();
});

async function verify(request: SignedRequest, client = mesh.client) {
  return client.verifyRequestSignature(
    { request, requestId: 'req-1', clientAddress: '203.0.113.7' },
    gateway,
  );
}

async function refusalOf(request: SignedRequest, client = mesh.client): Promise<string> {
  const res = await verify(request, client);
  if (res.outcome.case !== 'refusal') throw new Error(`expected a refusal, got ${res.outcome.case}`);
  return RefusalReason[res.outcome.value.reason];
}

describe('VerifyRequestSignature accepts good signatures', () => {
  it.each([
    ['HMAC-SHA256', () => hmac, 'HMAC-SHA256'],
    ['HMAC-SHA1 on a legacy credential', () => legacy, 'HMAC-SHA1'],
    ['RSA-SHA256', () => rsa, 'RSA-SHA256'],
  ] as const)('%s', async (_name, credential, algorithm) => {
    const { id, key } = credential();
    const res = await verify(signed({ accessKeyId: id, key, algorithm }));
    expect(res.outcome.case).toBe('caller');
    if (res.outcome.case === 'caller') {
      expect(res.outcome.value).toMatchObject({
        kind: CallerKind.APP,
        appId: financeApp,
        unitCode: FINANCE,
        subject: id,
        requestId: 'req-1',
      });
    }
    expect(Math.abs(Number(res.clockSkew?.seconds ?? 99n))).toBeLessThanOrEqual(1);
  });

  it('for operators too, with their roles', async () => {
    const res = await mesh.client.createCredential(
      { owner: { owner: { case: 'operatorName', value: 'ops-le-van-c' } }, roles: ['admin'] },
      admin,
    );
    const verdict = await verify(
      signed({ accessKeyId: res.credential!.accessKeyId, key: hmacKey(res.secretKey) }),
    );
    expect(verdict.outcome.case === 'caller' && verdict.outcome.value).toMatchObject({
      kind: CallerKind.OPERATOR,
      appId: '',
      roles: ['admin'],
    });
  });

  it('with a GET and no body', async () => {
    const res = await verify(
      signed({ accessKeyId: hmac.id, key: hmac.key, method: 'GET', url: '/api/units?b=2&a=1', body: '' }),
    );
    expect(res.outcome.case).toBe('caller');
  });
});

describe('VerifyRequestSignature refuses', () => {
  const good = () => signed({ accessKeyId: hmac.id, key: hmac.key });

  it('a body that is not the one signed', async () => {
    const request = good();
    request.contentSha256 = Buffer.alloc(32, 7);
    expect(await refusalOf(request)).toBe('BAD_SIGNATURE');
  });

  it('another path, method or query', async () => {
    const path = good();
    path.path = '/api/citizens/delete';
    expect(await refusalOf(path)).toBe('BAD_SIGNATURE');
    const method = good();
    method.method = 'PUT';
    expect(await refusalOf(method)).toBe('BAD_SIGNATURE');
    const query = good();
    query.canonicalQuery = 'full=false&id=001';
    expect(await refusalOf(query)).toBe('BAD_SIGNATURE');
  });

  it('another timestamp or nonce than the ones signed', async () => {
    const time = good();
    time.signTime = timestampFromDate(new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000));
    expect(await refusalOf(time)).toBe('BAD_SIGNATURE');
    const fractional = good();
    fractional.signTime = timestampFromDate(new Date(Math.floor(Date.now() / 1000) * 1000 + 500));
    expect(await refusalOf(fractional)).toBe('MALFORMED');
    const nonce = good();
    nonce.nonce = newNonce();
    expect(await refusalOf(nonce)).toBe('BAD_SIGNATURE');
  });

  it('a signature made with another app’s secret', async () => {
    expect(await refusalOf(signed({ accessKeyId: hmac.id, key: other.key }))).toBe('BAD_SIGNATURE');
  });

  it('unknown, revoked and expired keys', async () => {
    expect(await refusalOf(signed({ accessKeyId: 'LGSPAAAAAAAAAAAAAAAA', key: hmac.key }))).toBe(
      'UNKNOWN_KEY',
    );
    const doomed = await hmacCredential(financeApp);
    await mesh.client.revokeCredential({ accessKeyId: doomed.id, reason: 'test' }, admin);
    expect(await refusalOf(signed({ accessKeyId: doomed.id, key: doomed.key }))).toBe('KEY_REVOKED');
    const res = await mesh.client.createCredential(
      {
        owner: { owner: { case: 'appId', value: financeApp } },
        expireTime: timestampFromDate(new Date(Date.now() + 1_000)),
      },
      admin,
    );
    await new Promise((r) => setTimeout(r, 1_100));
    expect(
      await refusalOf(signed({ accessKeyId: res.credential!.accessKeyId, key: hmacKey(res.secretKey) })),
    ).toBe('KEY_EXPIRED');
  });

  it('a clock skew just past the limit, either way, and accepts one just inside', async () => {
    const at = (offsetS: number) => new Date(Date.now() + offsetS * 1000);
    // Timestamps have whole seconds: 302 s back is at least 301 s away, 298 s at most 299 s.
    const behind = await verify(signed({ accessKeyId: hmac.id, key: hmac.key, now: at(-302) }));
    expect(behind.outcome.case === 'refusal' && RefusalReason[behind.outcome.value.reason]).toBe(
      'CLOCK_SKEW',
    );
    expect(Number(behind.clockSkew?.seconds)).toBeGreaterThanOrEqual(301);
    expect(await refusalOf(signed({ accessKeyId: hmac.id, key: hmac.key, now: at(302) }))).toBe('CLOCK_SKEW');
    expect((await verify(signed({ accessKeyId: hmac.id, key: hmac.key, now: at(-298) }))).outcome.case).toBe(
      'caller',
    );
    expect((await verify(signed({ accessKeyId: hmac.id, key: hmac.key, now: at(298) }))).outcome.case).toBe(
      'caller',
    );
  });

  it('a replayed nonce, also at another replica', async () => {
    const request = good();
    expect((await verify(request)).outcome.case).toBe('caller');
    expect(await refusalOf(request)).toBe('NONCE_REPLAYED');
    const replica = await mesh.replica({});
    try {
      expect(await refusalOf(request, replica.client)).toBe('NONCE_REPLAYED');
    } finally {
      replica.close();
    }
  });

  it('a forged request without spending the genuine client’s nonce', async () => {
    const nonce = newNonce();
    expect(await refusalOf(signed({ accessKeyId: hmac.id, key: other.key, nonce }))).toBe('BAD_SIGNATURE');
    expect((await verify(signed({ accessKeyId: hmac.id, key: hmac.key, nonce }))).outcome.case).toBe(
      'caller',
    );
  });

  it('HMAC-SHA1 on a credential without legacy, or when switched off platform-wide', async () => {
    expect(await refusalOf(signed({ accessKeyId: hmac.id, key: hmac.key, algorithm: 'HMAC-SHA1' }))).toBe(
      'ALGORITHM_NOT_ALLOWED',
    );
    const strict = await mesh.replica({ allowHmacSha1: false });
    try {
      expect(
        await refusalOf(
          signed({ accessKeyId: legacy.id, key: legacy.key, algorithm: 'HMAC-SHA1' }),
          strict.client,
        ),
      ).toBe('ALGORITHM_NOT_ALLOWED');
      expect(
        (await verify(signed({ accessKeyId: legacy.id, key: legacy.key }), strict.client)).outcome.case,
      ).toBe('caller');
    } finally {
      strict.close();
    }
  });

  it('RSA-SHA256 claimed for an HMAC key, and malformed requests', async () => {
    expect(await refusalOf(signed({ accessKeyId: hmac.id, key: rsa.key, algorithm: 'RSA-SHA256' }))).toBe(
      'ALGORITHM_NOT_ALLOWED',
    );
    const shortDigest = good();
    shortDigest.contentSha256 = Buffer.alloc(16);
    expect(await refusalOf(shortDigest)).toBe('MALFORMED');
    const badNonce = good();
    badNonce.nonce = 'short';
    expect(await refusalOf(badNonce)).toBe('MALFORMED');
    expect(await refusalOf(create(SignedRequestSchema, {}))).toBe('MALFORMED');
    await expectCode(mesh.client.verifyRequestSignature({}, gateway), Code.InvalidArgument);
  });

  it('to anyone but a platform service', async () => {
    await expectCode(
      mesh.client.verifyRequestSignature({ request: good() }, asApp(financeApp, FINANCE)),
      Code.PermissionDenied,
    );
  });
});

describe('GetServerTime', () => {
  it('tells the time, the skew of the client clock and the clock policy, to anyone', async () => {
    const res = await mesh.client.getServerTime({
      clientTime: timestampFromDate(new Date(Date.now() - 42_000)),
    });
    expect(Number(res.clockSkew?.seconds)).toBeGreaterThanOrEqual(41);
    expect(Number(res.clockSkew?.seconds)).toBeLessThanOrEqual(43);
    expect(res.clockPolicy?.maxClockSkew?.seconds).toBe(300n);
    expect(res.clockPolicy?.replayWindow?.seconds).toBe(660n);
    const plain = await mesh.client.getServerTime({});
    expect(plain.clockSkew).toBeUndefined();
    expect(Math.abs(Number(plain.serverTime?.seconds) - Date.now() / 1000)).toBeLessThan(2);
  });
});
