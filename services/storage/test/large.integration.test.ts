/**
 * A 64 MiB blob streamed in and out on each adapter, with the process's
 * memory sampled throughout: the service must not hold a blob (or a part)
 * whole, so the growth stays far below the content's size. Prints the
 * throughput for the record; it is not asserted (machines differ).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobState } from '#gen/lgsp/storage/v1/resources_pb.js';
import type { UploadRequestSchema } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import type { BlobBackendName } from '../src/blobs/port.js';
import { MiB, newApp, reserve, startTestStorage, type TestStorage, TRANSFER } from './support.js';

const TOTAL = 64 * MiB;
const LIMIT = 100 * MiB;

/** The content, made on the fly in 1 MiB chunks: the test itself never holds it whole either. */
function content(seed: Buffer): { chunks: () => Generator<Buffer>; sha256: Buffer } {
  const chunks = function* () {
    for (let i = 0; i < TOTAL / MiB; i++) {
      const chunk = Buffer.from(seed);
      chunk.writeUInt32BE(i, 0);
      yield chunk;
    }
  };
  const hash = createHash('sha256');
  for (const chunk of chunks()) hash.update(chunk);
  return { chunks, sha256: hash.digest() };
}

/** Samples memory every 20 ms while `work` runs; returns the largest growth over the start. */
async function measured<T>(
  work: () => Promise<T>,
): Promise<{ result: T; seconds: number; heap: number; rss: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const start = process.memoryUsage();
  let heap = 0;
  let rss = 0;
  const sample = () => {
    const now = process.memoryUsage();
    heap = Math.max(heap, now.heapUsed + now.external - start.heapUsed - start.external);
    rss = Math.max(rss, now.rss - start.rss);
  };
  const timer = setInterval(sample, 20);
  const began = performance.now();
  try {
    const result = await work();
    sample();
    return { result, seconds: (performance.now() - began) / 1000, heap, rss };
  } finally {
    clearInterval(timer);
  }
}

const mb = (bytes: number) => (bytes / MiB).toFixed(1);

function largeBlobSuite(backend: BlobBackendName): void {
  describe(`a 64 MiB blob (${backend} adapter)`, () => {
    let storage: TestStorage;
    beforeAll(async () => {
      storage = await startTestStorage(backend);
    });
    afterAll(async () => {
      await storage?.close();
    });

    it('streams in and out with flat memory', async () => {
      const owner = newApp();
      const data = content(randomBytes(MiB));
      const { blobId, token } = await reserve(storage, owner.appId, { size: TOTAL, sha256: data.sha256 });

      async function* messages(): AsyncGenerator<MessageInitShape<typeof UploadRequestSchema>> {
        yield {
          part: { case: 'header', value: { blobId, uploadToken: token, offset: 0n } },
        };
        for (const chunk of data.chunks()) yield { part: { case: 'chunk', value: chunk } };
      }
      const up = await measured(() => storage.client.upload(messages(), owner.as));
      expect(up.result.blob!.state).toBe(BlobState.SEALED);

      const down = await measured(async () => {
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const message of storage.client.download({ blobId }, TRANSFER)) {
          if (message.part.case === 'chunk') {
            hash.update(message.part.value);
            bytes += message.part.value.length;
          }
        }
        return { bytes, digest: hash.digest() };
      });
      expect(down.result.bytes).toBe(TOTAL);
      expect(down.result.digest.equals(data.sha256)).toBe(true);

      console.log(
        `[storage ${backend}] 64 MiB upload ${(TOTAL / MiB / up.seconds).toFixed(1)} MiB/s ` +
          `(heap+external +${mb(up.heap)} MiB, rss +${mb(up.rss)} MiB); ` +
          `download ${(TOTAL / MiB / down.seconds).toFixed(1)} MiB/s ` +
          `(heap+external +${mb(down.heap)} MiB, rss +${mb(down.rss)} MiB)`,
      );
      // Client and server share this process, so the figures include both ends of the call.
      for (const growth of [up.heap, up.rss, down.heap, down.rss]) expect(growth).toBeLessThan(LIMIT);
    }, 180_000);
  });
}

largeBlobSuite('fs');
largeBlobSuite('nats');
