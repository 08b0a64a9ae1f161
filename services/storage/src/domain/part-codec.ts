/**
 * One part of a blob in the adapter: plaintext in, sealed segments out, and
 * back. Writing pulls from a `ByteSource` one segment at a time, so a part
 * never sits whole in memory; reading seeks to the segment holding the first
 * wanted byte and checks every segment and the part's stored length.
 */
import type { Hash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { DataLossError } from '#lib/errors.js';
import { BlobObjectNotFoundError, type BlobStore } from '../blobs/port.js';
import {
  openSegment,
  SEGMENT_OVERHEAD_BYTES,
  SEGMENT_PLAINTEXT_BYTES,
  SegmentIntegrityError,
  sealSegment,
  segmentPlaintextBytes,
  storedSegmentStart,
} from '../crypto/segments.js';
import type { ByteSource } from './byte-source.js';

/** A part holds at most 8 MiB of plaintext: the most an interrupted upload loses. */
export const PART_PLAINTEXT_BYTES = 8 * 1024 * 1024;

export interface StoredPart {
  readonly partNo: number;
  /** Offset of the part's first byte in the blob. */
  readonly offset: number;
  readonly plaintextBytes: number;
  readonly storedBytes: number;
  readonly objectKey: string;
}

/**
 * The object key of a part: the blob id as a folder, the part number, and a
 * random suffix so that two writers racing for the same part never overwrite
 * each other (the database records one of them; the other deletes its own).
 */
export function partObjectKey(blobId: string, partNo: number): string {
  return `${blobId}/${String(partNo).padStart(6, '0')}.${randomBytes(6).toString('hex')}`;
}

export interface WritePartInput {
  readonly blobs: BlobStore;
  readonly dataKey: Uint8Array;
  readonly blobId: string;
  readonly partNo: number;
  readonly offset: number;
  readonly source: ByteSource;
  /** The most plaintext to take for this part. */
  readonly maxBytes: number;
  /** Fed with the plaintext as it goes, when the blob's digest is being computed. */
  readonly hash: Hash | undefined;
}

/** Writes the next part from `source`; undefined when the source has no byte left. */
export async function writePart(input: WritePartInput): Promise<StoredPart | undefined> {
  const { source, hash, maxBytes } = input;
  if (await source.atEnd()) return undefined;
  let plaintextBytes = 0;
  async function* segments(): AsyncGenerator<Uint8Array> {
    for (let index = 0; plaintextBytes < maxBytes; index++) {
      const pieces = await source.take(Math.min(SEGMENT_PLAINTEXT_BYTES, maxBytes - plaintextBytes));
      const n = pieces.reduce((sum, piece) => sum + piece.length, 0);
      if (n === 0) return;
      for (const piece of pieces) hash?.update(piece);
      plaintextBytes += n;
      yield sealSegment(input.dataKey, { blobId: input.blobId, part: input.partNo, index }, pieces);
      if (n < SEGMENT_PLAINTEXT_BYTES) return;
    }
  }
  const objectKey = partObjectKey(input.blobId, input.partNo);
  const storedBytes = await input.blobs.put(objectKey, segments());
  return { partNo: input.partNo, offset: input.offset, plaintextBytes, storedBytes, objectKey };
}

/**
 * The plaintext of `part` from blob offset `from` (inside the part) to `to`
 * (exclusive, at most the part's end), in pieces of at most one segment.
 * Throws `DataLossError` when the stored part is missing, altered, moved or
 * cut short.
 */
export async function* readPart(
  blobs: BlobStore,
  dataKey: Uint8Array,
  blobId: string,
  part: StoredPart,
  from: number,
  to: number,
): AsyncGenerator<Buffer> {
  const end = Math.min(to, part.offset + part.plaintextBytes);
  if (from >= end) return;
  let index = Math.floor((from - part.offset) / SEGMENT_PLAINTEXT_BYTES);
  let position = part.offset + index * SEGMENT_PLAINTEXT_BYTES;
  const framer = new SegmentFramer();
  let wanted = segmentPlaintextBytes(part.plaintextBytes, index) + SEGMENT_OVERHEAD_BYTES;
  try {
    for await (const chunk of blobs.read(part.objectKey, storedSegmentStart(index))) {
      framer.push(chunk);
      for (let sealed = framer.take(wanted); sealed !== undefined; sealed = framer.take(wanted)) {
        const plain = openSegment(dataKey, { blobId, part: part.partNo, index }, sealed);
        const lo = Math.max(from, position) - position;
        const hi = Math.min(end, position + plain.length) - position;
        if (hi > lo) yield plain.subarray(lo, hi);
        position += plain.length;
        index++;
        if (position >= end) return;
        wanted = segmentPlaintextBytes(part.plaintextBytes, index) + SEGMENT_OVERHEAD_BYTES;
        if (wanted === SEGMENT_OVERHEAD_BYTES) break;
      }
    }
  } catch (error) {
    if (error instanceof SegmentIntegrityError) throw damaged(blobId, part, error.message);
    if (error instanceof BlobObjectNotFoundError) throw damaged(blobId, part, 'its stored object is missing');
    throw error;
  }
  throw damaged(blobId, part, 'its stored object is shorter than recorded');
}

function damaged(blobId: string, part: StoredPart, why: string): DataLossError {
  return new DataLossError(
    'CONTENT_DAMAGED',
    `stored content of blob ${blobId} is damaged: part ${part.partNo}: ${why}`,
    {
      blob_id: blobId,
      part: String(part.partNo),
    },
  );
}

/** Collects adapter chunks into whole sealed segments; holds at most one segment and one chunk. */
class SegmentFramer {
  #chunks: Uint8Array[] = [];
  #bytes = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
  }

  take(n: number): Buffer | undefined {
    if (this.#bytes < n) return undefined;
    const joined = Buffer.concat(this.#chunks, this.#bytes);
    const segment = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#bytes = rest.length;
    return segment;
  }
}
