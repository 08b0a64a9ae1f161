/**
 * Encryption at rest of blob content. Each blob has its own random 32-byte
 * data key. Content is stored in parts (one adapter object each), and each
 * part is a run of sealed segments of at most 64 KiB of plaintext:
 *
 *   version (1 byte, 0x01) | IV (12 random bytes) | ciphertext (n bytes) | tag (16 bytes)
 *
 * AES-256-GCM under the data key, with associated data binding the segment to
 * its place: the blob id, the part number and the segment's index in the
 * part. A changed byte, a segment moved within a part, a part copied under
 * another number or into another blob, or a wrong key all fail to open.
 * Truncation is caught by the reader, which knows every part's length from
 * the database.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const SEGMENT_VERSION = 0x01;
export const SEGMENT_PLAINTEXT_BYTES = 64 * 1024;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const SEGMENT_HEADER_BYTES = 1 + IV_BYTES;
/** Bytes a segment stores beyond its plaintext. */
export const SEGMENT_OVERHEAD_BYTES = SEGMENT_HEADER_BYTES + TAG_BYTES;
export const DATA_KEY_BYTES = 32;
const AAD_LABEL = Buffer.from('lgsp.storage.segment', 'utf8');

/** Where a segment belongs; all of it is authenticated. */
export interface SegmentPlace {
  readonly blobId: string;
  readonly part: number;
  readonly index: number;
}

export class SegmentIntegrityError extends Error {
  override name = 'SegmentIntegrityError';
}

export function newDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

function associatedData(place: SegmentPlace): Buffer {
  const id = Buffer.from(place.blobId, 'utf8');
  const fixed = Buffer.alloc(1 + 2 + 4 + 4);
  fixed.writeUInt8(SEGMENT_VERSION, 0);
  fixed.writeUInt16BE(id.length, 1);
  fixed.writeUInt32BE(place.part, 3);
  fixed.writeUInt32BE(place.index, 7);
  return Buffer.concat([AAD_LABEL, fixed, id]);
}

/** Seals the plaintext pieces (together at most one segment) as one segment. */
export function sealSegment(key: Uint8Array, place: SegmentPlace, pieces: readonly Uint8Array[]): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(place));
  const out: Buffer[] = [Buffer.of(SEGMENT_VERSION), iv];
  for (const piece of pieces) out.push(cipher.update(piece));
  out.push(cipher.final(), cipher.getAuthTag());
  return Buffer.concat(out);
}

/** Opens a sealed segment; throws `SegmentIntegrityError` when it is not exactly what was sealed there. */
export function openSegment(key: Uint8Array, place: SegmentPlace, sealed: Uint8Array): Buffer {
  if (sealed.length < SEGMENT_OVERHEAD_BYTES || sealed[0] !== SEGMENT_VERSION) {
    throw new SegmentIntegrityError(`segment ${place.index} of part ${place.part} is not a sealed segment`);
  }
  const iv = sealed.subarray(1, SEGMENT_HEADER_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(associatedData(place));
  decipher.setAuthTag(tag);
  try {
    const body = sealed.subarray(SEGMENT_HEADER_BYTES, sealed.length - TAG_BYTES);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new SegmentIntegrityError(
      `segment ${place.index} of part ${place.part} does not authenticate: altered, moved or under another key`,
    );
  }
}

/** Plaintext bytes of segment `index` of a part holding `partBytes` bytes of plaintext. */
export function segmentPlaintextBytes(partBytes: number, index: number): number {
  return Math.max(0, Math.min(SEGMENT_PLAINTEXT_BYTES, partBytes - index * SEGMENT_PLAINTEXT_BYTES));
}

/** Stored bytes of a part holding `partBytes` bytes of plaintext. */
export function storedPartBytes(partBytes: number): number {
  const segments = Math.ceil(partBytes / SEGMENT_PLAINTEXT_BYTES);
  return partBytes + segments * SEGMENT_OVERHEAD_BYTES;
}

/** Where segment `index` starts in the stored part: every segment before it is full. */
export function storedSegmentStart(index: number): number {
  return index * (SEGMENT_PLAINTEXT_BYTES + SEGMENT_OVERHEAD_BYTES);
}
