import { fromBinary } from '@bufbuild/protobuf';
import { durationFromMs, timestampDate } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyAccessResponse } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { RefusalReason, type SignedRequest } from '#gen/lgsp/auth/v1/resources_pb.js';
import { AuditEventSchema, AuditOutcome } from '#gen/lgsp/common/v1/audit_pb.js';
import { CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { AppStatus } from '#gen/lgsp/registry/v1/resources_pb.js';
import type { SigningKey } from '#lib/auth/signing.js';
import type { BusMessage } from '#lib/bus/bus.js';
import { streamName, subjectOf } from '#lib/infra.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import {
  asAdmin,
  asApp,
  asService,
  grantCall,
  hmacKey,
  registerApp,
  signed,
  startTestAuth,
  type TestMesh,
} from './support.js';

let mesh: TestMesh;
const admin = asAdmin();
const FINANCE = '000.00.03.H26';
const HOME_AFFAIRS = '000.00.02.H26';
const PLANNING = '000.00.04.H26';
let source: string;
let destination: string;
let stranger: string;
let grantId: string;
const keys: Record<string, { id: string; key: SigningKey }> = {};

const as = (app: string) =>
  asApp(app, app === source ? FINANCE : app === destination ? HOME_AFFAIRS : PLANNING);

async function credentialOf(appId: string) {
  const res = await mesh.client.createCredential(
    { owner: { owner: { case: 'appId', value: appId } } },
    admin,
  );
  return { id: res.credential!.accessKeyId, key: hmacKey(res.secretKey) };
}

beforeAll(async () => {
  mesh = await startTestAuth();
  source = await registerApp(mesh, FINANCE, 'Cổng dịch vụ Sở Tài chính');
  destination = await registerApp(mesh, HOME_AFFAIRS, 'CSDL cán bộ Sở Nội vụ');
  stranger = await registerApp(mesh, PLANNING, 'Hệ thống Sở KH&ĐT');
  grantId = await grantCall(mesh, source, destination);
  for (const app of [source, destination, stranger]) keys[app] = await credentialOf(app);
  const prefix = mesh.config.busPrefix;
  await mesh.auth.context.bus.ensureStream({
    name: streamName(prefix, 'audit'),
    subjects: [subjectOf(prefix, 'audit', '>')],
  });
});
afterAll(async () => {
  await mesh?.close();
});

async function issue(from = source, to = destination, scopes: string[] = []) {
  return mesh.client.issueSessionToken(
    { destinationAppId: to, scopes, purpose: 'tra cứu hồ sơ cán bộ' },
    as(from),
  );
}

/** The source's call to the destination, signed with `signer`'s key, as the destination reports it. */
function call(token: string, signer = source, url = '/api/officials/lookup?id=42'): SignedRequest {
  const { id, key } = keys[signer]!;
  return signed({ accessKeyId: id, key, url, sessionToken: token });
}

async function verifyAccess(incoming: SignedRequest, asking = destination): Promise<VerifyAccessResponse> {
  return mesh.client.verifyAccess({ incoming, sourceAddress: '198.51.100.20' }, as(asking));
}

function refusal(res: VerifyAccessResponse): string {
  if (res.outcome.case !== 'refusal') throw new Error(`expected a refusal, got ${res.outcome.case}`);
  return RefusalReason[res.outcome.value.reason];
}

