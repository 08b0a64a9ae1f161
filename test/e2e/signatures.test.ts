/**
 * Signed requests through the gateway, end to end (docs/auth.md): the good
 * paths for every algorithm over Connect JSON and gRPC, every way a request
 * can be refused (each answered with its reason and written to the audit
 * log), replays across two gateway replicas, revocation and expiry, session
 * tokens between apps (Art. 10), and the public clock.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvent, AuditEventSchema, AuditOutcome } from '#gen/lgsp/common/v1/audit_pb.js';
import { ErrorInfoSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { auditStream } from '#lib/audit.js';
import {
  SIGNATURE_HEADERS,
  type SignRequestInput,
  sha256Hex,
  signRequest,
  UNSIGNED_STREAM,
} from '#lib/auth/signing.js';
import { silentLogger } from '#lib/logger.js';
import { REQUEST_ID_HEADER } from '#lib/rpc/caller.js';
import { type GatewayConfig, loadGatewayConfig, type Upstreams } from '../../gateway/src/config.js';
import { type RunningGateway, startGateway } from '../../gateway/src/main.js';
import { TEST_NATS_URL, uniqueName } from '../support/env.js';
import {
  callUnary,
  decodeRpcStatus,
  type E2eMesh,
  hmacSigner,
  type JsonAnswer,
  loadGrpcService,
  postJson,
  READ_MAX_BYTES,
  type Signer,
  signedMetadata,
  startE2eMesh,
} from './support.js';

const REGISTRY = 'lgsp.registry.v1.RegistryService';
const AUTH = 'lgsp.auth.v1.AuthService';
const AuthClient = loadGrpcService('lgsp/auth/v1/auth_service.proto', AUTH);
const RegistryClient = loadGrpcService('lgsp/registry/v1/registry_service.proto', REGISTRY);

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field.
type Json = any;

interface App {
  readonly id: string;
  readonly unitCode: string;
}

let e2e: E2eMesh;
let busPrefix: string;
let audit: AuditTrail;
/** A second replica of the same platform: same bus, same prefix, so the same nonce store. */
let replica: RunningGateway;
/** A gateway of the same platform with HMAC-SHA1 switched off (LGSP_ALLOW_HMAC_SHA1=false). */
let sha1Off: RunningGateway;
let authGrpc: grpc.Client;
let registryGrpc: grpc.Client;

/** An app of Sở Tài chính, its HMAC credential (which allows HMAC-SHA1) and an RSA key of its own. */
let finance: App;
let financeKey: Signer;
let financeRsa: Signer;
/** An app of another unit, Sở Nội vụ, to check that units cannot see each other's credentials. */
let home: App;
let homeKey: Signer;

beforeAll(async () => {
  e2e = await startE2eMesh();
  busPrefix = e2e.mesh.registry.context.config.busPrefix;
  audit = await followAudit();
  [replica, sha1Off] = await Promise.all([startReplica(), startReplica({ allowHmacSha1: false })]);
  authGrpc = new AuthClient(e2e.address, grpc.credentials.createInsecure());
  registryGrpc = new RegistryClient(e2e.address, grpc.credentials.createInsecure());

  finance = await registerApp('000.00.03.H26', 'QLVB Sở Tài chính');
  financeKey = (await createCredential(finance, { allowLegacySha1: true })).signer;
  financeRsa = await registerRsaKey(finance);
  home = await registerApp('000.00.02.H26', 'QLVB Sở Nội vụ');
  homeKey = (await createCredential(home)).signer;
});

afterAll(async () => {
  authGrpc?.close();
  registryGrpc?.close();
  await Promise.all([replica?.close(), sha1Off?.close()]);
  await audit?.stop();
  await e2e?.close();
});

// ---------------------------------------------------------------------------
// Fixtures, made through the public API as an administrator would

/** Another gateway replica in front of the mesh's services, configured as the mesh configures its own. */
function startReplica(overrides: Partial<GatewayConfig> = {}): Promise<RunningGateway> {
  const hostOf = (name: keyof Upstreams) => {
    const service = e2e.mesh.services.find((s) => s.name === name);
    if (service === undefined) throw new Error(`the mesh runs no ${name} service`);
    return new URL(service.url).host;
  };
  const upstreams: Upstreams = {
    registry: hostOf('registry'),
    auth: hostOf('auth'),
    transfer: hostOf('transfer'),
    storage: hostOf('storage'),
    notification: hostOf('notification'),
    sso: hostOf('sso'),
  };
  return startGateway(
    {
      ...loadGatewayConfig({}),
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      upstreams,
      // Its own NATS connection, as a replica in another process would have.
      natsUrl: TEST_NATS_URL,
      busPrefix,
      readMaxBytes: READ_MAX_BYTES,
      defaultTimeoutMs: 30_000,
      maxClockSkewMs: 300_000,
      allowHmacSha1: true,
      ...overrides,
    },
    { logger: silentLogger() },
  );
}

