/**
 * The bytes the transfers suite sends: a PDF header followed by an AES-128-CTR
 * keystream of a seed. Deterministic (the sender's digest, declared before the
 * upload, is the digest of what it then sends), incompressible like a real
 * scanned document, and made on the fly at gigabytes per second, so that a
 * 1 GiB transfer never has its content in memory whole and generating it does
 * not compete with the servers for CPU.
 */
import { createCipheriv, createHash } from 'node:crypto';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** The content type of every bench transfer: checked by its signature (`%PDF-`) at commit. */
export const CONTENT_TYPE = 'application/pdf';
const PDF_HEADER = Buffer.from('%PDF-1.7\n');

/** Yields `size` bytes of the seed's content in pieces of `pieceBytes`, each a fresh buffer. */
export function* contentPieces(size: number, seed: number, pieceBytes = MiB): Generator<Buffer> {
  const key = createHash('sha256').update(`lgsp-bench-content-${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(Math.min(pieceBytes, size));
  for (let offset = 0; offset < size; offset += pieceBytes) {
    const length = Math.min(pieceBytes, size - offset);
    const piece = cipher.update(length === zeros.length ? zeros : zeros.subarray(0, length));
    if (offset === 0) PDF_HEADER.copy(piece, 0, 0, Math.min(PDF_HEADER.length, length));
    yield piece;
  }
}

/** The whole content in one buffer: for the small payloads only. */
export function contentBytes(size: number, seed: number): Buffer {
  return Buffer.concat([...contentPieces(size, seed)], size);
}

/** SHA-256 of the seed's content of `size` bytes, computed piece by piece. */
export function contentDigest(size: number, seed: number): Buffer {
  const hash = createHash('sha256');
  for (const piece of contentPieces(size, seed)) hash.update(piece);
  return hash.digest();
}

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}
