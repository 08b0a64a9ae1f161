/**
 * The baselines of the large transfer, in a worker thread, with the same
 * content (seed 2) made on the fly in the same 1 MiB pieces:
 *
 * - `fs`: the pieces written in order to one new file and fsynced (write),
 *   then read back in 1 MiB reads (read), then the file deleted — on the
 *   filesystem that holds the mesh's blobs. The read follows the write at
 *   once, so, as for the download of a blob just uploaded, it is served from
 *   the page cache when the machine has the memory.
 * - `bus`: the pieces published durably, at most 16 published and not yet
 *   consumed, and consumed at the same time (through): what moving the
 *   content as messages of the bus would cost at best.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { serveWorker } from '../worker-side.js';
import { openCarrier } from './bus-carrier.js';
import { contentPieces, MiB } from './content.js';
import { check } from './flow.js';
import { type LargeBaselineResult, type LargeBaselineSpec, LARGE_SEED as SEED } from './spec.js';

/** Messages published and not yet consumed, at most. */
const BUS_WINDOW = 16;

async function fsBaseline(spec: LargeBaselineSpec): Promise<LargeBaselineResult> {
  mkdirSync(spec.dir, { recursive: true });
  const file = join(spec.dir, 'large');
  try {
    const writeStarted = performance.now();
    const out = await open(file, 'w');
    try {
      for (const piece of contentPieces(spec.bytes, SEED)) await out.write(piece);
      await out.sync();
    } finally {
      await out.close();
    }
    const writeMs = performance.now() - writeStarted;

    const readStarted = performance.now();
    const buffer = Buffer.alloc(MiB);
    let read = 0;
    const input = await open(file, 'r');
    try {
      for (;;) {
        const { bytesRead } = await input.read(buffer, 0, MiB, read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
    } finally {
      await input.close();
    }
    const readMs = performance.now() - readStarted;
    check(read === spec.bytes, `read ${read} bytes of ${spec.bytes}`);
    return {
      legs: [
        { leg: 'write', bytes: spec.bytes, ms: writeMs },
        { leg: 'read', bytes: read, ms: readMs },
      ],
    };
  } finally {
    rmSync(spec.dir, { recursive: true, force: true });
  }
}

async function busBaseline(spec: LargeBaselineSpec): Promise<LargeBaselineResult> {
  let consumed = 0;
  let consumedBytes = 0;
  let wake: () => void = () => {};
  const carrier = await openCarrier(spec.natsUrl, spec.busPrefix, BUS_WINDOW, (_id, bytes) => {
    consumed++;
    consumedBytes += bytes;
    wake();
  });
  const progress = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });
  try {
    const started = performance.now();
    let published = 0;
    let failure: Error | undefined;
    const publishing = new Set<Promise<void>>();
    const waitUntil = async (done: () => boolean) => {
      while (!done()) {
        if (failure !== undefined) throw failure;
        await progress();
      }
      if (failure !== undefined) throw failure;
    };
    for (const piece of contentPieces(spec.bytes, SEED)) {
      await waitUntil(() => published - consumed < BUS_WINDOW);
      // Publishes are pipelined like the consumption: up to the window in flight, not one ack at a time.
      // A plain Uint8Array view, as the mesh publishes: the in-process bus then copies it on delivery.
      const publish: Promise<void> = carrier
        .publish(published++, new Uint8Array(piece.buffer, piece.byteOffset, piece.length))
        .catch((error: unknown) => {
          failure = error instanceof Error ? error : new Error(String(error));
          wake();
        })
        .finally(() => publishing.delete(publish));
      publishing.add(publish);
    }
    await waitUntil(() => consumed >= published);
    await Promise.all(publishing);
    const ms = performance.now() - started;
    check(consumedBytes === spec.bytes, `consumed ${consumedBytes} bytes of ${spec.bytes}`);
    return { legs: [{ leg: 'through', bytes: consumedBytes, ms }] };
  } finally {
    await carrier.close();
  }
}

serveWorker(
  (spec: LargeBaselineSpec): Promise<LargeBaselineResult> =>
    spec.kind === 'fs' ? fsBaseline(spec) : busBaseline(spec),
);
