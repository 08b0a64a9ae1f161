/**
 * The unary RPCs as a legacy client reaches them: Connect JSON over
 * HTTP/1.1, `bytes` fields as base64. Called on the service directly with the
 * caller entry the gateway would add.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLER_HEADER } from '#lib/rpc/caller.js';
import { MiB, newApp, reserve, sha256, startTestStorage, type TestStorage, TRANSFER } from './support.js';

describe('storage over Connect JSON', () => {
  let storage: TestStorage;
  beforeAll(async () => {
    storage = await startTestStorage('fs');
  });
  afterAll(async () => {
    await storage?.close();
  });

  async function call(method: string, body: unknown, as: { headers: Record<string, string> }) {
    const res = await fetch(`${storage.running.url}/lgsp.storage.v1.StorageService/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [CALLER_HEADER]: as.headers[CALLER_HEADER]! },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('uploads with UploadChunk and reads back with DownloadChunk, bytes as base64', async () => {
    const owner = newApp();
    const recipient = newApp();
    const content = randomBytes(MiB + 100);
    const { blobId, token } = await reserve(storage, owner.appId, content);

    const first = await call(
      'UploadChunk',
      { blobId, uploadToken: token, offset: '0', chunk: content.subarray(0, MiB).toString('base64') },
      owner.as,
    );
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ receivedBytes: String(MiB), blob: { state: 'BLOB_STATE_STAGING' } });

    const wrong = await call(
      'UploadChunk',
      { blobId, uploadToken: token, offset: '5', chunk: 'AAAA' },
      owner.as,
    );
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ code: 'failed_precondition' });
    expect(JSON.stringify(wrong.body)).toContain('OFFSET_MISMATCH');

    const last = await call(
      'UploadChunk',
      { blobId, upload_token: token, offset: String(MiB), chunk: content.subarray(MiB).toString('base64') },
      owner.as,
    );
    expect(last.body).toMatchObject({
      receivedBytes: String(content.length),
      blob: { state: 'BLOB_STATE_SEALED' },
    });
    expect(last.body['blob']).toMatchObject({ sha256: sha256(content).toString('base64') });

    const granted = await storage.client.grantDownload({ blobId, appId: recipient.appId }, TRANSFER);
    const piece = await call(
      'DownloadChunk',
      { blobId, downloadToken: granted.downloadToken, offset: String(MiB) },
      recipient.as,
    );
    expect(Buffer.from(piece.body['chunk'] as string, 'base64').equals(content.subarray(MiB))).toBe(true);
    expect(piece.body).toMatchObject({ eof: true, offset: String(MiB), sizeBytes: String(content.length) });
  });
});
