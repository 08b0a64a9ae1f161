/**
 * The storage service's rotate-master-key command, run as a child process: a
 * blob stored under master key A downloads unchanged from a storage service
 * holding only B once its data key is re-wrapped.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { rotateCli } from '../../../test/support/rotate-cli.js';
import { masterKeyId } from '../src/crypto/data-keys.js';
import { downloadAll, MiB, newApp, sha256, startTestStorage, type TestStorage, TRANSFER } from './support.js';

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const started: TestStorage[] = [];

describe('storage rotate-master-key', () => {
  afterAll(async () => {
    for (const s of started.reverse()) await s.close();
  });

  it('re-wraps the data keys under B; the content downloads with B alone; a second run changes nothing', async () => {
    const a = await startTestStorage('fs', { masterKey: keyA });
    started.push(a);
    const owner = newApp();
    const content = randomBytes(MiB + 17);
    const put = await a.client.putBlob(
      {
        ownerAppId: owner.appId,
        transferId: 'trf_rotate',
        contentType: 'application/pdf',
        content,
        sha256: sha256(content),
      },
      TRANSFER,
    );
    const blobId = put.blob!.id;
    expect(put.blob!.encryption!.masterKeyId).toBe(masterKeyId(keyA));
    const schema = a.config.dbSchema;

    const wrong = await rotateCli('storage', schema, { current: keyB, previous: randomBytes(32) });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`blobs.wrapped_key: 1 (first: ${blobId})`);

    const first = await rotateCli('storage', schema, { current: keyB, previous: keyA }, [
      '--batch-size',
      '1',
    ]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('blobs.wrapped_key: 1 values, 1 re-sealed');
    const second = await rotateCli('storage', schema, { current: keyB, previous: keyA });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('blobs.wrapped_key: 1 values, 0 re-sealed, 1 already');

    const b = await startTestStorage('fs', {
      masterKey: keyB,
      dbSchema: schema,
      storageDir: a.config.storageDir,
      dataDir: a.config.dataDir,
      busPrefix: a.config.busPrefix,
    });
    started.push(b);
    const got = await downloadAll(b, { blobId }, TRANSFER);
    expect(got.content.equals(content)).toBe(true);
    const stat = await b.client.stat({ blobId }, TRANSFER);
    expect(stat.blob!.encryption!.masterKeyId).toBe(masterKeyId(keyB));
  }, 120_000);
});
