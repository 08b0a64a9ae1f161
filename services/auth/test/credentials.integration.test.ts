import { generateKeyPairSync } from 'node:crypto';
import { fromBinary, toJsonString } from '@bufbuild/protobuf';
import { durationFromMs, timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCredentialResponseSchema } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import {
  CredentialEventKind,
  CredentialEventSchema,
  CredentialKind,
  CredentialStatus,
  RefusalReason,
  SignatureAlgorithm,
} from '#gen/lgsp/auth/v1/resources_pb.js';
import { AppStatus } from '#gen/lgsp/registry/v1/resources_pb.js';
import type { BusMessage } from '#lib/bus/bus.js';
import { streamName, subjectOf } from '#lib/infra.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import { sweepCredentials } from '../src/consumers/expiry.js';
import {
  asAdmin,
  asApp,
  asService,
  asUnitAdmin,
  registerApp,
  startTestAuth,
  type TestMesh,
} from './support.js';

let mesh: TestMesh;
const admin = asAdmin();
const gateway = asService('gateway');
const FINANCE = '000.00.03.H26';
const HOME_AFFAIRS = '000.00.02.H26';
let financeApp: string;
let homeAffairsApp: string;

const rsaPem = (bits = 2048) =>
  generateKeyPairSync('rsa', { modulusLength: bits })
    .publicKey.export({ format: 'pem', type: 'spki' })
    .toString();

beforeAll(async () => {
  mesh = await startTestAuth();
  financeApp = await registerApp(mesh, FINANCE, 'QLVB Sở Tài chính');
  homeAffairsApp = await registerApp(mesh, HOME_AFFAIRS, 'QLVB Sở Nội vụ');
});
afterAll(async () => {
  await mesh?.close();
});

const material = async (accessKeyId: string) =>
  (await mesh.client.getKeyMaterial({ accessKeyId }, gateway)).outcome;

