/**
 * Encryption at rest, on real stored parts (the filesystem adapter in a
 * temporary directory): what is stored is not the plaintext, reads return the
 * plaintext from any offset, and any tampering fails the read with DataLoss.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataLossError } from '#lib/errors.js';
import { createFsBlobStore } from '../src/blobs/fs.js';
import type { BlobStore } from '../src/blobs/port.js';
import {
  newDataKey,
  openSegment,
  SEGMENT_OVERHEAD_BYTES,
  SEGMENT_PLAINTEXT_BYTES,
  SegmentIntegrityError,
  sealSegment,
  storedPartBytes,
} from '../src/crypto/segments.js';
import { ByteSource } from '../src/domain/byte-source.js';
import { readPart, type StoredPart, writePart } from '../src/domain/part-codec.js';

const SEGMENT = SEGMENT_PLAINTEXT_BYTES + SEGMENT_OVERHEAD_BYTES;

let dir: string;
let blobs: BlobStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lgsp-segments-'));
  blobs = createFsBlobStore(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function* pieces(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

async function store(blobId: string, key: Buffer, data: Uint8Array, partNo = 0): Promise<StoredPart> {
  const part = await writePart({
    blobs,
    dataKey: key,
    blobId,
    partNo,
    offset: 0,
    source: new ByteSource(pieces(data, 50_000)),
    maxBytes: data.length,
    hash: undefined,
  });
  return part!;
}

async function read(blobId: string, key: Buffer, part: StoredPart, from = 0, to = part.plaintextBytes) {
  const out: Buffer[] = [];
  for await (const piece of readPart(blobs, key, blobId, part, from, to)) out.push(piece);
  return Buffer.concat(out);
}

const pathOf = (part: StoredPart) => join(dir, ...part.objectKey.split('/'));

describe('sealed segments', () => {
  it('round-trips a segment and refuses it under another place or key', () => {
    const key = newDataKey();
    const place = { blobId: 'blb_0000000000000001', part: 3, index: 7 };
    const sealed = sealSegment(key, place, [Buffer.from('hello '), Buffer.from('world')]);
    expect(sealed.length).toBe(11 + SEGMENT_OVERHEAD_BYTES);
    expect(sealed[0]).toBe(1);
    expect(openSegment(key, place, sealed).toString()).toBe('hello world');
    expect(() => openSegment(key, { ...place, index: 8 }, sealed)).toThrow(SegmentIntegrityError);
    expect(() => openSegment(key, { ...place, part: 4 }, sealed)).toThrow(SegmentIntegrityError);
    expect(() => openSegment(key, { ...place, blobId: 'blb_0000000000000002' }, sealed)).toThrow(
      SegmentIntegrityError,
    );
    expect(() => openSegment(newDataKey(), place, sealed)).toThrow(SegmentIntegrityError);
    // The same plaintext seals differently each time (fresh IV).
    expect(sealSegment(key, place, [Buffer.from('hello world')]).equals(sealed)).toBe(false);
  });

  it('stores a part as sealed segments, never the plaintext, and reads it back from any offset', async () => {
    const key = newDataKey();
    const data = randomBytes(3 * SEGMENT_PLAINTEXT_BYTES + 1234);
    const part = await store('blb_00000000000000a1', key, data);
    expect(part.plaintextBytes).toBe(data.length);
    expect(part.storedBytes).toBe(storedPartBytes(data.length));
    const onDisk = await readFile(pathOf(part));
    expect(onDisk.length).toBe(part.storedBytes);
    expect(onDisk.includes(data.subarray(1000, 1064))).toBe(false);

    expect((await read('blb_00000000000000a1', key, part)).equals(data)).toBe(true);
    for (const [from, to] of [
      [1, 2],
      [SEGMENT_PLAINTEXT_BYTES - 1, SEGMENT_PLAINTEXT_BYTES + 1],
      [2 * SEGMENT_PLAINTEXT_BYTES, data.length],
      [100_000, 150_000],
    ] as const) {
      expect((await read('blb_00000000000000a1', key, part, from, to)).equals(data.subarray(from, to))).toBe(
        true,
      );
    }
  });

  it('fails the read with DataLoss when one stored byte changed', async () => {
    const key = newDataKey();
    const data = randomBytes(2 * SEGMENT_PLAINTEXT_BYTES);
    const part = await store('blb_00000000000000a2', key, data);
    const file = await open(pathOf(part), 'r+');
    const at = SEGMENT + 5000;
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0x01;
    await file.write(byte, 0, 1, at);
    await file.close();
    const error = await read('blb_00000000000000a2', key, part).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataLossError);
    expect((error as DataLossError).code).toBe(Code.DataLoss);
    expect((error as DataLossError).reason).toBe('CONTENT_DAMAGED');
    // The untouched first segment still reads.
    expect((await read('blb_00000000000000a2', key, part, 0, 100)).equals(data.subarray(0, 100))).toBe(true);
  });

  it('refuses segments swapped inside a part', async () => {
    const key = newDataKey();
    const data = randomBytes(3 * SEGMENT_PLAINTEXT_BYTES);
    const part = await store('blb_00000000000000a3', key, data);
    const stored = await readFile(pathOf(part));
    const swapped = Buffer.concat([
      stored.subarray(SEGMENT, 2 * SEGMENT),
      stored.subarray(0, SEGMENT),
      stored.subarray(2 * SEGMENT),
    ]);
    await writeFile(pathOf(part), swapped);
    await expect(read('blb_00000000000000a3', key, part)).rejects.toBeInstanceOf(DataLossError);
  });

  it('refuses a part read under the wrong blob key, another blob id or another part number', async () => {
    const key = newDataKey();
    const part = await store('blb_00000000000000a4', key, randomBytes(1000));
    await expect(read('blb_00000000000000a4', newDataKey(), part)).rejects.toBeInstanceOf(DataLossError);
    await expect(read('blb_00000000000000a5', key, part)).rejects.toBeInstanceOf(DataLossError);
    await expect(read('blb_00000000000000a4', key, { ...part, partNo: 1 })).rejects.toBeInstanceOf(
      DataLossError,
    );
  });

  it('fails the read with DataLoss when the stored part was cut short or is gone', async () => {
    const key = newDataKey();
    const data = randomBytes(2 * SEGMENT_PLAINTEXT_BYTES + 10);
    const part = await store('blb_00000000000000a6', key, data);
    const stored = await readFile(pathOf(part));
    await writeFile(pathOf(part), stored.subarray(0, 2 * SEGMENT));
    await expect(read('blb_00000000000000a6', key, part)).rejects.toMatchObject({
      reason: 'CONTENT_DAMAGED',
    });
    await blobs.delete(part.objectKey);
    await expect(read('blb_00000000000000a6', key, part)).rejects.toMatchObject({
      reason: 'CONTENT_DAMAGED',
      message: expect.stringContaining('missing'),
    });
  });
});
