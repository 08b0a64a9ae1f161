/** The per-app staging quota (LGSP_APP_STAGING_QUOTA_BYTES): reservations beyond it are refused, per app. */
import { randomBytes } from 'node:crypto';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PurgeReason } from '#gen/lgsp/storage/v1/resources_pb.js';
import { expectCode, reasonOf } from '../../../test/support/errors.js';
import { MiB, newApp, reserve, sha256, startTestStorage, type TestStorage, TRANSFER } from './support.js';

describe('staging quota', () => {
  let storage: TestStorage;
  beforeAll(async () => {
    storage = await startTestStorage('fs', { appStagingQuotaBytes: 10 * MiB, maxBlobBytes: 64 * MiB });
  });
  afterAll(async () => {
    await storage?.close();
  });

  const declared = (size: number) => ({ size, sha256: sha256(randomBytes(4)) });

  it('refuses a reservation that would pass the quota, counting only live STAGING blobs of that app', async () => {
    const app = newApp();
    const first = await reserve(storage, app.appId, declared(6 * MiB));
    await reserve(storage, app.appId, declared(4 * MiB)); // exactly at the quota
    const error = await expectCode(reserve(storage, app.appId, declared(1)), Code.ResourceExhausted);
    expect(reasonOf(error)).toBe('QUOTA_EXCEEDED');
    expect(
      error.findDetails((await import('#gen/lgsp/common/v1/common_pb.js')).ErrorInfoSchema)[0]?.metadata,
    ).toMatchObject({
      app_id: app.appId,
      quota_bytes: String(10 * MiB),
      held_bytes: String(10 * MiB),
      requested_bytes: '1',
    });

    // Another app has its own quota.
    await reserve(storage, newApp().appId, declared(10 * MiB));

    // Content that leaves STAGING (purged here; sealed alike) no longer counts, nor does an expired space.
    await storage.client.purge({ blobId: first.blobId, reason: PurgeReason.CANCELLED }, TRANSFER);
    const again = await reserve(storage, app.appId, declared(5 * MiB));
    await storage.ctx.db
      .updateTable('blobs')
      .set({ expire_at: new Date(Date.now() - 1) })
      .where('id', '=', again.blobId)
      .execute();
    await reserve(storage, app.appId, declared(6 * MiB));
  });

  it('lets only one of two racing reservations take the last room', async () => {
    const app = newApp();
    const results = await Promise.allSettled([
      reserve(storage, app.appId, declared(6 * MiB)),
      reserve(storage, app.appId, declared(6 * MiB)),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });
});
