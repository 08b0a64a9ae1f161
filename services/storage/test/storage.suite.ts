/**
 * Every RPC of the storage service, through a real server over gRPC, against
 * the real Postgres and NATS; run once per blob adapter. Internal RPCs are
 * called as the transfer service, public ones as apps, as the gateway would
 * pass them on.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Code, ConnectError } from '@connectrpc/connect';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorInfoSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { BlobState, PurgeReason, StorageBackend } from '#gen/lgsp/storage/v1/resources_pb.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import type { BlobBackendName } from '../src/blobs/port.js';
import { sweepStorage } from '../src/consumers/sweep.js';
import { storageSubjects } from '../src/db/events.js';
import {
  asService,
  downloadAll,
  grant,
  MiB,
  newApp,
  reserve,
  seconds,
  sha256,
  startTestStorage,
  type TestStorage,
  TRANSFER,
  uploadMessages,
} from './support.js';

const metadataOf = (error: ConnectError) => error.findDetails(ErrorInfoSchema)[0]?.metadata ?? {};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function storageSuite(backend: BlobBackendName): void {
  describe(`storage service (${backend} adapter)`, () => {
    let storage: TestStorage;

    beforeAll(async () => {
      storage = await startTestStorage(backend);
    });
    afterAll(async () => {
      await storage?.close();
    });

    const upload = async (
      blobId: string,
      token: string,
      data: Uint8Array,
      as: object,
      offset = 0,
      chunk = MiB,
    ) => storage.client.upload(uploadMessages(blobId, token, data, offset, chunk), as);

    const chunk = (blobId: string, uploadToken: string, offset: number, bytes: Uint8Array, as: object) =>
      storage.client.uploadChunk({ blobId, uploadToken, offset: BigInt(offset), chunk: bytes }, as);

    const stat = async (blobId: string) => (await storage.client.stat({ blobId }, TRANSFER)).blob!;

    /** Waits until an upload interrupted on the client side has been settled by the server. */
    /** The bytes received once they stop changing for a second (a loaded server may still be writing a part). */
    async function settledReceived(blobId: string, token: string, as: object): Promise<number> {
      let last = -1;
      let same = 0;
      for (let i = 0; i < 200; i++) {
        const { receivedBytes } = await storage.client.getUploadStatus({ blobId, uploadToken: token }, as);
        same = Number(receivedBytes) === last ? same + 1 : 0;
        if (same >= 4) return last;
        last = Number(receivedBytes);
        await sleep(250);
      }
      return last;
    }

    describe('ReserveBlob', () => {
      it('creates a STAGING blob with a one-time upload token', async () => {
        const { appId } = newApp();
        const content = randomBytes(1000);
        const res = await storage.client.reserveBlob(
          {
            ownerAppId: appId,
            transferId: 'trf_0123456789abcdef',
            contentType: 'application/xml; charset=utf-8',
            sizeBytes: 1000n,
            sha256: sha256(content),
            ttl: seconds(120),
          },
          TRANSFER,
        );
        const blob = res.blob!;
        expect(blob.id).toMatch(/^blb_[0-9a-f]{16}$/);
        expect(blob.state).toBe(BlobState.STAGING);
        expect(blob.ownerAppId).toBe(appId);
        expect(blob.sizeBytes).toBe(1000n);
        expect(blob.receivedBytes).toBe(0n);
        expect(Buffer.from(blob.sha256).equals(sha256(content))).toBe(true);
        expect(blob.backend).toBe(
          backend === 'fs' ? StorageBackend.LOCAL_FS : StorageBackend.NATS_OBJECT_STORE,
        );
        expect(blob.encryption).toMatchObject({ algorithm: 'AES-256-GCM', chunkSizeBytes: 65536 });
        expect(blob.encryption!.masterKeyId).toMatch(/^mk-[0-9a-f]{12}$/);
        expect(res.uploadToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
        const ttl = Number(res.tokenExpireTime!.seconds) - Number(blob.createTime!.seconds);
        expect(ttl).toBeGreaterThanOrEqual(119);
        expect(ttl).toBeLessThanOrEqual(121);
        // Only the token's digest is stored.
        const row = await storage.ctx.db
          .selectFrom('blobs')
          .selectAll()
          .where('id', '=', blob.id)
          .executeTakeFirstOrThrow();
        expect(Buffer.from(row.upload_token_sha256!).equals(sha256(Buffer.from(res.uploadToken)))).toBe(true);
        expect(row.wrapped_key!.length).toBeGreaterThan(32);
      });

      it('lists every invalid field at once', async () => {
        const error = await expectCode(
          storage.client.reserveBlob(
            {
              ownerAppId: '',
              transferId: 'a b',
              contentType: 'pdf',
              sizeBytes: 0n,
              sha256: randomBytes(31),
              ttl: seconds(5),
            },
            TRANSFER,
          ),
          Code.InvalidArgument,
        );
        expect(violatedFields(error).sort()).toEqual(
          ['content_type', 'owner_app_id', 'sha256', 'size_bytes', 'transfer_id', 'ttl'].sort(),
        );
        const tooBig = await expectCode(
          storage.client.reserveBlob(
            {
              ownerAppId: 'app_1',
              transferId: 't1',
              contentType: 'application/pdf',
              sizeBytes: 3n * 1024n ** 3n,
              sha256: randomBytes(32),
            },
            TRANSFER,
          ),
          Code.InvalidArgument,
        );
        expect(violatedFields(tooBig)).toEqual(['size_bytes']);
      });

      it('is internal: an app may not reserve', async () => {
        const { appId, as } = newApp();
        const error = await expectCode(
          storage.client.reserveBlob(
            {
              ownerAppId: appId,
              transferId: 't',
              contentType: 'text/plain',
              sizeBytes: 1n,
              sha256: randomBytes(32),
            },
            as,
          ),
          Code.PermissionDenied,
        );
        expect(reasonOf(error)).toBe('INTERNAL_RPC');
      });
    });

    describe('Upload and Download', () => {
      it('round-trips content through a stream: sealed on the last byte, downloaded by the recipient byte for byte', async () => {
        const owner = newApp();
        const recipient = newApp();
        const content = randomBytes(3 * MiB + 12_345);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        const res = await upload(blobId, token, content, owner.as, 0, 700_000);
        expect(res.blob!.state).toBe(BlobState.SEALED);
        expect(res.receivedBytes).toBe(BigInt(content.length));
        expect(res.blob!.sealTime).toBeDefined();
        expect(res.blob!.expireTime).toBeUndefined();

        const downloadToken = await grant(storage, blobId, recipient.appId);
        const got = await downloadAll(storage, { blobId, downloadToken }, recipient.as);
        expect(got.header).toMatchObject({
          sizeBytes: BigInt(content.length),
          offset: 0n,
          contentType: 'application/pdf',
        });
        expect(Buffer.from(got.header!.sha256).equals(sha256(content))).toBe(true);
        expect(got.content.equals(content)).toBe(true);
        expect(got.largest).toBeLessThanOrEqual(MiB);

        // The seal is announced through the outbox for the transfer service.
        const events = await storage.ctx.db
          .selectFrom('outbox')
          .select('subject')
          .where(sql<boolean>`headers->>'lgsp-blob-id' = ${blobId}`)
          .execute();
        const subjects = storageSubjects(storage.config.busPrefix);
        expect(events.map((e) => e.subject)).toEqual([subjects.receiving, subjects.sealed]);
      });

      it('resumes a stream that was cut off: the whole parts stay, the upload goes on from where they end', async () => {
        const owner = newApp();
        const content = randomBytes(11 * MiB + 777);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        const abort = new AbortController();
        const sentBeforeAbort = 10 * MiB;
        async function* cutOff() {
          const messages = uploadMessages(blobId, token, content.subarray(0, sentBeforeAbort), 0, MiB);
          for await (const m of messages) yield m;
          await sleep(300);
          abort.abort();
          await sleep(60_000);
        }
        await expect(
          storage.client.upload(cutOff(), { ...owner.as, signal: abort.signal }),
        ).rejects.toThrow();
        const received = await settledReceived(blobId, token, owner.as);
        expect(received).toBeGreaterThan(0);
        expect(received).toBeLessThanOrEqual(sentBeforeAbort);
        expect((await stat(blobId)).state).toBe(BlobState.STAGING);

        const wrong = await expectCode(
          upload(blobId, token, content.subarray(0, MiB), owner.as, 0),
          Code.FailedPrecondition,
        );
        expect(reasonOf(wrong)).toBe('OFFSET_MISMATCH');

        const res = await upload(blobId, token, content.subarray(received), owner.as, received);
        expect(res.blob!.state).toBe(BlobState.SEALED);
        const got = await downloadAll(storage, { blobId }, asService('transfer'));
        expect(got.content.equals(content)).toBe(true);
      }, 60_000);

      it('reads back the stored content to check the digest when this process lost the running hash', async () => {
        const owner = newApp();
        const content = randomBytes(2 * MiB + 5);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        await chunk(blobId, token, 0, content.subarray(0, MiB), owner.as);
        storage.ctx.digests.forget(blobId); // as if the next piece reached another replica
        await chunk(blobId, token, MiB, content.subarray(MiB, 2 * MiB), owner.as);
        const last = await chunk(blobId, token, 2 * MiB, content.subarray(2 * MiB), owner.as);
        expect(last.blob!.state).toBe(BlobState.SEALED);

        const bad = randomBytes(MiB + 1);
        const other = await reserve(storage, owner.appId, {
          size: bad.length,
          sha256: sha256(randomBytes(1)),
        });
        await chunk(other.blobId, other.token, 0, bad.subarray(0, MiB), owner.as);
        storage.ctx.digests.forget(other.blobId);
        const error = await expectCode(
          chunk(other.blobId, other.token, MiB, bad.subarray(MiB), owner.as),
          Code.DataLoss,
        );
        expect(reasonOf(error)).toBe('DIGEST_MISMATCH');
        expect(await storage.objectsOf(other.blobId)).toEqual([]);
      });

      it('refuses a header that is not first, a second header and an empty chunk', async () => {
        const owner = newApp();
        const { blobId, token } = await reserve(storage, owner.appId, randomBytes(10));
        async function* noHeader() {
          yield { part: { case: 'chunk' as const, value: randomBytes(10) } };
        }
        expect(
          violatedFields(await expectCode(storage.client.upload(noHeader(), owner.as), Code.InvalidArgument)),
        ).toEqual(['header']);
        async function* twoHeaders() {
          const header = {
            part: { case: 'header' as const, value: { blobId, uploadToken: token, offset: 0n } },
          };
          yield header;
          yield header;
        }
        expect(
          violatedFields(
            await expectCode(storage.client.upload(twoHeaders(), owner.as), Code.InvalidArgument),
          ),
        ).toEqual(['chunk[0]']);
        async function* emptyChunk() {
          yield { part: { case: 'header' as const, value: { blobId, uploadToken: token, offset: 0n } } };
          yield { part: { case: 'chunk' as const, value: new Uint8Array(0) } };
        }
        expect(
          violatedFields(
            await expectCode(storage.client.upload(emptyChunk(), owner.as), Code.InvalidArgument),
          ),
        ).toEqual(['chunk[0]']);
      });

      it('refuses a stream that starts at another offset than the received bytes, with the expected offset', async () => {
        const owner = newApp();
        const content = randomBytes(1000);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        const error = await expectCode(
          upload(blobId, token, content.subarray(100), owner.as, 100),
          Code.FailedPrecondition,
        );
        expect(reasonOf(error)).toBe('OFFSET_MISMATCH');
        expect(metadataOf(error)).toMatchObject({ expected_offset: '0', offset: '100' });
      });

      it('refuses more bytes than declared with OutOfRange and seals nothing', async () => {
        const owner = newApp();
        const content = randomBytes(MiB + 10);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        const longer = Buffer.concat([content, randomBytes(10)]);
        const error = await expectCode(upload(blobId, token, longer, owner.as, 0, 300_000), Code.OutOfRange);
        expect(reasonOf(error)).toBe('SIZE_EXCEEDED');
        const blob = await stat(blobId);
        expect(blob.state).toBe(BlobState.STAGING);
        expect(blob.receivedBytes).toBeLessThan(BigInt(content.length));
        // The upload can still be completed correctly.
        const res = await upload(
          blobId,
          token,
          content.subarray(Number(blob.receivedBytes)),
          owner.as,
          Number(blob.receivedBytes),
        );
        expect(res.blob!.state).toBe(BlobState.SEALED);
      });

      it('drops every stored byte of content whose digest differs, and says so with DataLoss', async () => {
        const owner = newApp();
        const content = randomBytes(9 * MiB);
        const { blobId, token } = await reserve(storage, owner.appId, {
          size: content.length,
          sha256: sha256(randomBytes(8)),
        });
        const error = await expectCode(upload(blobId, token, content, owner.as), Code.DataLoss);
        expect(reasonOf(error)).toBe('DIGEST_MISMATCH');
        const blob = await stat(blobId);
        expect(blob.state).toBe(BlobState.PURGED);
        expect(blob.purgeReason).toBe(PurgeReason.DIGEST_MISMATCH);
        expect(await storage.objectsOf(blobId)).toEqual([]);
        if (backend === 'fs') expect(existsSync(join(storage.config.storageDir, blobId))).toBe(false);
        const status = await expectCode(
          storage.client.getUploadStatus({ blobId, uploadToken: token }, owner.as),
          Code.FailedPrecondition,
        );
        expect(reasonOf(status)).toBe('BLOB_PURGED');
        expect(metadataOf(status)).toMatchObject({ purge_reason: 'DIGEST_MISMATCH' });
      });

      it('refuses uploads into an expired space, and the sweep purges it with every stored byte', async () => {
        const owner = newApp();
        const content = randomBytes(2 * MiB);
        const { blobId, token } = await reserve(storage, owner.appId, content, 60);
        await chunk(blobId, token, 0, content.subarray(0, MiB), owner.as);
        expect(await storage.objectsOf(blobId)).toHaveLength(1);
        await storage.ctx.db
          .updateTable('blobs')
          .set({ expire_at: new Date(Date.now() - 1000) })
          .where('id', '=', blobId)
          .execute();

        const streamed = await expectCode(
          upload(blobId, token, content.subarray(MiB), owner.as, MiB),
          Code.FailedPrecondition,
        );
        expect(reasonOf(streamed)).toBe('UPLOAD_SPACE_EXPIRED');
        const unary = await expectCode(
          chunk(blobId, token, MiB, content.subarray(MiB), owner.as),
          Code.FailedPrecondition,
        );
        expect(reasonOf(unary)).toBe('UPLOAD_SPACE_EXPIRED');

        const swept = await sweepStorage(storage.ctx);
        expect(swept.expired).toContain(blobId);
        const blob = await stat(blobId);
        expect(blob.state).toBe(BlobState.PURGED);
        expect(blob.purgeReason).toBe(PurgeReason.EXPIRED);
        expect(await storage.objectsOf(blobId)).toEqual([]);
      });

      it("refuses another app's use of an upload token, and a token that is not the blob's", async () => {
        const owner = newApp();
        const intruder = newApp();
        const content = randomBytes(100);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        const stolen = await expectCode(upload(blobId, token, content, intruder.as), Code.NotFound);
        expect(reasonOf(stolen)).toBe('BLOB_NOT_FOUND');
        const unary = await expectCode(chunk(blobId, token, 0, content, intruder.as), Code.NotFound);
        expect(reasonOf(unary)).toBe('BLOB_NOT_FOUND');
        const status = await expectCode(
          storage.client.getUploadStatus({ blobId, uploadToken: token }, intruder.as),
          Code.NotFound,
        );
        expect(reasonOf(status)).toBe('BLOB_NOT_FOUND');

        const other = await reserve(storage, owner.appId, content);
        const wrongToken = await expectCode(chunk(blobId, other.token, 0, content, owner.as), Code.NotFound);
        expect(reasonOf(wrongToken)).toBe('BLOB_NOT_FOUND');
        const malformed = await expectCode(
          chunk(blobId, 'not-a-token', 0, content, owner.as),
          Code.InvalidArgument,
        );
        expect(violatedFields(malformed)).toEqual(['upload_token']);
        const missing = await expectCode(
          chunk('blb_ffffffffffffffff', token, 0, content, owner.as),
          Code.NotFound,
        );
        expect(reasonOf(missing)).toBe('BLOB_NOT_FOUND');
        expect((await stat(blobId)).receivedBytes).toBe(0n);
      });

      it('streams from an offset, with a limit, and refuses an offset past the end', async () => {
        const owner = newApp();
        const content = randomBytes(2 * MiB + 333);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        await upload(blobId, token, content, owner.as);
        const reader = asService('transfer');
        for (const [offset, limit] of [
          [1, 0],
          [MiB + 65_535, 100_000],
          [2 * MiB, 0],
          [content.length - 1, 5],
        ] as const) {
          const got = await downloadAll(storage, { blobId, offset, limit }, reader);
          expect(got.header!.offset).toBe(BigInt(offset));
          const end = limit === 0 ? content.length : Math.min(content.length, offset + limit);
          expect(got.content.equals(content.subarray(offset, end))).toBe(true);
        }
        const atEnd = await downloadAll(storage, { blobId, offset: content.length }, reader);
        expect(atEnd.messages).toBe(0);
        const past = await expectCode(
          downloadAll(storage, { blobId, offset: content.length + 1 }, reader),
          Code.OutOfRange,
        );
        expect(reasonOf(past)).toBe('OFFSET_PAST_END');
      });

      it('fails a download with DataLoss when a stored byte was altered', async () => {
        if (backend !== 'fs') return;
        const owner = newApp();
        const content = randomBytes(200_000);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        await upload(blobId, token, content, owner.as);
        const [key] = await storage.objectsOf(blobId);
        const { open } = await import('node:fs/promises');
        const file = await open(join(storage.config.storageDir, ...key!.split('/')), 'r+');
        await file.write(Buffer.from([0x42]), 0, 1, 100_000);
        await file.close();
        const error = await expectCode(
          downloadAll(storage, { blobId }, asService('transfer')),
          Code.DataLoss,
        );
        expect(reasonOf(error)).toBe('CONTENT_DAMAGED');
      });
    });

    describe('UploadChunk and DownloadChunk', () => {
      it('takes pieces in order, seals on the last, and answers a resent piece with the current state', async () => {
        const owner = newApp();
        const content = randomBytes(2 * MiB + 4321);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        const first = await chunk(blobId, token, 0, content.subarray(0, MiB), owner.as);
        expect(first.receivedBytes).toBe(BigInt(MiB));
        expect(first.blob!.state).toBe(BlobState.STAGING);
        // A retry after a lost answer changes nothing.
        const again = await chunk(blobId, token, 0, content.subarray(0, MiB), owner.as);
        expect(again.receivedBytes).toBe(BigInt(MiB));
        // A piece that is neither the next one nor a resend is refused with where to go on.
        const overlap = await expectCode(
          chunk(blobId, token, 10, content.subarray(10, 20), owner.as),
          Code.FailedPrecondition,
        );
        expect(reasonOf(overlap)).toBe('OFFSET_MISMATCH');
        expect(metadataOf(overlap)).toMatchObject({ expected_offset: String(MiB) });
        const gap = await expectCode(
          chunk(blobId, token, 2 * MiB, content.subarray(2 * MiB), owner.as),
          Code.FailedPrecondition,
        );
        expect(metadataOf(gap)).toMatchObject({ expected_offset: String(MiB) });

        await chunk(blobId, token, MiB, content.subarray(MiB, 2 * MiB), owner.as);
        const last = await chunk(blobId, token, 2 * MiB, content.subarray(2 * MiB), owner.as);
        expect(last.blob!.state).toBe(BlobState.SEALED);
        expect(last.receivedBytes).toBe(BigInt(content.length));
        const resent = await chunk(blobId, token, 2 * MiB, content.subarray(2 * MiB), owner.as);
        expect(resent.blob!.state).toBe(BlobState.SEALED);
        const afterSeal = await expectCode(
          chunk(blobId, token, content.length, randomBytes(1), owner.as),
          Code.FailedPrecondition,
        );
        expect(reasonOf(afterSeal)).toBe('BLOB_SEALED');

        const status = await storage.client.getUploadStatus({ blobId, uploadToken: token }, owner.as);
        expect(status).toMatchObject({
          receivedBytes: BigInt(content.length),
          sizeBytes: BigInt(content.length),
          state: BlobState.SEALED,
        });

        const recipient = newApp();
        const downloadToken = await grant(storage, blobId, recipient.appId);
        const pieces: Uint8Array[] = [];
        for (let offset = 0, eof = false; !eof; ) {
          const res = await storage.client.downloadChunk(
            { blobId, downloadToken, offset: BigInt(offset), limit: 700_000 },
            recipient.as,
          );
          expect(res.offset).toBe(BigInt(offset));
          expect(Buffer.from(res.sha256).equals(sha256(content))).toBe(true);
          pieces.push(res.chunk);
          offset += res.chunk.length;
          eof = res.eof;
        }
        expect(Buffer.concat(pieces).equals(content)).toBe(true);
        const whole = await storage.client.downloadChunk(
          { blobId, downloadToken, offset: 0n, limit: 0 },
          recipient.as,
        );
        expect(whole.chunk.length).toBe(MiB);
        expect(whole.eof).toBe(false);
        const tooMuch = await expectCode(
          storage.client.downloadChunk({ blobId, downloadToken, offset: 0n, limit: MiB + 1 }, recipient.as),
          Code.InvalidArgument,
        );
        expect(violatedFields(tooMuch)).toEqual(['limit']);
      });

      it('refuses a piece past the declared size, a piece over 1 MiB, and a digest mismatch on the last piece', async () => {
        const owner = newApp();
        const content = randomBytes(1000);
        const { blobId, token } = await reserve(storage, owner.appId, {
          size: content.length,
          sha256: sha256(randomBytes(3)),
        });
        const past = await expectCode(chunk(blobId, token, 0, randomBytes(1001), owner.as), Code.OutOfRange);
        expect(reasonOf(past)).toBe('SIZE_EXCEEDED');
        const big = await expectCode(
          chunk(blobId, token, 0, randomBytes(MiB + 1), owner.as),
          Code.InvalidArgument,
        );
        expect(violatedFields(big)).toEqual(['chunk']);
        const mismatch = await expectCode(chunk(blobId, token, 0, content, owner.as), Code.DataLoss);
        expect(reasonOf(mismatch)).toBe('DIGEST_MISMATCH');
        expect(await storage.objectsOf(blobId)).toEqual([]);
      });

      it('lets two racing writers of the same piece store it once', async () => {
        const owner = newApp();
        const content = randomBytes(MiB + 1);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        const results = await Promise.allSettled([
          chunk(blobId, token, 0, content.subarray(0, MiB), owner.as),
          chunk(blobId, token, 0, content.subarray(0, MiB), owner.as),
        ]);
        for (const r of results) {
          if (r.status === 'rejected') expect(reasonOf(ConnectError.from(r.reason))).toBe('OFFSET_MISMATCH');
        }
        expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
        const last = await chunk(blobId, token, MiB, content.subarray(MiB), owner.as);
        expect(last.blob!.state).toBe(BlobState.SEALED);
        expect(await storage.objectsOf(blobId)).toHaveLength(2);
      });
    });

    describe('GrantDownload, Download access and Stat', () => {
      it('lets only the app a token was granted to download, and platform services without a token', async () => {
        const owner = newApp();
        const recipient = newApp();
        const bystander = newApp();
        const content = randomBytes(5000);
        const { blobId, token } = await reserve(storage, owner.appId, content);

        const early = await expectCode(
          storage.client.grantDownload({ blobId, appId: recipient.appId }, TRANSFER),
          Code.FailedPrecondition,
        );
        expect(reasonOf(early)).toBe('BLOB_NOT_SEALED');
        await upload(blobId, token, content, owner.as);

        const downloadToken = await grant(storage, blobId, recipient.appId);
        const notYours = await expectCode(
          downloadAll(storage, { blobId, downloadToken }, bystander.as),
          Code.NotFound,
        );
        expect(reasonOf(notYours)).toBe('BLOB_NOT_FOUND');
        const unary = await expectCode(
          storage.client.downloadChunk({ blobId, downloadToken, offset: 0n, limit: 0 }, bystander.as),
          Code.NotFound,
        );
        expect(reasonOf(unary)).toBe('BLOB_NOT_FOUND');
        const none = await expectCode(downloadAll(storage, { blobId }, recipient.as), Code.NotFound);
        expect(reasonOf(none)).toBe('BLOB_NOT_FOUND');
        const uploadTokenAsDownload = await expectCode(
          downloadAll(storage, { blobId, downloadToken: token }, owner.as),
          Code.NotFound,
        );
        expect(reasonOf(uploadTokenAsDownload)).toBe('BLOB_NOT_FOUND');
        const otherBlob = await reserve(storage, owner.appId, content);
        await upload(otherBlob.blobId, otherBlob.token, content, owner.as);
        const wrongBlob = await expectCode(
          downloadAll(storage, { blobId: otherBlob.blobId, downloadToken }, recipient.as),
          Code.NotFound,
        );
        expect(reasonOf(wrongBlob)).toBe('BLOB_NOT_FOUND');

        expect((await downloadAll(storage, { blobId }, asService('transfer'))).content.equals(content)).toBe(
          true,
        );
        expect(
          (await downloadAll(storage, { blobId, downloadToken }, recipient.as)).content.equals(content),
        ).toBe(true);

        const shortLived = await grant(storage, blobId, recipient.appId, 60);
        await storage.ctx.db
          .updateTable('download_grants')
          .set({ expire_at: new Date(Date.now() - 1000) })
          .where('token_sha256', '=', sha256(Buffer.from(shortLived)))
          .execute();
        const expired = await expectCode(
          downloadAll(storage, { blobId, downloadToken: shortLived }, recipient.as),
          Code.FailedPrecondition,
        );
        expect(reasonOf(expired)).toBe('DOWNLOAD_SPACE_EXPIRED');

        const internal = await expectCode(
          storage.client.grantDownload({ blobId, appId: recipient.appId }, recipient.as),
          Code.PermissionDenied,
        );
        expect(reasonOf(internal)).toBe('INTERNAL_RPC');
      });

      it('shows metadata to platform services, the owner and apps granted a download, and no one else', async () => {
        const owner = newApp();
        const recipient = newApp();
        const bystander = newApp();
        const content = randomBytes(10);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        await upload(blobId, token, content, owner.as);
        expect((await storage.client.stat({ blobId }, owner.as)).blob!.id).toBe(blobId);
        const before = await expectCode(storage.client.stat({ blobId }, recipient.as), Code.NotFound);
        expect(reasonOf(before)).toBe('BLOB_NOT_FOUND');
        await grant(storage, blobId, recipient.appId);
        expect((await storage.client.stat({ blobId }, recipient.as)).blob!.state).toBe(BlobState.SEALED);
        expect(reasonOf(await expectCode(storage.client.stat({ blobId }, bystander.as), Code.NotFound))).toBe(
          'BLOB_NOT_FOUND',
        );
        expect(
          reasonOf(
            await expectCode(
              storage.client.stat({ blobId: 'blb_0000000000000000' }, TRANSFER),
              Code.NotFound,
            ),
          ),
        ).toBe('BLOB_NOT_FOUND');
        expect(
          violatedFields(
            await expectCode(storage.client.stat({ blobId: 'x' }, TRANSFER), Code.InvalidArgument),
          ),
        ).toEqual(['blob_id']);
      });
    });

    describe('Purge', () => {
      it('deletes every stored byte, keeps metadata and digest, and makes every token stop working', async () => {
        const owner = newApp();
        const recipient = newApp();
        const content = randomBytes(9 * MiB + 1);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        await upload(blobId, token, content, owner.as);
        const downloadToken = await grant(storage, blobId, recipient.appId);
        expect(await storage.objectsOf(blobId)).toHaveLength(2);

        const res = await storage.client.purge({ blobId, reason: PurgeReason.DELIVERED }, TRANSFER);
        expect(res.blob).toMatchObject({
          state: BlobState.PURGED,
          purgeReason: PurgeReason.DELIVERED,
          sizeBytes: BigInt(content.length),
        });
        expect(Buffer.from(res.blob!.sha256).equals(sha256(content))).toBe(true);
        expect(res.blob!.purgeTime).toBeDefined();
        expect(await storage.objectsOf(blobId)).toEqual([]);
        if (backend === 'fs') expect(existsSync(join(storage.config.storageDir, blobId))).toBe(false);
        const row = await storage.ctx.db
          .selectFrom('blobs')
          .selectAll()
          .where('id', '=', blobId)
          .executeTakeFirstOrThrow();
        expect(row.wrapped_key).toBeNull();
        expect(row.content_deleted_at).not.toBeNull();
        expect(
          await storage.ctx.db.selectFrom('blob_parts').selectAll().where('blob_id', '=', blobId).execute(),
        ).toEqual([]);

        for (const refused of [
          () => downloadAll(storage, { blobId, downloadToken }, recipient.as),
          () => storage.client.downloadChunk({ blobId, downloadToken, offset: 0n, limit: 0 }, recipient.as),
          () => storage.client.getUploadStatus({ blobId, uploadToken: token }, owner.as),
          () => chunk(blobId, token, 0, randomBytes(1), owner.as),
          () => downloadAll(storage, { blobId }, asService('transfer')),
          () => storage.client.grantDownload({ blobId, appId: recipient.appId }, TRANSFER),
        ]) {
          expect(reasonOf(await expectCode(refused(), Code.FailedPrecondition))).toBe('BLOB_PURGED');
        }

        const again = await storage.client.purge({ blobId, reason: PurgeReason.OPERATOR }, TRANSFER);
        expect(again.blob!.purgeReason).toBe(PurgeReason.DELIVERED);
        const events = await storage.ctx.db
          .selectFrom('outbox')
          .select('subject')
          .where(sql<boolean>`headers->>'lgsp-blob-id' = ${blobId}`)
          .orderBy('seq')
          .execute();
        expect(events.map((e) => e.subject)).toEqual([
          storageSubjects(storage.config.busPrefix).receiving,
          storageSubjects(storage.config.busPrefix).sealed,
          storageSubjects(storage.config.busPrefix).purged,
        ]);
      });

      it('leaves content it could not delete to the sweep, which deletes it while holding the row', async () => {
        const owner = newApp();
        const content = randomBytes(2 * MiB);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        await upload(blobId, token, content, owner.as);
        const blobs = storage.ctx.blobs;
        const realDelete = blobs.delete.bind(blobs);
        blobs.delete = async () => {
          throw new Error('injected: object store unreachable');
        };
        try {
          const res = await storage.client.purge({ blobId, reason: PurgeReason.DELIVERED }, TRANSFER);
          expect(res.blob!.state).toBe(BlobState.PURGED);
        } finally {
          blobs.delete = realDelete;
        }
        expect(await storage.objectsOf(blobId)).toHaveLength(1);

        const swept = await sweepStorage(storage.ctx);
        expect(swept.contentDeleted).toContain(blobId);
        expect(await storage.objectsOf(blobId)).toEqual([]);
        const row = await storage.ctx.db
          .selectFrom('blobs')
          .select('content_deleted_at')
          .where('id', '=', blobId)
          .executeTakeFirstOrThrow();
        expect(row.content_deleted_at).not.toBeNull();
        expect((await sweepStorage(storage.ctx)).contentDeleted).not.toContain(blobId);
      });

      it('purges a blob still uploading, and refuses an unknown blob or a missing reason', async () => {
        const owner = newApp();
        const content = randomBytes(MiB + 1);
        const { blobId, token } = await reserve(storage, owner.appId, content);
        await chunk(blobId, token, 0, content.subarray(0, MiB), owner.as);
        await storage.client.purge({ blobId, reason: PurgeReason.CANCELLED }, TRANSFER);
        expect(await storage.objectsOf(blobId)).toEqual([]);
        expect(
          reasonOf(
            await expectCode(
              chunk(blobId, token, MiB, content.subarray(MiB), owner.as),
              Code.FailedPrecondition,
            ),
          ),
        ).toBe('BLOB_PURGED');
        expect(
          reasonOf(
            await expectCode(
              storage.client.purge({ blobId: 'blb_0000000000000000', reason: PurgeReason.FAILED }, TRANSFER),
              Code.NotFound,
            ),
          ),
        ).toBe('BLOB_NOT_FOUND');
        expect(
          violatedFields(
            await expectCode(
              storage.client.purge({ blobId, reason: PurgeReason.UNSPECIFIED }, TRANSFER),
              Code.InvalidArgument,
            ),
          ),
        ).toEqual(['reason']);
        expect(
          reasonOf(
            await expectCode(
              storage.client.purge({ blobId, reason: PurgeReason.FAILED }, owner.as),
              Code.PermissionDenied,
            ),
          ),
        ).toBe('INTERNAL_RPC');
      });
    });

    describe('PutBlob and RenewUploadToken', () => {
      it('stores small content sealed at once, and refuses a wrong digest without storing anything', async () => {
        const owner = newApp();
        const content = randomBytes(4 * MiB);
        const res = await storage.client.putBlob(
          {
            ownerAppId: owner.appId,
            transferId: 'trf_1',
            contentType: 'application/xml',
            content,
            sha256: sha256(content),
          },
          TRANSFER,
        );
        expect(res.blob!.state).toBe(BlobState.SEALED);
        expect((await downloadAll(storage, { blobId: res.blob!.id }, TRANSFER)).content.equals(content)).toBe(
          true,
        );

        const before = await storage.ctx.db
          .selectFrom('blobs')
          .select(sql<string>`count(*)`.as('n'))
          .executeTakeFirstOrThrow();
        const error = await expectCode(
          storage.client.putBlob(
            {
              ownerAppId: owner.appId,
              transferId: 'trf_1',
              contentType: 'text/plain',
              content: Buffer.from('abc'),
              sha256: sha256(Buffer.from('abd')),
            },
            TRANSFER,
          ),
          Code.DataLoss,
        );
        expect(reasonOf(error)).toBe('DIGEST_MISMATCH');
        const after = await storage.ctx.db
          .selectFrom('blobs')
          .select(sql<string>`count(*)`.as('n'))
          .executeTakeFirstOrThrow();
        expect(after.n).toBe(before.n);

        const tooBig = randomBytes(4 * MiB + 1);
        const big = await expectCode(
          storage.client.putBlob(
            {
              ownerAppId: owner.appId,
              transferId: 'trf_1',
              contentType: 'text/plain',
              content: tooBig,
              sha256: sha256(tooBig),
            },
            TRANSFER,
          ),
          Code.InvalidArgument,
        );
        expect(violatedFields(big)).toEqual(['content']);
      });

      it('renews the upload token: the old one stops working, the new one resumes the same blob', async () => {
        const owner = newApp();
        const content = randomBytes(MiB + 2);
        const { blobId, token } = await reserve(storage, owner.appId, content, 60);
        await chunk(blobId, token, 0, content.subarray(0, MiB), owner.as);
        const renewed = await storage.client.renewUploadToken({ blobId, ttl: seconds(7200) }, TRANSFER);
        expect(renewed.uploadToken).not.toBe(token);
        expect(Number(renewed.tokenExpireTime!.seconds) - Date.now() / 1000).toBeGreaterThan(7000);
        expect(
          reasonOf(
            await expectCode(chunk(blobId, token, MiB, content.subarray(MiB), owner.as), Code.NotFound),
          ),
        ).toBe('BLOB_NOT_FOUND');
        const done = await chunk(blobId, renewed.uploadToken, MiB, content.subarray(MiB), owner.as);
        expect(done.blob!.state).toBe(BlobState.SEALED);
        expect(
          reasonOf(
            await expectCode(storage.client.renewUploadToken({ blobId }, TRANSFER), Code.FailedPrecondition),
          ),
        ).toBe('BLOB_SEALED');
      });
    });
  });
}
