/**
 * `clients/shell/lgsp-call`, the legacy client docs/auth.md promises: bash,
 * curl and openssl sign a Connect JSON request, against a live gateway. The
 * tools are required: without them the suite fails, it never skips.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type E2eMesh, postJson, startE2eMesh } from './support.js';

const run = promisify(execFile);
const LGSP_CALL = fileURLToPath(new URL('../../clients/shell/lgsp-call', import.meta.url));
const REGISTRY = 'lgsp.registry.v1.RegistryService';
const AUTH = 'lgsp.auth.v1.AuthService';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field.
type Json = any;

let e2e: E2eMesh;
let keyDir: string;

beforeAll(async () => {
  await requireTools(['bash', 'curl', 'openssl', 'date', 'sed']);
  e2e = await startE2eMesh();
  keyDir = mkdtempSync(join(tmpdir(), 'lgsp-shell-'));
});

afterAll(async () => {
  if (keyDir !== undefined) rmSync(keyDir, { recursive: true, force: true });
  await e2e?.close();
});

/** Fails the suite, loudly, when a tool the script needs is not on PATH. */
async function requireTools(tools: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const tool of tools) {
    await run('bash', ['-c', 'command -v "$1"', 'probe', tool]).catch(() => missing.push(tool));
  }
  if (missing.length > 0) {
    throw new Error(
      `clients/shell/lgsp-call needs these tools on PATH, which are missing: ${missing.join(', ')}`,
    );
  }
}

/** What one run of the script gave: its exit code and the answer it printed. */
interface ShellAnswer {
  readonly exitCode: number;
  readonly body: Json;
  readonly stderr: string;
}

/**
 * Runs `lgsp-call <Service/Method> <json>` with only PATH and the LGSP_*
 * variables given, so nothing from the test runner's environment leaks in.
 */
async function lgspCall(rpc: string, request: unknown, env: Record<string, string>): Promise<ShellAnswer> {
  const options = {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LGSP_URL: e2e.url, ...env },
    timeout: 15_000,
  };
  try {
    const { stdout, stderr } = await run('bash', [LGSP_CALL, rpc, JSON.stringify(request)], options);
    return { exitCode: 0, body: JSON.parse(stdout), stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    const stdout = failed.stdout ?? '';
    return {
      exitCode: failed.code,
      body: stdout === '' ? undefined : JSON.parse(stdout),
      stderr: failed.stderr ?? '',
    };
  }
}

const adminEnv = () => ({ LGSP_ACCESS_KEY_ID: e2e.admin.accessKeyId, LGSP_SECRET_KEY: adminSecret() });

function adminSecret(): string {
  const { key } = e2e.admin;
  if (key.kind !== 'hmac' || typeof key.secret !== 'string')
    throw new Error('the first administrator signs with HMAC');
  return key.secret;
}

function expectOk(answer: ShellAnswer): Json {
  expect(answer.exitCode, `${JSON.stringify(answer.body)} ${answer.stderr}`).toBe(0);
  return answer.body;
}

/** Exit code 1 and the platform's error JSON, with its reason. */
function expectRefused(answer: ShellAnswer, code: string, reason: string): void {
  expect(answer.exitCode).toBe(1);
  expect(answer.body?.code, JSON.stringify(answer.body)).toBe(code);
  const info = answer.body.details?.find((d: { type: string }) => d.type === 'lgsp.common.v1.ErrorInfo');
  expect(info?.debug?.reason).toBe(reason);
}

async function registerApp(name: string): Promise<string> {
  const answer = await postJson(
    e2e.url,
    'RegisterApp',
    { unitCode: '000.00.03.H26', name, kind: 'APP_KIND_DOCUMENT_SYSTEM' },
    { signer: e2e.admin },
  );
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body.app.id;
}

const unit = (code: string, name: string) => ({
  code,
  name,
  parentCode: '000.00.00.H26',
  kind: 'UNIT_KIND_OTHER',
});

describe('lgsp-call', () => {
  it('creates a unit as the administrator, with a name outside ASCII', async () => {
    const created = expectOk(
      await lgspCall(`${REGISTRY}/CreateUnit`, unit('000.00.60.H26', 'Trung tâm Chuyển đổi số'), adminEnv()),
    );
    expect(created.unit).toMatchObject({ code: '000.00.60.H26', status: 'UNIT_STATUS_ACTIVE' });
    // Read back without the script: the write really happened.
    const read = await postJson(e2e.url, 'GetUnit', { code: '000.00.60.H26' });
    expect(read.body.unit.name).toBe('Trung tâm Chuyển đổi số');
  });

  it('reads a public RPC', async () => {
    const { units } = expectOk(
      await lgspCall(`${REGISTRY}/SearchUnits`, { query: 'so tai chinh' }, adminEnv()),
    );
    expect(units[0]).toMatchObject({ code: '000.00.03.H26', name: 'Sở Tài chính' });
  });

  it('exits 1 with the unauthenticated error for a wrong secret, and writes nothing', async () => {
    const answer = await lgspCall(`${REGISTRY}/CreateUnit`, unit('000.00.61.H26', 'Sai khóa'), {
      ...adminEnv(),
      LGSP_SECRET_KEY: 'not-the-secret-of-this-key',
    });
    expectRefused(answer, 'unauthenticated', 'BAD_SIGNATURE');
    expect((await postJson(e2e.url, 'GetUnit', { code: '000.00.61.H26' })).status).toBe(404);
  });

  it('signs with an RSA private key file (RSA-SHA256)', async () => {
    const appId = await registerApp('QLVB RSA');
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(keyDir, 'app.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const registered = await postJson(
      e2e.url,
      'RegisterPublicKey',
      { appId, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) },
      { service: AUTH, signer: e2e.admin },
    );
    expect(registered.status, JSON.stringify(registered.body)).toBe(200);
    const accessKeyId: string = registered.body.credential.accessKeyId;

    const { credentials } = expectOk(
      await lgspCall(
        `${AUTH}/ListCredentials`,
        {},
        {
          LGSP_ACCESS_KEY_ID: accessKeyId,
          LGSP_ALGORITHM: 'RSA-SHA256',
          LGSP_PRIVATE_KEY: keyFile,
        },
      ),
    );
    // Signed as the app: it sees its own credential, and only its own.
    expect(credentials.map((c: Json) => [c.accessKeyId, c.owner.appId])).toEqual([[accessKeyId, appId]]);
  });

  it('signs with HMAC-SHA1 for a credential that allows it', async () => {
    const appId = await registerApp('QLVB SHA1');
    const created = await postJson(
      e2e.url,
      'CreateCredential',
      { owner: { appId }, allowLegacySha1: true },
      { service: AUTH, signer: e2e.admin },
    );
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const env = {
      LGSP_ACCESS_KEY_ID: created.body.credential.accessKeyId,
      LGSP_SECRET_KEY: created.body.secretKey,
      LGSP_ALGORITHM: 'HMAC-SHA1',
    };
    const { credentials } = expectOk(await lgspCall(`${AUTH}/ListCredentials`, {}, env));
    expect(credentials.map((c: Json) => c.owner.appId)).toEqual([appId]);
  });

  it('exits 2 on bad usage, before sending anything', async () => {
    const answer = await lgspCall(`${REGISTRY}/GetUnit`, {}, { ...adminEnv(), LGSP_ALGORITHM: 'HMAC-MD5' });
    expect(answer.exitCode).toBe(2);
    expect(answer.stderr).toContain('LGSP_ALGORITHM');
  });
});
