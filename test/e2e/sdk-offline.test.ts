/**
 * The SDK against fake servers, no platform: retries on `unavailable` (which
 * calls, how often, within the deadline), a download whose bytes do not
 * match their digest, and the typed errors.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorInfoSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { StorageService } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import {
  DigestMismatchError,
  InvalidArgumentError,
  isRetryable,
  LgspClient,
  LgspError,
  NotFoundError,
  UnavailableError,
} from '#sdk';

const credentials = { accessKeyId: 'LGSPFAKEKEY000000001', secretKey: 'not-a-real-secret' };
const content = Buffer.from('Nội dung văn bản gốc, không bị sửa đổi. '.repeat(2000));
const digest = createHash('sha256').update(content).digest();

interface Fake {
  url: string;
  calls: Map<string, number>;
  headers: Map<string, Headers>;
  failFirst: number;
  close(): Promise<void>;
}

async function fakeServer(routes: (router: ConnectRouter, fake: Fake) => void): Promise<Fake> {
  const fake = { calls: new Map(), headers: new Map(), failFirst: 0 } as unknown as Fake;
  const server = http2.createServer(connectNodeAdapter({ routes: (router) => routes(router, fake) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise((resolve) => server.close(() => resolve()));
  return fake;
}

/** Counts the call, keeps its headers, and fails it `unavailable` while the count is within `failFirst`. */
function count(fake: Fake, name: string, headers: Headers): void {
  const n = (fake.calls.get(name) ?? 0) + 1;
  fake.calls.set(name, n);
  fake.headers.set(name, headers);
  if (n <= fake.failFirst) throw new ConnectError('replica going away', Code.Unavailable);
}

let fake: Fake;
let clients: LgspClient[] = [];
const client = (options: ConstructorParameters<typeof LgspClient>[0] = {}) => {
  const made = new LgspClient({ url: fake.url, credentials, env: {}, ...options });
  clients.push(made);
  return made;
};

beforeAll(async () => {
  fake = await fakeServer((router, f) => {
    router.service(RegistryService, {
      searchUnits(_req, ctx) {
        count(f, 'SearchUnits', ctx.requestHeader);
        return { units: [{ code: '000.00.03.H26', name: 'Sở Tài chính' }], totalSize: 1 };
      },
      createUnit(_req, ctx) {
        count(f, 'CreateUnit', ctx.requestHeader);
        return {};
      },
      getUnit(req) {
        const info = create(ErrorInfoSchema, { reason: 'UNIT_NOT_FOUND', metadata: { code: req.code } });
        throw new ConnectError(`unit ${req.code} not found`, Code.NotFound, undefined, [
          { desc: ErrorInfoSchema, value: info },
        ]);
      },
    });
    router.service(TransferService, {
      createTransfer(req, ctx) {
        count(f, `CreateTransfer:${req.idempotencyKey}`, ctx.requestHeader);
        return {};
      },
      acceptDelivery(_req, ctx) {
        count(f, 'AcceptDelivery', ctx.requestHeader);
        return {};
      },
    });
    router.service(StorageService, {
      async *download(req, ctx) {
        count(f, 'Download', ctx.requestHeader);
        // Announces the original's size and SHA-256, then sends bytes changed on the way.
        yield { part: { case: 'header', value: { sizeBytes: BigInt(content.length), sha256: digest } } };
        const tampered = Buffer.from(content);
        tampered[100] = tampered[100]! ^ 0xff;
        yield { part: { case: 'chunk', value: tampered.subarray(Number(req.offset)) } };
      },
    });
  });
});

afterEach(() => {
  for (const c of clients) c.close();
  clients = [];
  fake.calls.clear();
  fake.failFirst = 0;
});

afterAll(async () => {
  await fake?.close();
});