describe('HMAC credentials', () => {
  it('shows the secret once, keeps it only encrypted, and never shows it again', async () => {
    const res = await mesh.client.createCredential(
      { owner: { owner: { case: 'appId', value: financeApp } }, label: 'production server 1' },
      admin,
    );
    const { credential, secretKey } = res;
    expect(secretKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(credential?.accessKeyId).toMatch(/^LGSP[A-Z2-7]{16}$/);
    expect(credential).toMatchObject({
      kind: CredentialKind.HMAC_SECRET,
      algorithms: [SignatureAlgorithm.HMAC_SHA256],
      status: CredentialStatus.ACTIVE,
      label: 'production server 1',
      secretHint: secretKey.slice(-4),
      roles: [],
      createdBy: 'operator:test',
    });
    const id = credential!.accessKeyId;

    const row = await mesh.auth.context.db
      .selectFrom('credentials')
      .selectAll()
      .where('access_key_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.unit_code).toBe(FINANCE);
    expect(row.secret_ciphertext).not.toBeNull();
    const stored = Buffer.from(row.secret_ciphertext!);
    expect(stored.includes(Buffer.from(secretKey))).toBe(false);
    expect(stored.toString('latin1')).not.toContain(secretKey);
    expect(JSON.stringify(row)).not.toContain(secretKey);

    const got = await mesh.client.getCredential({ accessKeyId: id }, admin);
    expect(toJsonString(GetCredentialResponseSchema, got)).not.toContain(secretKey);
    expect(got.credential?.secretHint).toBe(secretKey.slice(-4));

    const outcome = await material(id);
    expect(outcome.case).toBe('material');
    if (outcome.case === 'material') {
      expect(Buffer.from(outcome.value.hmacSecret).toString('utf8')).toBe(secretKey);
      expect(outcome.value.unitCode).toBe(FINANCE);
      expect(outcome.value.version).toBe(1n);
    }
  });

  it('accepts HMAC-SHA1 only for credentials that ask for it', async () => {
    const res = await mesh.client.createCredential(
      { owner: { owner: { case: 'appId', value: financeApp } }, allowLegacySha1: true },
      admin,
    );
    expect(res.credential?.algorithms).toEqual([
      SignatureAlgorithm.HMAC_SHA256,
      SignatureAlgorithm.HMAC_SHA1,
    ]);
  });

  it('refuses bad input field by field', async () => {
    const error = await expectCode(
      mesh.client.createCredential(
        {
          owner: { owner: { case: 'appId', value: 'app_123' } },
          label: 'x'.repeat(201),
          expireTime: timestampFromDate(new Date(Date.now() - 1000)),
          roles: ['admin'],
        },
        admin,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(error).sort()).toEqual(['expire_time', 'label', 'owner.app_id', 'roles']);
    const noOwner = await expectCode(mesh.client.createCredential({}, admin), Code.InvalidArgument);
    expect(violatedFields(noOwner)).toEqual(['owner']);
  });

  it('refuses unknown and inactive apps', async () => {
    const unknown = await expectCode(
      mesh.client.createCredential(
        { owner: { owner: { case: 'appId', value: 'app_0000000000000000' } } },
        admin,
      ),
      Code.NotFound,
    );
    expect(reasonOf(unknown)).toBe('APP_NOT_FOUND');
    const suspended = await registerApp(mesh, FINANCE, 'Hệ thống tạm dừng');
    await mesh.registryClient.setAppStatus({ id: suspended, status: AppStatus.SUSPENDED }, admin);
    const inactive = await expectCode(
      mesh.client.createCredential({ owner: { owner: { case: 'appId', value: suspended } } }, admin),
      Code.FailedPrecondition,
    );
    expect(reasonOf(inactive)).toBe('OWNER_INACTIVE');
  });
});

describe('operators and unit administrators', () => {
  it('creates operator credentials with admin or a unit_admin role for one unit', async () => {
    const provincial = await mesh.client.createCredential(
      { owner: { owner: { case: 'operatorName', value: 'ops-nguyenvana' } }, roles: ['admin'] },
      admin,
    );
    expect(provincial.credential?.roles).toEqual(['admin']);
    const unitAdmin = await mesh.client.createCredential(
      { owner: { owner: { case: 'operatorName', value: 'stc-tranthib' } }, roles: [`unit_admin:${FINANCE}`] },
      admin,
    );
    expect(unitAdmin.credential?.roles).toEqual([`unit_admin:${FINANCE}`]);
    const outcome = await material(unitAdmin.credential!.accessKeyId);
    expect(outcome.case === 'material' && outcome.value.roles).toEqual(['unit_admin']);
    expect(outcome.case === 'material' && outcome.value.unitCode).toBe(FINANCE);
  });

  it('refuses operator roles that are unknown, unscoped or for a unit that does not exist', async () => {
    const bad = await expectCode(
      mesh.client.createCredential(
        { owner: { owner: { case: 'operatorName', value: 'OPS' } }, roles: ['root', 'unit_admin'] },
        admin,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad).sort()).toEqual(['owner.operator_name', 'roles[0]', 'roles[1]']);
    const missing = await expectCode(
      mesh.client.createCredential(
        { owner: { owner: { case: 'operatorName', value: 'ops-x' } }, roles: ['unit_admin:000.00.99.H26'] },
        admin,
      ),
      Code.NotFound,
    );
    expect(reasonOf(missing)).toBe('UNIT_NOT_FOUND');
  });

  it('lets a unit administrator create credentials for apps of its own unit only', async () => {
    const own = await mesh.client.createCredential(
      { owner: { owner: { case: 'appId', value: financeApp } } },
      asUnitAdmin(FINANCE),
    );
    expect(own.credential?.accessKeyId).toBeDefined();
    const other = await expectCode(
      mesh.client.createCredential(
        { owner: { owner: { case: 'appId', value: homeAffairsApp } } },
        asUnitAdmin(FINANCE),
      ),
      Code.PermissionDenied,
    );
    expect(reasonOf(other)).toBe('NOT_ALLOWED');
    const operator = await expectCode(
      mesh.client.createCredential(
        { owner: { owner: { case: 'operatorName', value: 'ops-y' } }, roles: ['admin'] },
        asUnitAdmin(FINANCE),
      ),
      Code.PermissionDenied,
    );
    expect(reasonOf(operator)).toBe('NOT_ALLOWED');
  });

  it('refuses apps at the access level of CreateCredential', async () => {
    await expectCode(
      mesh.client.createCredential(
        { owner: { owner: { case: 'appId', value: financeApp } } },
        asApp(financeApp, FINANCE),
      ),
      Code.PermissionDenied,
    );
  });
});

describe('reading credentials: each sees its own', () => {
  let financeKey: string;
  let homeKey: string;

  beforeAll(async () => {
    financeKey = (
      await mesh.client.createCredential({ owner: { owner: { case: 'appId', value: financeApp } } }, admin)
    ).credential!.accessKeyId;
    homeKey = (
      await mesh.client.createCredential(
        { owner: { owner: { case: 'appId', value: homeAffairsApp } } },
        admin,
      )
    ).credential!.accessKeyId;
  });

  it('lets an app read and list its own credentials, and no one else’s', async () => {
    const app = asApp(financeApp, FINANCE);
    expect((await mesh.client.getCredential({ accessKeyId: financeKey }, app)).credential?.accessKeyId).toBe(
      financeKey,
    );
    const denied = await expectCode(
      mesh.client.getCredential({ accessKeyId: homeKey }, app),
      Code.PermissionDenied,
    );
    expect(reasonOf(denied)).toBe('NOT_ALLOWED');
    const listed = await mesh.client.listCredentials({}, app);
    expect(listed.credentials.length).toBeGreaterThan(0);
    expect(listed.credentials.every((c) => c.owner?.owner.value === financeApp)).toBe(true);
    await expectCode(
      mesh.client.listCredentials({ owner: { owner: { case: 'appId', value: homeAffairsApp } } }, app),
      Code.PermissionDenied,
    );
    await expectCode(mesh.client.revokeCredential({ accessKeyId: homeKey }, app), Code.PermissionDenied);
  });

  it('lets a unit administrator see its unit, and a province administrator everything', async () => {
    const unit = await mesh.client.listCredentials({ pageSize: 200 }, asUnitAdmin(HOME_AFFAIRS));
    expect(unit.credentials.map((c) => c.accessKeyId)).toContain(homeKey);
    expect(unit.credentials.map((c) => c.accessKeyId)).not.toContain(financeKey);
    await expectCode(
      mesh.client.getCredential({ accessKeyId: financeKey }, asUnitAdmin(HOME_AFFAIRS)),
      Code.PermissionDenied,
    );
    const all = await mesh.client.listCredentials({ pageSize: 200 }, admin);
    expect(all.credentials.map((c) => c.accessKeyId)).toEqual(expect.arrayContaining([financeKey, homeKey]));
  });

  it('pages newest first and filters by owner', async () => {
    const first = await mesh.client.listCredentials(
      { owner: { owner: { case: 'appId', value: financeApp } }, pageSize: 2 },
      admin,
    );
    expect(first.credentials).toHaveLength(2);
    expect(first.nextPageToken).not.toBe('');
    const times = first.credentials.map((c) => timestampDate(c.createTime!).getTime());
    expect(times[0]).toBeGreaterThanOrEqual(times[1]!);
    const second = await mesh.client.listCredentials(
      { owner: { owner: { case: 'appId', value: financeApp } }, pageSize: 2, pageToken: first.nextPageToken },
      admin,
    );
    expect(second.credentials[0]?.accessKeyId).not.toBe(first.credentials[0]?.accessKeyId);
  });

  it('answers NotFound for unknown keys and InvalidArgument for malformed ones', async () => {
    const missing = await expectCode(
      mesh.client.getCredential({ accessKeyId: 'LGSPAAAAAAAAAAAAAAAA' }, admin),
      Code.NotFound,
    );
    expect(reasonOf(missing)).toBe('CREDENTIAL_NOT_FOUND');
    await expectCode(mesh.client.getCredential({ accessKeyId: 'nope' }, admin), Code.InvalidArgument);
  });
});

describe('RSA public keys', () => {
  it('registers a 2048-bit key and serves its DER as key material', async () => {
    const pem = rsaPem();
    const res = await mesh.client.registerPublicKey(
      { appId: financeApp, publicKeyPem: pem, label: 'HSM' },
      admin,
    );
    expect(res.credential).toMatchObject({
      kind: CredentialKind.RSA_PUBLIC_KEY,
      algorithms: [SignatureAlgorithm.RSA_SHA256],
      keyBits: 2048,
      secretHint: '',
    });
    expect(res.credential?.publicKeyPem.trim()).toBe(pem.trim());
    expect(res.credential?.publicKeyFingerprint).toMatch(/^[0-9a-f]{64}$/);
    const outcome = await material(res.credential!.accessKeyId);
    expect(outcome.case === 'material' && outcome.value.publicKeyDer.length).toBeGreaterThan(250);
    expect(outcome.case === 'material' && outcome.value.hmacSecret.length).toBe(0);

    const again = await expectCode(
      mesh.client.registerPublicKey({ appId: homeAffairsApp, publicKeyPem: pem }, admin),
      Code.AlreadyExists,
    );
    expect(reasonOf(again)).toBe('PUBLIC_KEY_IN_USE');
  });

  it('refuses a 1024-bit key and a bad PEM with InvalidArgument', async () => {
    const short = await expectCode(
      mesh.client.registerPublicKey({ appId: financeApp, publicKeyPem: rsaPem(1024) }, admin),
      Code.InvalidArgument,
    );
    expect(violatedFields(short)).toEqual(['public_key_pem']);
    expect(short.message).toContain('2048');
    const garbage = await expectCode(
      mesh.client.registerPublicKey(
        { appId: financeApp, publicKeyPem: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' },
        admin,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(garbage)).toEqual(['public_key_pem']);
  });

  it('rotates only with a new, different key', async () => {
    const pem = rsaPem();
    const id = (await mesh.client.registerPublicKey({ appId: financeApp, publicKeyPem: pem }, admin))
      .credential!.accessKeyId;
    const without = await expectCode(
      mesh.client.rotateCredential({ accessKeyId: id }, admin),
      Code.InvalidArgument,
    );
    expect(violatedFields(without)).toEqual(['public_key_pem']);
    const same = await expectCode(
      mesh.client.rotateCredential({ accessKeyId: id, publicKeyPem: pem }, admin),
      Code.InvalidArgument,
    );
    expect(violatedFields(same)).toEqual(['public_key_pem']);
    const rotated = await mesh.client.rotateCredential({ accessKeyId: id, publicKeyPem: rsaPem() }, admin);
    expect(rotated.secretKey).toBe('');
    expect(rotated.credential?.kind).toBe(CredentialKind.RSA_PUBLIC_KEY);
    expect(rotated.credential?.rotatedFrom).toBe(id);
  });
});

describe('rotation', () => {
  it('keeps the old credential working for the overlap, then refuses it', async () => {
    const created = await mesh.client.createCredential(
      { owner: { owner: { case: 'appId', value: financeApp } }, allowLegacySha1: true, label: 'app server' },
      admin,
    );
    const oldId = created.credential!.accessKeyId;
    const rotated = await mesh.client.rotateCredential(
      { accessKeyId: oldId, overlap: durationFromMs(1_500) },
      asApp(financeApp, FINANCE),
    );
    expect(rotated.secretKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(rotated.secretKey).not.toBe(created.secretKey);
    expect(rotated.credential).toMatchObject({
      rotatedFrom: oldId,
      label: 'app server',
      algorithms: [SignatureAlgorithm.HMAC_SHA256, SignatureAlgorithm.HMAC_SHA1],
      createdBy: `key:${financeApp}`,
    });
    expect(rotated.previous?.accessKeyId).toBe(oldId);
    const end = timestampDate(rotated.previous!.expireTime!).getTime();
    expect(end).toBeGreaterThan(Date.now());
    expect(end).toBeLessThanOrEqual(Date.now() + 1_500);

    const during = await material(oldId);
    expect(during.case).toBe('material');
    expect(during.case === 'material' && during.value.version).toBe(2n);

    await new Promise((r) => setTimeout(r, 1_600));
    const after = await material(oldId);
    expect(after.case === 'refusal' && after.value.reason).toBe(RefusalReason.KEY_EXPIRED);
    expect((await material(rotated.credential!.accessKeyId)).case).toBe('material');
    const status = await mesh.client.getCredential({ accessKeyId: oldId }, admin);
    expect(status.credential?.status).toBe(CredentialStatus.EXPIRED);
  });

  it('defaults the overlap to 24 hours, refuses more than 30 days, and rotates a credential once', async () => {
    const id = (
      await mesh.client.createCredential({ owner: { owner: { case: 'appId', value: financeApp } } }, admin)
    ).credential!.accessKeyId;
    const tooLong = await expectCode(
      mesh.client.rotateCredential({ accessKeyId: id, overlap: durationFromMs(31 * 24 * 3600_000) }, admin),
      Code.InvalidArgument,
    );
    expect(violatedFields(tooLong)).toEqual(['overlap']);
    const rotated = await mesh.client.rotateCredential({ accessKeyId: id }, admin);
    const overlap = timestampDate(rotated.previous!.expireTime!).getTime() - Date.now();
    expect(overlap).toBeGreaterThan(24 * 3600_000 - 60_000);
    expect(overlap).toBeLessThanOrEqual(24 * 3600_000);
    const twice = await expectCode(
      mesh.client.rotateCredential({ accessKeyId: id }, admin),
      Code.FailedPrecondition,
    );
    expect(reasonOf(twice)).toBe('ALREADY_ROTATED');
  });

  it('stops the old credential at once with a zero overlap', async () => {
    const id = (
      await mesh.client.createCredential({ owner: { owner: { case: 'appId', value: financeApp } } }, admin)
    ).credential!.accessKeyId;
    const rotated = await mesh.client.rotateCredential(
      { accessKeyId: id, overlap: durationFromMs(0) },
      admin,
    );
    expect(rotated.previous?.status).toBe(CredentialStatus.REVOKED);
    const outcome = await material(id);
    expect(outcome.case === 'refusal' && outcome.value.reason).toBe(RefusalReason.KEY_REVOKED);
  });
});

describe('revocation', () => {
  it('is final and idempotent, publishes a REVOKED event and broadcasts the key id', async () => {
    const { bus } = mesh.auth.context;
    const prefix = mesh.config.busPrefix;
    const broadcasts: string[] = [];
    const listening = await bus.listen(subjectOf(prefix, 'auth', 'revoked'), (_s, data) => {
      broadcasts.push(Buffer.from(data).toString('utf8'));
    });
    const id = (
      await mesh.client.createCredential({ owner: { owner: { case: 'appId', value: financeApp } } }, admin)
    ).credential!.accessKeyId;
    const revoked = await mesh.client.revokeCredential(
      { accessKeyId: id, reason: 'server decommissioned' },
      asApp(financeApp, FINANCE),
    );
    expect(revoked.credential).toMatchObject({
      status: CredentialStatus.REVOKED,
      revokedBy: `key:${financeApp}`,
      revokeReason: 'server decommissioned',
    });
    await expect.poll(() => broadcasts, { timeout: 1_000 }).toContain(id);
    const again = await mesh.client.revokeCredential({ accessKeyId: id, reason: 'twice' }, admin);
    expect(again.credential?.revokeReason).toBe('server decommissioned');
    await listening.stop();

    const outcome = await material(id);
    expect(outcome.case === 'refusal' && outcome.value.reason).toBe(RefusalReason.KEY_REVOKED);
    await expectCode(mesh.client.rotateCredential({ accessKeyId: id }, admin), Code.FailedPrecondition);

    const events: BusMessage[] = [];
    const consumption = await bus.consume(
      {
        stream: streamName(prefix, 'auth'),
        durable: 'test-revocations',
        filterSubjects: [subjectOf(prefix, 'auth', 'credential', 'revoked')],
      },
      async (msg) => {
        events.push(msg);
      },
    );
    try {
      await expect
        .poll(() => events.map((m) => fromBinary(CredentialEventSchema, m.data).accessKeyId), {
          timeout: 5_000,
        })
        .toContain(id);
    } finally {
      await consumption.stop();
    }
    const event = events
      .map((m) => fromBinary(CredentialEventSchema, m.data))
      .filter((e) => e.accessKeyId === id);
    expect(event).toHaveLength(1);
    expect(event[0]).toMatchObject({
      kind: CredentialEventKind.REVOKED,
      version: 2n,
      actor: `key:${financeApp}`,
      reason: 'server decommissioned',
    });
  });
});

describe('key material', () => {
  it('is internal to the platform', async () => {
    const error = await expectCode(
      mesh.client.getKeyMaterial({ accessKeyId: 'LGSPAAAAAAAAAAAAAAAA' }, asApp(financeApp, FINANCE)),
      Code.PermissionDenied,
    );
    expect(reasonOf(error)).toBe('INTERNAL_RPC');
  });

  it('refuses unknown keys and keys of inactive owners, with cache lifetimes and the clock policy', async () => {
    const unknown = await mesh.client.getKeyMaterial({ accessKeyId: 'LGSPAAAAAAAAAAAAAAAA' }, gateway);
    expect(unknown.outcome.case === 'refusal' && unknown.outcome.value.reason).toBe(
      RefusalReason.UNKNOWN_KEY,
    );
    expect(unknown.cacheTtl?.seconds).toBe(300n);
    expect(unknown.negativeCacheTtl?.seconds).toBe(10n);
    expect(unknown.clockPolicy?.maxClockSkew?.seconds).toBe(300n);
    const garbage = await mesh.client.getKeyMaterial({ accessKeyId: '../../etc' }, gateway);
    expect(garbage.outcome.case === 'refusal' && garbage.outcome.value.reason).toBe(
      RefusalReason.UNKNOWN_KEY,
    );

    const app = await registerApp(mesh, FINANCE, 'Sẽ bị tạm dừng');
    const id = (
      await mesh.client.createCredential({ owner: { owner: { case: 'appId', value: app } } }, admin)
    ).credential!.accessKeyId;
    expect((await material(id)).case).toBe('material');
    await mesh.registryClient.setAppStatus({ id: app, status: AppStatus.SUSPENDED }, admin);
    const inactive = await material(id);
    expect(inactive.case === 'refusal' && inactive.value.reason).toBe(RefusalReason.OWNER_INACTIVE);
    await mesh.registryClient.setAppStatus({ id: app, status: AppStatus.ACTIVE }, admin);
    expect((await material(id)).case).toBe('material');
  });
});

describe('background work', () => {
  it('records last use from the gateways’ usage broadcasts', async () => {
    const id = (
      await mesh.client.createCredential({ owner: { owner: { case: 'appId', value: financeApp } } }, admin)
    ).credential!.accessKeyId;
    expect(
      (await mesh.client.getCredential({ accessKeyId: id }, admin)).credential?.lastUsedTime,
    ).toBeUndefined();
    await mesh.auth.context.bus.broadcast(
      subjectOf(mesh.config.busPrefix, 'auth', 'used'),
      Buffer.from(JSON.stringify([id, 'LGSPAAAAAAAAAAAAAAAA'])),
    );
    await expect
      .poll(
        async () => (await mesh.client.getCredential({ accessKeyId: id }, admin)).credential?.lastUsedTime,
        {
          timeout: 3_000,
        },
      )
      .toBeDefined();
  });

  it('marks expired credentials, warns of expiring ones, and tells the caches', async () => {
    const ctx = mesh.auth.context;
    const soon = await mesh.client.createCredential(
      {
        owner: { owner: { case: 'appId', value: homeAffairsApp } },
        expireTime: timestampFromDate(new Date(Date.now() + 1_200)),
      },
      admin,
    );
    const later = await mesh.client.createCredential(
      {
        owner: { owner: { case: 'appId', value: homeAffairsApp } },
        expireTime: timestampFromDate(new Date(Date.now() + 3 * 24 * 3600_000)),
      },
      admin,
    );
    const broadcasts: string[] = [];
    const listening = await ctx.bus.listen(
      subjectOf(mesh.config.busPrefix, 'auth', 'revoked'),
      (_s, data) => {
        broadcasts.push(Buffer.from(data).toString('utf8'));
      },
    );
    await new Promise((r) => setTimeout(r, 1_300));
    // The background sweep may get there first; either way the outcome is the same.
    await sweepCredentials(ctx);
    await expect.poll(() => broadcasts, { timeout: 1_000 }).toContain(soon.credential!.accessKeyId);
    await listening.stop();
    const rows = await ctx.db
      .selectFrom('credentials')
      .select(['access_key_id', 'status', 'version', 'expiry_warned_at'])
      .where('access_key_id', 'in', [soon.credential!.accessKeyId, later.credential!.accessKeyId])
      .orderBy('expires_at')
      .execute();
    expect(rows.map((r) => [r.status, r.version, r.expiry_warned_at !== null])).toEqual([
      ['expired', 2, false],
      ['active', 2, true],
    ]);
    const again = await sweepCredentials(ctx);
    expect(again.expired).not.toContain(soon.credential!.accessKeyId);
    expect(again.warned).not.toContain(later.credential!.accessKeyId);
  });
});