const asAdmin = (service: string, method: string, body: unknown) =>
  postJson(e2e.url, method, body, { service, signer: e2e.admin });

async function registerApp(unitCode: string, name: string): Promise<App> {
  const { app } = ok(
    await asAdmin(REGISTRY, 'RegisterApp', { unitCode, name, kind: 'APP_KIND_DATA_SERVICE' }),
  );
  return { id: app.id, unitCode };
}

/** An HMAC credential of `app`; its secret is in the answer, once. */
async function createCredential(
  app: App,
  options: { allowLegacySha1?: boolean; expireTime?: Date } = {},
): Promise<{ signer: Signer; credential: Json }> {
  const answer = ok(
    await asAdmin(AUTH, 'CreateCredential', {
      owner: { appId: app.id },
      label: 'e2e',
      allowLegacySha1: options.allowLegacySha1 ?? false,
      ...(options.expireTime === undefined ? {} : { expireTime: options.expireTime.toISOString() }),
    }),
  );
  expect(answer.secretKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
  // The credential itself tells the secret apart by its last four characters, never more.
  expect(answer.credential.secretHint).toBe(answer.secretKey.slice(-4));
  return {
    signer: hmacSigner(answer.credential.accessKeyId, answer.secretKey),
    credential: answer.credential,
  };
}

/** A fresh RSA key pair of the agency; only the public key reaches the platform. */
async function registerRsaKey(app: App): Promise<Signer> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { credential } = ok(
    await asAdmin(AUTH, 'RegisterPublicKey', {
      appId: app.id,
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }),
      label: 'e2e rsa',
    }),
  );
  expect(credential).toMatchObject({ kind: 'CREDENTIAL_KIND_RSA_PUBLIC_KEY', keyBits: 2048 });
  return { accessKeyId: credential.accessKeyId, key: { kind: 'rsa', privateKey } };
}

function secretOf({ key }: Signer): string {
  if (key.kind !== 'hmac' || typeof key.secret !== 'string') throw new Error('not an HMAC signer');
  return key.secret;
}

let nextUnitNumber = 50;
/** A unit the demo tree does not hold, with a code no other test of this file uses. */
function newUnit() {
  const code = `000.00.${nextUnitNumber++}.H26`;
  return { code, name: `Đơn vị thử ${code}`, parentCode: '000.00.00.H26', kind: 'UNIT_KIND_OTHER' };
}

async function expectNoUnit(code: string): Promise<void> {
  failed(await postJson(e2e.url, 'GetUnit', { code }), 'not_found');
}

// ---------------------------------------------------------------------------
// Requests built header by header, so that a test can break exactly one fact