describe('IssueSessionToken (Art. 10.1–10.2)', () => {
  it('issues a JWT anyone can verify offline against the JWKS', async () => {
    const res = await issue(source, destination, ['/api/officials/']);
    expect(res.session).toMatchObject({
      sourceAppId: source,
      sourceUnitCode: FINANCE,
      destinationAppId: destination,
      destinationUnitCode: HOME_AFFAIRS,
      grantId,
      scopes: ['/api/officials/'],
    });
    expect(res.session?.sessionId).toMatch(/^ses_/);
    const lifetime =
      timestampDate(res.session!.expireTime!).getTime() - timestampDate(res.session!.issueTime!).getTime();
    expect(lifetime).toBe(300_000);
    expect(res.sessionToken.length).toBeLessThanOrEqual(1024);

    const header = decodeProtectedHeader(res.sessionToken);
    expect(header.alg).toBe('ES256');
    expect(header.kid).toBeTruthy();
    const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', mesh.auth.url));
    const { payload } = await jwtVerify(res.sessionToken, jwks, { issuer: 'lgsp', audience: destination });
    expect(payload).toMatchObject({
      iss: 'lgsp',
      sub: source,
      aud: destination,
      jti: res.session!.sessionId,
      source_unit: FINANCE,
      dest_unit: HOME_AFFAIRS,
      grant_id: grantId,
      scopes: ['/api/officials/'],
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);

    const document = (await (await fetch(new URL('/.well-known/jwks.json', mesh.auth.url))).json()) as {
      keys: Array<Record<string, string>>;
    };
    expect(document.keys).toHaveLength(1);
    expect(document.keys[0]).toMatchObject({
      kid: header.kid,
      kty: 'EC',
      crv: 'P-256',
      alg: 'ES256',
      use: 'sig',
    });
    expect(document.keys[0]).not.toHaveProperty('d');
  });

  it('signs with the same key on every replica, and honours a requested lifetime', async () => {
    const replica = await mesh.replica({});
    try {
      const res = await replica.client.issueSessionToken(
        { destinationAppId: destination, ttl: durationFromMs(120_000) },
        as(source),
      );
      const first = await issue();
      expect(decodeProtectedHeader(res.sessionToken).kid).toBe(decodeProtectedHeader(first.sessionToken).kid);
      const lifetime =
        timestampDate(res.session!.expireTime!).getTime() - timestampDate(res.session!.issueTime!).getTime();
      expect(lifetime).toBe(120_000);
    } finally {
      replica.close();
    }
  });

  it('refuses a source without a CALL grant with PermissionDenied NOT_GRANTED', async () => {
    const error = await expectCode(issue(stranger, destination), Code.PermissionDenied);
    expect(reasonOf(error)).toBe('NOT_GRANTED');
  });

  it('refuses unknown and inactive destinations, and callers that are not apps', async () => {
    const unknown = await expectCode(issue(source, 'app_0000000000000000'), Code.FailedPrecondition);
    expect(reasonOf(unknown)).toBe('DESTINATION_UNAVAILABLE');
    const paused = await registerApp(mesh, HOME_AFFAIRS, 'Tạm dừng');
    await grantCall(mesh, source, paused);
    await mesh.registryClient.setAppStatus({ id: paused, status: AppStatus.SUSPENDED }, admin);
    const inactive = await expectCode(issue(source, paused), Code.FailedPrecondition);
    expect(reasonOf(inactive)).toBe('DESTINATION_UNAVAILABLE');
    const operator = await expectCode(
      mesh.client.issueSessionToken({ destinationAppId: destination }, admin),
      Code.PermissionDenied,
    );
    expect(reasonOf(operator)).toBe('APP_REQUIRED');
  });

  it('refuses bad input field by field', async () => {
    const error = await expectCode(
      mesh.client.issueSessionToken(
        {
          destinationAppId: 'registry',
          scopes: ['api/no-slash', `/${'x'.repeat(600)}`],
          ttl: durationFromMs(5_000),
          purpose: 'p'.repeat(501),
        },
        as(source),
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(error).sort()).toEqual([
      'destination_app_id',
      'purpose',
      'scopes',
      'scopes[0]',
      'scopes[1]',
      'ttl',
    ]);
  });
});

describe('VerifyAccess (Art. 10.4–10.6)', () => {
  it('grants a genuine call and names the source', async () => {
    const { sessionToken, session } = await issue();
    const res = await verifyAccess(call(sessionToken));
    expect(res.outcome.case).toBe('granted');
    if (res.outcome.case === 'granted') {
      expect(res.outcome.value.session).toMatchObject({
        sessionId: session!.sessionId,
        sourceAppId: source,
        destinationAppId: destination,
        grantId,
      });
      expect(res.outcome.value.source).toMatchObject({
        kind: CallerKind.APP,
        appId: source,
        unitCode: FINANCE,
        subject: keys[source]!.id,
      });
    }
  });

  it('refuses a replayed call', async () => {
    const { sessionToken } = await issue();
    const incoming = call(sessionToken);
    expect((await verifyAccess(incoming)).outcome.case).toBe('granted');
    expect(refusal(await verifyAccess(incoming))).toBe('NONCE_REPLAYED');
  });

  it('refuses a token asked about by another destination, and records it in the audit log', async () => {
    const { sessionToken } = await issue();
    const incoming = call(sessionToken);
    expect(refusal(await verifyAccess(incoming, stranger))).toBe('TOKEN_WRONG_AUDIENCE');

    const prefix = mesh.config.busPrefix;
    const events: BusMessage[] = [];
    const consumption = await mesh.auth.context.bus.consume(
      {
        stream: streamName(prefix, 'audit'),
        durable: 'test-audit',
        filterSubjects: [subjectOf(prefix, 'audit', 'auth')],
      },
      async (msg) => {
        events.push(msg);
      },
    );
    try {
      await expect
        .poll(() => events.map((m) => fromBinary(AuditEventSchema, m.data).reason), { timeout: 5_000 })
        .toContain('TOKEN_WRONG_AUDIENCE');
    } finally {
      await consumption.stop();
    }
    const event = events
      .map((m) => fromBinary(AuditEventSchema, m.data))
      .find((e) => e.reason === 'TOKEN_WRONG_AUDIENCE');
    expect(event).toMatchObject({
      source: 'auth',
      outcome: AuditOutcome.REFUSED,
      action: 'lgsp.auth.v1.AuthService/VerifyAccess',
      accessKeyId: keys[source]!.id,
      clientAddress: '198.51.100.20',
    });
    expect(event?.actor?.appId).toBe(stranger);
  });

  it('refuses a call signed by another app than the token’s source', async () => {
    const { sessionToken } = await issue();
    expect(refusal(await verifyAccess(call(sessionToken, stranger)))).toBe('TOKEN_WRONG_SOURCE');
  });

  it('refuses an expired token', async () => {
    const shortLived = await mesh.replica({ sessionTokenTtlSeconds: 1 });
    try {
      const { sessionToken } = await shortLived.client.issueSessionToken(
        { destinationAppId: destination },
        as(source),
      );
      await new Promise((r) => setTimeout(r, 2_100));
      expect(refusal(await verifyAccess(call(sessionToken)))).toBe('TOKEN_EXPIRED');
    } finally {
      shortLived.close();
    }
  });

  it('refuses once the grant is withdrawn', async () => {
    const caller = await registerApp(mesh, FINANCE, 'Ứng dụng mất quyền');
    keys[caller] = await credentialOf(caller);
    const grant = await grantCall(mesh, caller, destination);
    const { sessionToken } = await mesh.client.issueSessionToken(
      { destinationAppId: destination },
      asApp(caller, FINANCE),
    );
    expect((await verifyAccess(call(sessionToken, caller))).outcome.case).toBe('granted');
    await mesh.registryClient.deleteGrant({ id: grant }, admin);
    expect(refusal(await verifyAccess(call(sessionToken, caller)))).toBe('NOT_GRANTED');
  });

  it('refuses a path outside the token’s scopes', async () => {
    const { sessionToken } = await issue(source, destination, ['/api/officials/']);
    expect((await verifyAccess(call(sessionToken, source, '/api/officials/7'))).outcome.case).toBe('granted');
    expect(refusal(await verifyAccess(call(sessionToken, source, '/api/payroll/7')))).toBe('NOT_GRANTED');
  });

  it('refuses altered, foreign and missing tokens', async () => {
    const { sessionToken } = await issue();
    const [h, p, s] = sessionToken.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    expect(refusal(await verifyAccess(call(flipped)))).toBe('TOKEN_INVALID');
    const otherClaims = Buffer.from(
      JSON.stringify({ sub: stranger, aud: destination, iss: 'lgsp' }),
    ).toString('base64url');
    expect(refusal(await verifyAccess(call(`${h}.${otherClaims}.${s}`)))).toBe('TOKEN_INVALID');
    expect(refusal(await verifyAccess(call('not-a-jwt')))).toBe('TOKEN_INVALID');
    expect(refusal(await verifyAccess(call('')))).toBe('TOKEN_INVALID');
  });

  it('refuses a call whose signature does not cover what arrived', async () => {
    const { sessionToken } = await issue();
    const tampered = call(sessionToken);
    tampered.contentSha256 = Buffer.alloc(32, 1);
    expect(refusal(await verifyAccess(tampered))).toBe('BAD_SIGNATURE');
    const otherToken = (await issue()).sessionToken;
    const swapped = call(sessionToken);
    swapped.sessionToken = otherToken;
    expect(refusal(await verifyAccess(swapped))).toBe('BAD_SIGNATURE');
  });

  it('is asked by the destination app itself', async () => {
    const { sessionToken } = await issue();
    const error = await expectCode(
      mesh.client.verifyAccess({ incoming: call(sessionToken) }, asService('gateway')),
      Code.PermissionDenied,
    );
    expect(reasonOf(error)).toBe('APP_REQUIRED');
    await expectCode(mesh.client.verifyAccess({}, as(destination)), Code.InvalidArgument);
  });
});