describe('retries', () => {
  it('retries a read on unavailable with back-off, signing each attempt afresh', async () => {
    fake.failFirst = 2;
    const retries: number[] = [];
    const c = client({ retry: { initialBackoffMs: 20, onRetry: (r) => retries.push(r.delayMs) } });
    const units = await c.searchUnits('tai chinh');
    expect(units[0]?.name).toBe('Sở Tài chính');
    expect(fake.calls.get('SearchUnits')).toBe(3);
    expect(retries).toHaveLength(2);
    // Exponential with jitter: the second wait is drawn from [20, 40) ms, the first from [10, 20).
    expect(retries[0]).toBeGreaterThanOrEqual(10);
    expect(retries[0]).toBeLessThan(20);
    expect(retries[1]).toBeGreaterThanOrEqual(20);
    expect(retries[1]).toBeLessThan(40);
    expect(fake.headers.get('SearchUnits')?.get('lgsp-nonce')).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('gives up after maxAttempts with an UnavailableError', async () => {
    fake.failFirst = 10;
    const c = client({ retry: { maxAttempts: 3, initialBackoffMs: 5 } });
    const error = await c.searchUnits('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error).toBeInstanceOf(LgspError);
    expect((error as LgspError).hint).toMatch(/LGSP_URL/);
    expect(fake.calls.get('SearchUnits')).toBe(3);
  });

  it('never retries a write that is not idempotent', async () => {
    fake.failFirst = 1;
    const c = client({ retry: { initialBackoffMs: 5 } });
    await expect(c.registry.createUnit({ code: '000.00.50.H26' })).rejects.toBeInstanceOf(UnavailableError);
    expect(fake.calls.get('CreateUnit')).toBe(1);
    await expect(c.transfers.acceptDelivery({ deliveryId: 'dlv_0' })).rejects.toBeInstanceOf(
      UnavailableError,
    );
    expect(fake.calls.get('AcceptDelivery')).toBe(1);
    // CreateTransfer without an idempotency key: once; with one: retried.
    await expect(c.transfers.createTransfer({ subject: 'x' })).rejects.toBeInstanceOf(UnavailableError);
    expect(fake.calls.get('CreateTransfer:')).toBe(1);
    fake.failFirst = 1;
    await c.transfers.createTransfer({ subject: 'x', idempotencyKey: 'k-1' });
    expect(fake.calls.get('CreateTransfer:k-1')).toBe(2);
  });

  it('stops retrying when the deadline passes', async () => {
    fake.failFirst = 100;
    const c = client({
      timeoutMs: 300,
      retry: { maxAttempts: 100, initialBackoffMs: 100, maxBackoffMs: 100 },
    });
    const started = Date.now();
    const error = (await c.searchUnits('x').catch((e: unknown) => e)) as LgspError;
    expect(error).toBeInstanceOf(UnavailableError);
    expect([Code.DeadlineExceeded, Code.Unavailable]).toContain(error.code);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(fake.calls.get('SearchUnits')).toBeLessThan(6);
  });

  it('retries a server that is not listening, then says so', async () => {
    const c = new LgspClient({
      url: 'http://127.0.0.1:9',
      credentials: null,
      env: {},
      retry: { maxAttempts: 2, initialBackoffMs: 5 },
    });
    clients.push(c);
    const error = (await c.searchUnits('x').catch((e: unknown) => e)) as LgspError;
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.codeName).toBe('unavailable');
  });

  it('classifies calls as the documentation says', () => {
    const req = (service: string, method: string, message: object = {}) =>
      ({ method: { name: method, parent: { typeName: service } }, message }) as never;
    expect(isRetryable(req('lgsp.transfer.v1.TransferService', 'ConfirmDelivery'))).toBe(true);
    expect(isRetryable(req('lgsp.transfer.v1.TransferService', 'AcceptDelivery'))).toBe(false);
    expect(isRetryable(req('lgsp.notification.v1.NotificationService', 'SendNotice'))).toBe(false);
    expect(
      isRetryable(req('lgsp.transfer.v1.TransferService', 'CreateTransfer', { idempotencyKey: 'a' })),
    ).toBe(true);
  });
});

describe('typed errors', () => {
  it('maps the code and the ErrorInfo reason', async () => {
    const error = (await client()
      .registry.getUnit({ code: '000.00.99.H26' })
      .catch((e: unknown) => e)) as NotFoundError;
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).not.toBeInstanceOf(InvalidArgumentError);
    expect(error).toBeInstanceOf(ConnectError);
    expect(error.reason).toBe('UNIT_NOT_FOUND');
    expect(error.info).toEqual({ code: '000.00.99.H26' });
    expect(error.toJSON()).toMatchObject({ code: 'not_found', reason: 'UNIT_NOT_FOUND' });
    expect(String(error.stack)).toMatch(/^NotFoundError: \[not_found\] unit 000.00.99.H26 not found/);
  });
});

describe('downloads', () => {
  it('detects bytes that do not match the digest, and deletes the partial file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lgsp-sdk-'));
    try {
      const target = join(dir, 'van-ban.txt');
      const space = { blobId: 'blb_0000000000000001', downloadToken: 't', sha256: digest };
      const error = (await client()
        .download(space, target)
        .catch((e: unknown) => e)) as DigestMismatchError;
      expect(error).toBeInstanceOf(DigestMismatchError);
      expect(error.code).toBe(Code.DataLoss);
      expect(error.expectedSha256).toBe(digest.toString('hex'));
      expect(error.actualSha256).not.toBe(error.expectedSha256);
      expect(error.message).toMatch(/partial file was deleted/);
      expect(existsSync(target)).toBe(false);
      expect(existsSync(`${target}.part`)).toBe(false);

      // With quarantine the bytes are kept aside, never under the target name.
      const kept = (await client()
        .download(space, target, { quarantine: true })
        .catch((e: unknown) => e)) as DigestMismatchError;
      expect(kept).toBeInstanceOf(DigestMismatchError);
      expect(existsSync(target)).toBe(false);
      expect(readFileSync(`${target}.rejected`).length).toBe(content.length);

      // Without an expected digest, the one the stream announced is checked.
      await expect(client().download({ blobId: space.blobId, downloadToken: 't' })).rejects.toBeInstanceOf(
        DigestMismatchError,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('documentation', () => {
  it('shows the examples exactly as the tests run them', () => {
    const docs = readFileSync('docs/clients.md', 'utf8');
    const readme = readFileSync('sdk/README.md', 'utf8');
    for (const name of ['send.ts', 'receive.ts', 'watch.ts']) {
      const code = `\`\`\`ts\n${readFileSync(join('sdk/examples', name), 'utf8')}\`\`\``;
      expect(docs.includes(code), `docs/clients.md shows sdk/examples/${name} as it is`).toBe(true);
      if (name !== 'receive.ts')
        expect(readme.includes(code), `sdk/README.md shows ${name} as it is`).toBe(true);
    }
  });
});
