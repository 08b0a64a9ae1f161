import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretBox } from '#lib/crypto/secret-box.js';
import { openDatabase } from '#lib/db/database.js';
import { dropSchemas } from '../../../test/support/cleanup.js';
import { TEST_DATABASE_URL, uniqueName } from '../../../test/support/env.js';
import { ensureFirstAdmin } from '../src/bootstrap.js';
import type { AuthDatabase } from '../src/db/schema.js';
import { asService, hmacKey, signed, startTestAuth, type TestMesh } from './support.js';

const run = promisify(execFile);
let mesh: TestMesh;

beforeAll(async () => {
  mesh = await startTestAuth();
});
afterAll(async () => {
  await mesh?.close();
});

describe('ensureFirstAdmin', () => {
  it('creates exactly one administrator, however many replicas try at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () => ensureFirstAdmin(mesh.auth.context, 'ops-first-admin')),
    );
    const created = results.filter((r) => r !== undefined);
    expect(created).toHaveLength(1);
    const admin = created[0]!;
    expect(admin.accessKeyId).toMatch(/^LGSP[A-Z2-7]{16}$/);
    expect(await ensureFirstAdmin(mesh.auth.context, 'ops-first-admin')).toBeUndefined();

    const verdict = await mesh.client.verifyRequestSignature(
      { request: signed({ accessKeyId: admin.accessKeyId, key: hmacKey(admin.secret) }) },
      asService('gateway'),
    );
    expect(verdict.outcome.case === 'caller' && verdict.outcome.value.roles).toEqual(['admin']);
    const credential = await mesh.client.getCredential(
      { accessKeyId: admin.accessKeyId },
      asService('console'),
    );
    expect(credential.credential?.owner?.owner).toEqual({ case: 'operatorName', value: 'ops-first-admin' });
    expect(credential.credential?.createdBy).toBe('bootstrap');
  });

  it('creates another one only when forced, and again when no administrator can sign', async () => {
    const forced = await ensureFirstAdmin(mesh.auth.context, 'ops-second', { forceNew: true });
    expect(forced).toBeDefined();
    await mesh.auth.context.db
      .updateTable('credentials')
      .set({ status: 'revoked' })
      .where('owner_operator_name', 'is not', null)
      .execute();
    expect(await ensureFirstAdmin(mesh.auth.context, 'ops-third')).toBeDefined();
    await expect(ensureFirstAdmin(mesh.auth.context, 'Not A Name')).rejects.toThrow(/operator name/);
  });
});

describe('create-admin command', () => {
  const schema = uniqueName('auth_cli');
  const masterKey = randomBytes(32);
  const env = {
    ...process.env,
    DATABASE_URL: TEST_DATABASE_URL,
    DB_SCHEMA: schema,
    LGSP_MASTER_KEY: masterKey.toString('base64'),
    LOG_LEVEL: 'silent',
  };
  const cli = (args: string[], environment: NodeJS.ProcessEnv = env) =>
    run(process.execPath, ['--import', 'tsx', 'services/auth/src/bin/create-admin.ts', ...args], {
      env: environment,
      cwd: new URL('../../../', import.meta.url).pathname,
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );

  afterAll(async () => {
    await dropSchemas([schema]);
  });

  it('prints the first administrator once, refuses a second, and creates one when forced', async () => {
    const first = await cli(['--name', 'ops-install']);
    expect(first.code, first.stderr).toBe(0);
    const printed = JSON.parse(first.stdout) as {
      access_key_id: string;
      secret_key: string;
      operator_name: string;
    };
    expect(printed.operator_name).toBe('ops-install');
    expect(printed.secret_key).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const database = await openDatabase({ kind: 'postgres', url: TEST_DATABASE_URL });
    try {
      const row = await database
        .forSchema<AuthDatabase>(schema)
        .selectFrom('credentials')
        .selectAll()
        .where('access_key_id', '=', printed.access_key_id)
        .executeTakeFirstOrThrow();
      expect(row.roles).toEqual(['admin']);
      const opened = createSecretBox(masterKey).open(row.secret_ciphertext!, row.access_key_id);
      expect(opened.toString('utf8')).toBe(printed.secret_key);
    } finally {
      await database.close();
    }

    const second = await cli([]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('--force-new');
    expect(second.stdout).toBe('');
    const forced = await cli(['--force-new', '--name', 'ops-recovery']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ operator_name: 'ops-recovery' });
  }, 60_000);

  it('stops with a clear message without a master key', async () => {
    const { LGSP_MASTER_KEY: _, ...withoutKey } = env;
    const res = await cli([], withoutKey);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('LGSP_MASTER_KEY is required');
  }, 30_000);
});