/** One Connect JSON request exactly as a client puts it on the wire. */
interface Call {
  readonly service: string;
  readonly method: string;
  readonly body: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

interface SignOptions extends Partial<Omit<SignRequestInput, 'url' | 'body' | 'accessKeyId' | 'key'>> {
  readonly service?: string;
  /** Sign for this method's path instead of the one the call goes to. */
  readonly pathOf?: string;
  /** Sign these body bytes instead of the ones sent. */
  readonly signedBody?: string;
}

function signedCall(method: string, request: unknown, signer: Signer, options: SignOptions = {}): Call {
  const { service = REGISTRY, pathOf = method, signedBody, ...rest } = options;
  const body = JSON.stringify(request);
  const headers = signRequest({
    method: 'POST',
    url: `/${service}/${pathOf}`,
    body: signedBody ?? body,
    ...signer,
    ...rest,
  });
  return { service, method, body, headers: Object.entries(headers) };
}

/** The call with header `name` set to `value`, or left out when `value` is undefined. */
function withHeader(call: Call, name: string, value: string | undefined): Call {
  const kept = call.headers.filter(([n]) => n !== name);
  return { ...call, headers: value === undefined ? kept : [...kept, [name, value]] };
}

function headerOf(call: Call, name: string): string {
  const found = call.headers.find(([n]) => n === name);
  if (found === undefined) throw new Error(`the call has no ${name} header`);
  return found[1];
}

interface Sent {
  readonly answer: JsonAnswer;
  /** The request id the call carried, by which its audit event is found. */
  readonly requestId: string;
  /** The RPC as the audit log names it. */
  readonly action: string;
}

/**
 * Sends a call as it is. A header listed twice goes out as one field with
 * both values joined by ", ", which is how HTTP folds a repeated field (RFC 9110, 5.3).
 */
async function send(call: Call, baseUrl = e2e.url): Promise<Sent> {
  const requestId = uniqueName('sig');
  const headers = new Headers([
    ['content-type', 'application/json'],
    [REQUEST_ID_HEADER, requestId],
  ]);
  for (const [name, value] of call.headers) headers.append(name, value);
  const res = await fetch(`${baseUrl}/${call.service}/${call.method}`, {
    method: 'POST',
    headers,
    body: call.body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return {
    requestId,
    action: `${call.service}/${call.method}`,
    answer: {
      status: res.status,
      contentType: res.headers.get('content-type'),
      body: text === '' ? undefined : JSON.parse(text),
    },
  };
}

// ---------------------------------------------------------------------------
// Assertions

/** Asserts a successful answer and returns its body. */
function ok(answer: JsonAnswer): Json {
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body;
}

const HTTP_STATUS = { unauthenticated: 401, permission_denied: 403, not_found: 404 } as const;

/** Asserts a Connect error: its code and the HTTP status the Connect protocol maps it to. */
function failed(answer: JsonAnswer, code: keyof typeof HTTP_STATUS): Json {
  expect(answer.body?.code, JSON.stringify(answer.body)).toBe(code);
  expect(answer.status).toBe(HTTP_STATUS[code]);
  expect(answer.contentType).toMatch(/^application\/json/);
  return answer.body;
}

interface ErrorInfo {
  readonly reason: string;
  readonly metadata: Record<string, string>;
}

/** The lgsp.common.v1.ErrorInfo detail of a JSON error, which a JSON client reads from `debug`. */
function errorInfo(body: Json): ErrorInfo {
  const detail = body.details?.find((d: { type: string }) => d.type === 'lgsp.common.v1.ErrorInfo');
  expect(detail, JSON.stringify(body)).toBeDefined();
  return { reason: detail.debug.reason, metadata: detail.debug.metadata ?? {} };
}

/** The ErrorInfo reason of a grpc-js error, from the `grpc-status-details-bin` trailer. */
function grpcReason(error: grpc.ServiceError | undefined): string {
  const [raw] = error?.metadata.get('grpc-status-details-bin') ?? [];
  expect(Buffer.isBuffer(raw), 'grpc-status-details-bin trailer').toBe(true);
  const info = decodeRpcStatus(raw as Buffer).details.find((d) =>
    d.typeUrl.endsWith(`/${ErrorInfoSchema.typeName}`),
  );
  expect(info, 'ErrorInfo detail').toBeDefined();
  return fromBinary(ErrorInfoSchema, info!.value).reason;
}

/**
 * Asserts a refusal: its code, HTTP status and reason, and that exactly one
 * refusal of the RPC with that reason was written to the audit log for the request.
 */
async function expectRefused(
  { answer, requestId, action }: Sent,
  code: 'unauthenticated' | 'permission_denied',
  reason: string,
): Promise<ErrorInfo> {
  const info = errorInfo(failed(answer, code));
  expect(info.reason).toBe(reason);
  await expectAudited(requestId, action, reason);
  return info;
}

/** Exactly one refusal of `action` with `reason` is in the audit log for the request. */
async function expectAudited(requestId: string, action: string, reason: string): Promise<void> {
  const recorded = await audit.eventsOf(requestId);
  expect(recorded.map((e) => [e.action, AuditOutcome[e.outcome], e.reason])).toEqual([
    [action, 'REFUSED', reason],
  ]);
}

interface AuditTrail {
  /** The events of one request; waits for the first, since they are published after the answer. */
  eventsOf(requestId: string): Promise<AuditEvent[]>;
  stop(): Promise<void>;
}

/** The audit stream as the audit log reads it: every event of this mesh, from every component. */
async function followAudit(): Promise<AuditTrail> {
  const events: AuditEvent[] = [];
  const subscription = await e2e.mesh.bus.consume(
    { stream: auditStream(busPrefix).name, durable: 'e2e_signatures_audit' },
    async (msg) => {
      events.push(fromBinary(AuditEventSchema, msg.data));
    },
  );
  return {
    async eventsOf(requestId) {
      const matching = () => events.filter((e) => e.requestId === requestId);
      await until(() => matching().length > 0, 5_000, `an audit event for request ${requestId}`);
      return matching();
    },
    stop: () => subscription.stop(),
  };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------

describe('accepted signatures', () => {
  it('lets the administrator create a unit with a signed JSON request', async () => {
    const unit = newUnit();
    const { answer } = await send(signedCall('CreateUnit', unit, e2e.admin));
    expect(ok(answer).unit).toMatchObject({ code: unit.code, status: 'UNIT_STATUS_ACTIVE' });
    expect(ok(await postJson(e2e.url, 'GetUnit', { code: unit.code })).unit.name).toBe(unit.name);
  });

  it('lets an app sign with HMAC-SHA256 over JSON, seen as itself: it lists only its own credentials', async () => {
    const { answer } = await send(signedCall('ListCredentials', {}, financeKey, { service: AUTH }));
    const { credentials } = ok(answer);
    expect(credentials.map((c: Json) => c.owner.appId)).toEqual(credentials.map(() => finance.id));
    expect(credentials.map((c: Json) => c.accessKeyId).sort()).toEqual(
      [financeKey.accessKeyId, financeRsa.accessKeyId].sort(),
    );
    // The secret was shown once, at creation; no read gives it back.
    expect(JSON.stringify(credentials)).not.toContain(secretOf(financeKey));
  });

  it('lets an app sign with HMAC-SHA256 over gRPC', async () => {
    const request = { owner: { appId: finance.id } };
    const { response, error } = await callUnary(
      authGrpc,
      'listCredentials',
      request,
      signedMetadata(AuthClient, 'ListCredentials', request, financeKey),
    );
    expect(error).toBeUndefined();
    expect(response.credentials.map((c: Json) => c.accessKeyId)).toContain(financeKey.accessKeyId);
  });

  it('lets an app sign with its registered RSA key (RSA-SHA256) over JSON and over gRPC', async () => {
    const call = signedCall('GetCredential', { accessKeyId: financeRsa.accessKeyId }, financeRsa, {
      service: AUTH,
    });
    expect(headerOf(call, SIGNATURE_HEADERS.algorithm)).toBe('RSA-SHA256');
    expect(ok((await send(call)).answer).credential).toMatchObject({
      accessKeyId: financeRsa.accessKeyId,
      owner: { appId: finance.id },
      status: 'CREDENTIAL_STATUS_ACTIVE',
    });

    const request = { accessKeyId: financeRsa.accessKeyId };
    const { response, error } = await callUnary(
      authGrpc,
      'getCredential',
      request,
      signedMetadata(AuthClient, 'GetCredential', request, financeRsa),
    );
    expect(error).toBeUndefined();
    expect(response.credential.kind).toBe('CREDENTIAL_KIND_RSA_PUBLIC_KEY');
  });

  it('refuses an app the administrator RPCs with permission_denied, and writes nothing', async () => {
    const unit = newUnit();
    const info = await expectRefused(
      await send(signedCall('CreateUnit', unit, financeKey)),
      'permission_denied',
      'ACCESS_LEVEL',
    );
    expect(info.metadata['subject']).toBe(financeKey.accessKeyId);
    await expectNoUnit(unit.code);
    await expectRefused(
      await send(
        signedCall('CreateCredential', { owner: { appId: finance.id } }, financeKey, { service: AUTH }),
      ),
      'permission_denied',
      'ACCESS_LEVEL',
    );

    // The same over gRPC.
    const { error } = await callUnary(
      registryGrpc,
      'createUnit',
      unit,
      signedMetadata(RegistryClient, 'CreateUnit', unit, financeKey),
    );
    expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(grpcReason(error)).toBe('ACCESS_LEVEL');
    await expectNoUnit(unit.code);
  });

  it("keeps an app out of another unit's credentials", async () => {
    const asFinance = (method: string, request: unknown) =>
      send(signedCall(method, request, financeKey, { service: AUTH }));
    const refusedWith = (sent: Sent) => errorInfo(failed(sent.answer, 'permission_denied')).reason;

    expect(refusedWith(await asFinance('ListCredentials', { owner: { appId: home.id } }))).toBe(
      'NOT_ALLOWED',
    );
    expect(refusedWith(await asFinance('GetCredential', { accessKeyId: homeKey.accessKeyId }))).toBe(
      'NOT_ALLOWED',
    );
    expect(
      refusedWith(await asFinance('RevokeCredential', { accessKeyId: homeKey.accessKeyId, reason: 'e2e' })),
    ).toBe('NOT_ALLOWED');

    // Nothing was revoked: the other unit's key still signs.
    const { credential } = ok(
      (
        await send(
          signedCall('GetCredential', { accessKeyId: homeKey.accessKeyId }, homeKey, { service: AUTH }),
        )
      ).answer,
    );
    expect(credential.status).toBe('CREDENTIAL_STATUS_ACTIVE');
  });

  it('answers GetServerTime unsigned, with a time close to now and the clock policy', async () => {
    const clientTime = new Date();
    const answer = ok(
      await postJson(e2e.url, 'GetServerTime', { clientTime: clientTime.toISOString() }, { service: AUTH }),
    );
    expect(Math.abs(Date.parse(answer.serverTime) - Date.now())).toBeLessThan(5_000);
    expect(Math.abs(Number.parseFloat(answer.clockSkew))).toBeLessThan(5);
    expect(answer.clockPolicy.maxClockSkew).toBe('300s');
  });
});

describe('refused signatures', () => {
  /** What names the culprit in the refusal's metadata. */
  const byKey = (call: Call) => ({ access_key_id: headerOf(call, SIGNATURE_HEADERS.keyId) });
  const byDigestHeader = () => ({ header: SIGNATURE_HEADERS.contentSha256 });

  /** Each case breaks one fact of a genuine signed CreateUnit of `unit`. */
  const broken: ReadonlyArray<
    readonly [string, string, (unit: Json) => Call, (call: Call) => Record<string, string>]
  > = [
    [
      'a changed signature',
      'BAD_SIGNATURE',
      (unit) => {
        const call = signedCall('CreateUnit', unit, e2e.admin);
        const signature = headerOf(call, SIGNATURE_HEADERS.signature);
        const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
        return withHeader(call, SIGNATURE_HEADERS.signature, flipped);
      },
      byKey,
    ],
    [
      'a body changed after signing',
      'CONTENT_DIGEST_MISMATCH',
      (unit) =>
        signedCall('CreateUnit', unit, e2e.admin, { signedBody: JSON.stringify({ ...unit, name: 'x' }) }),
      byDigestHeader,
    ],
    [
      'a changed body sent with its digest recomputed',
      'BAD_SIGNATURE',
      (unit) => {
        const call = signedCall('CreateUnit', unit, e2e.admin, {
          signedBody: JSON.stringify({ ...unit, name: 'x' }),
        });
        return withHeader(call, SIGNATURE_HEADERS.contentSha256, sha256Hex(call.body));
      },
      byKey,
    ],
    [
      'a signature made for another method',
      'BAD_SIGNATURE',
      (unit) => signedCall('CreateUnit', unit, e2e.admin, { pathOf: 'DissolveUnit' }),
      byKey,
    ],
    [
      'an access key nobody holds',
      'UNKNOWN_KEY',
      (unit) => signedCall('CreateUnit', unit, hmacSigner('LGSPNOSUCHKEY0000001', 'no-such-secret')),
      byKey,
    ],
  ];

  it.each(broken)(
    'refuses %s with %s, records it, and writes nothing',
    async (_what, reason, build, names) => {
      const unit = newUnit();
      const call = build(unit);
      const info = await expectRefused(await send(call), 'unauthenticated', reason);
      expect(info.metadata).toMatchObject(names(call));
      await expectNoUnit(unit.code);
    },
  );

  /** Each case breaks the shape of one header; the refusal names it. */
  const malformed: ReadonlyArray<readonly [string, string, string, (call: Call) => Call]> = [
    [
      'a timestamp with milliseconds',
      'MALFORMED_HEADER',
      SIGNATURE_HEADERS.timestamp,
      (call) => withHeader(call, SIGNATURE_HEADERS.timestamp, new Date().toISOString()),
    ],
    [
      'a timestamp that is not UTC',
      'MALFORMED_HEADER',
      SIGNATURE_HEADERS.timestamp,
      (call) =>
        withHeader(
          call,
          SIGNATURE_HEADERS.timestamp,
          headerOf(call, SIGNATURE_HEADERS.timestamp).replace('Z', '+07:00'),
        ),
    ],
    [
      'a nonce of 15 characters',
      'MALFORMED_HEADER',
      SIGNATURE_HEADERS.nonce,
      (call) => withHeader(call, SIGNATURE_HEADERS.nonce, 'abcdefghij12345'),
    ],
    [
      'no timestamp',
      'MISSING_HEADER',
      SIGNATURE_HEADERS.timestamp,
      (call) => withHeader(call, SIGNATURE_HEADERS.timestamp, undefined),
    ],
    [
      'no signature',
      'MISSING_HEADER',
      SIGNATURE_HEADERS.signature,
      (call) => withHeader(call, SIGNATURE_HEADERS.signature, undefined),
    ],
    [
      'a nonce given twice',
      'DUPLICATE_HEADER',
      SIGNATURE_HEADERS.nonce,
      (call) => ({
        ...call,
        headers: [...call.headers, [SIGNATURE_HEADERS.nonce, 'a-second-nonce-0000000000']],
      }),
    ],
    [
      'an algorithm the platform does not know',
      'UNSUPPORTED_ALGORITHM',
      SIGNATURE_HEADERS.algorithm,
      (call) => withHeader(call, SIGNATURE_HEADERS.algorithm, 'HMAC-MD5'),
    ],
  ];

  it.each(malformed)('refuses %s with %s naming the header', async (_what, reason, header, breakIt) => {
    const unit = newUnit();
    const info = await expectRefused(
      await send(breakIt(signedCall('CreateUnit', unit, e2e.admin))),
      'unauthenticated',
      reason,
    );
    expect(info.metadata['header']).toBe(header);
    await expectNoUnit(unit.code);
  });

  it('refuses a header given twice in gRPC metadata', async () => {
    const unit = newUnit();
    const metadata = signedMetadata(RegistryClient, 'CreateUnit', unit, e2e.admin);
    // Two separate HTTP/2 header fields, not one joined value.
    metadata.add(SIGNATURE_HEADERS.nonce, 'a-second-nonce-0000000000');
    const requestId = uniqueName('sig');
    metadata.set(REQUEST_ID_HEADER, requestId);
    const { error } = await callUnary(registryGrpc, 'createUnit', unit, metadata);
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(grpcReason(error)).toBe('DUPLICATE_HEADER');
    await expectAudited(requestId, `${REGISTRY}/CreateUnit`, 'DUPLICATE_HEADER');
    await expectNoUnit(unit.code);
  });

  it('refuses STREAMING-UNSIGNED-PAYLOAD on a unary RPC', async () => {
    const unit = newUnit();
    // Correctly signed, with the digest that only streamed uploads may use.
    const unsigned = signedCall('CreateUnit', unit, e2e.admin, { signedBody: UNSIGNED_STREAM });
    expect(headerOf(unsigned, SIGNATURE_HEADERS.contentSha256)).toBe(UNSIGNED_STREAM);
    const info = await expectRefused(await send(unsigned), 'unauthenticated', 'MALFORMED_HEADER');
    expect(info.metadata['header']).toBe(SIGNATURE_HEADERS.contentSha256);
    await expectNoUnit(unit.code);
  });

  it.each([6, -6])('refuses a timestamp %i minutes off, telling the server time', async (minutes) => {
    const unit = newUnit();
    const skewed = signedCall('CreateUnit', unit, e2e.admin, {
      now: new Date(Date.now() + minutes * 60_000),
    });
    const info = await expectRefused(await send(skewed), 'unauthenticated', 'CLOCK_SKEW');
    const serverTime = Date.parse(info.metadata['server_time'] ?? '');
    expect(Math.abs(serverTime - Date.now())).toBeLessThan(5_000);
    expect(Math.abs(Number(info.metadata['skew_seconds']) - minutes * 60)).toBeLessThanOrEqual(2);
    await expectNoUnit(unit.code);
  });

  it('refuses the same signed request sent twice', async () => {
    const call = signedCall('CreateUnit', newUnit(), e2e.admin);
    ok((await send(call)).answer);
    await expectRefused(await send(call), 'unauthenticated', 'NONCE_REPLAYED');
  });

  it('refuses on a second replica a request the first replica accepted', async () => {
    const call = signedCall('CreateUnit', newUnit(), e2e.admin);
    ok((await send(call)).answer);
    await expectRefused(await send(call, replica.url), 'unauthenticated', 'NONCE_REPLAYED');
    // The replica itself accepts fresh signatures: the refusal was the replay, nothing else.
    ok((await send(signedCall('CreateUnit', newUnit(), e2e.admin), replica.url)).answer);
  });

  it('refuses a revoked key on every replica within a second', async () => {
    const { signer } = await createCredential(finance);
    const probe = () => signedCall('ListCredentials', {}, signer, { service: AUTH });
    // Both replicas have the key material cached, so only the revocation broadcast can stop it.
    for (const url of [e2e.url, replica.url]) ok((await send(probe(), url)).answer);

    const { credential } = ok(
      (
        await send(
          signedCall('RevokeCredential', { accessKeyId: signer.accessKeyId, reason: 'e2e' }, financeKey, {
            service: AUTH,
          }),
        )
      ).answer,
    );
    // The app revoked it with its other key, and is seen as that key.
    expect(credential).toMatchObject({
      status: 'CREDENTIAL_STATUS_REVOKED',
      revokedBy: financeKey.accessKeyId,
    });
    const revokedAt = Date.now();

    for (const url of [e2e.url, replica.url]) {
      await until(
        async () => (await send(probe(), url)).answer.status === 401,
        2_000,
        `the revocation to reach ${url}`,
      );
    }
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    await expectRefused(await send(probe()), 'unauthenticated', 'KEY_REVOKED');
  });

  it('refuses the keys of an app the registry suspended, on every replica within a second', async () => {
    const app = await registerApp('000.00.03.H26', 'Hệ thống tạm dừng');
    const { signer } = await createCredential(app);
    const probe = () => signedCall('ListCredentials', {}, signer, { service: AUTH });
    for (const url of [e2e.url, replica.url]) ok((await send(probe(), url)).answer);

    ok(
      await asAdmin(REGISTRY, 'SetAppStatus', { id: app.id, status: 'APP_STATUS_SUSPENDED', reason: 'e2e' }),
    );
    const suspendedAt = Date.now();
    for (const url of [e2e.url, replica.url]) {
      await until(
        async () => (await send(probe(), url)).answer.status === 401,
        2_000,
        `the suspension to reach ${url}`,
      );
    }
    expect(Date.now() - suspendedAt).toBeLessThan(1_000);
    await expectRefused(await send(probe()), 'unauthenticated', 'OWNER_INACTIVE');
  });

  it('refuses a key after its expiry time', async () => {
    const expireTime = new Date(Date.now() + 2_000);
    const { signer, credential } = await createCredential(finance, { expireTime });
    expect(Date.parse(credential.expireTime)).toBe(expireTime.getTime());
    const probe = () => signedCall('ListCredentials', {}, signer, { service: AUTH });
    ok((await send(probe())).answer);
    await sleep(expireTime.getTime() - Date.now() + 100);
    await expectRefused(await send(probe()), 'unauthenticated', 'KEY_EXPIRED');
  });

  it('accepts HMAC-SHA1 from a key that allows it, unless the platform switched it off', async () => {
    const sha1 = () =>
      signedCall('ListCredentials', {}, financeKey, { service: AUTH, algorithm: 'HMAC-SHA1' });
    ok((await send(sha1())).answer);
    const info = await expectRefused(
      await send(sha1(), sha1Off.url),
      'unauthenticated',
      'ALGORITHM_NOT_ALLOWED',
    );
    expect(info.metadata['access_key_id']).toBe(financeKey.accessKeyId);
    // The same key still signs with HMAC-SHA256 there.
    ok((await send(signedCall('ListCredentials', {}, financeKey, { service: AUTH }), sha1Off.url)).answer);
  });

  it('refuses HMAC-SHA1 from a key created without legacy', async () => {
    const call = signedCall('ListCredentials', {}, homeKey, { service: AUTH, algorithm: 'HMAC-SHA1' });
    await expectRefused(await send(call), 'unauthenticated', 'ALGORITHM_NOT_ALLOWED');
  });
});

describe('session tokens between apps (Art. 10)', () => {
  /** The destination: a data service of Sở Tư pháp, which the finance app may call. */
  let destination: App;
  let destinationKey: Signer;
  let grantId: string;

  beforeAll(async () => {
    destination = await registerApp('000.00.05.H26', 'Dịch vụ dữ liệu Sở Tư pháp');
    destinationKey = (await createCredential(destination)).signer;
    const { grant } = ok(
      await asAdmin(REGISTRY, 'CreateGrant', {
        subject: { appId: finance.id },
        object: { appId: destination.id },
        action: 'GRANT_ACTION_CALL',
        note: 'e2e',
      }),
    );
    grantId = grant.id;
  });

  async function issueToken(source: Signer): Promise<Sent> {
    const request = { destinationAppId: destination.id, purpose: 'e2e' };
    return send(signedCall('IssueSessionToken', request, source, { service: AUTH }));
  }

  /**
   * The source's call to the destination's own API, under the token, and
   * VerifyAccess asked by the destination about it, with the facts it saw.
   */
  async function verifyAccess(sessionToken: string): Promise<Sent> {
    const path = '/api/citizens/lookup';
    const body = JSON.stringify({ citizenId: '030123456789' });
    const headers = signRequest({ method: 'POST', url: path, body, ...financeKey, sessionToken });
    const incoming = {
      method: 'POST',
      path,
      canonicalQuery: '',
      signTime: headers[SIGNATURE_HEADERS.timestamp],
      nonce: headers[SIGNATURE_HEADERS.nonce],
      accessKeyId: headers[SIGNATURE_HEADERS.keyId],
      algorithm: 'SIGNATURE_ALGORITHM_HMAC_SHA256',
      // The destination hashes the body it received itself.
      contentSha256: createHash('sha256').update(body).digest('base64'),
      signature: headers[SIGNATURE_HEADERS.signature],
      sessionToken: headers[SIGNATURE_HEADERS.sessionToken],
    };
    return send(signedCall('VerifyAccess', { incoming }, destinationKey, { service: AUTH }));
  }

  /** The token with one character of its signature changed (not the last, whose low bits may be padding). */
  function tampered(token: string): string {
    const at = token.lastIndexOf('.') + 10;
    return token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
  }

  it('issues a token under a CALL grant, which VerifyAccess turns into the source it came from', async () => {
    const issued = ok((await issueToken(financeKey)).answer);
    expect(issued.sessionToken.split('.')).toHaveLength(3);
    expect(issued.session).toMatchObject({
      sourceAppId: finance.id,
      sourceUnitCode: finance.unitCode,
      destinationAppId: destination.id,
      destinationUnitCode: destination.unitCode,
      grantId,
    });

    const { granted } = ok((await verifyAccess(issued.sessionToken)).answer);
    expect(granted.source).toMatchObject({
      kind: 'CALLER_KIND_APP',
      appId: finance.id,
      unitCode: finance.unitCode,
      subject: financeKey.accessKeyId,
    });
    expect(granted.session).toMatchObject({ sessionId: issued.session.sessionId, grantId });
  });

  it("verifies the token offline against the gateway's key set, and refuses a tampered one", async () => {
    const { sessionToken, session } = ok((await issueToken(financeKey)).answer);
    const keys = createRemoteJWKSet(new URL('/.well-known/jwks.json', e2e.url));
    const { payload, protectedHeader } = await jwtVerify(sessionToken, keys, {
      issuer: 'lgsp',
      audience: destination.id,
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: expect.any(String) });
    expect(payload).toMatchObject({
      sub: finance.id,
      jti: session.sessionId,
      source_unit: finance.unitCode,
      dest_unit: destination.unitCode,
      grant_id: grantId,
    });
    expect(payload.exp! - payload.iat!).toBe(300);

    const forged = tampered(sessionToken);
    await expect(jwtVerify(forged, keys, { issuer: 'lgsp', audience: destination.id })).rejects.toThrow();
    // VerifyAccess answers a refusal rather than an error: the destination must act on it.
    const verified = await verifyAccess(forged);
    const { refusal } = ok(verified.answer);
    expect(refusal.reason).toBe('REFUSAL_REASON_TOKEN_INVALID');
    expect(Math.abs(Date.parse(refusal.serverTime) - Date.now())).toBeLessThan(5_000);
    await expectAudited(verified.requestId, verified.action, 'TOKEN_INVALID');
  });

  it('refuses a token to an app without a CALL grant, and records it', async () => {
    const refused = await issueToken(homeKey);
    await expectRefused(refused, 'permission_denied', 'NOT_GRANTED');
  });
});
