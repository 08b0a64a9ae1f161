/**
 * What the storage's cryptography costs per MiB on this machine, timed in the
 * worker: sealing in 64 KiB AES-256-GCM segments with a fresh IV and
 * associated data each (the storage's at-rest format, docs/storage.md), and
 * SHA-256. Set against the main thread's time per MiB, it tells whether the
 * byte path is bound by cryptography or by everything around it.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { KiB, MiB } from './content.js';

const SEGMENT = 64 * KiB;

export function cryptoMsPerMiB(totalMiB = 64): { aesGcm: number; sha256: number } {
  const key = randomBytes(32);
  const plain = randomBytes(MiB);
  const aad = Buffer.from('lgsp.storage.segment bench');
  const sealStarted = performance.now();
  for (let i = 0; i < totalMiB; i++) {
    for (let at = 0; at < MiB; at += SEGMENT) {
      const cipher = createCipheriv('aes-256-gcm', key, randomBytes(12));
      cipher.setAAD(aad);
      cipher.update(plain.subarray(at, at + SEGMENT));
      cipher.final();
      cipher.getAuthTag();
    }
  }
  const aesGcm = (performance.now() - sealStarted) / totalMiB;
  const hashStarted = performance.now();
  const hash = createHash('sha256');
  for (let i = 0; i < totalMiB; i++) hash.update(plain);
  hash.digest();
  return { aesGcm, sha256: (performance.now() - hashStarted) / totalMiB };
}
