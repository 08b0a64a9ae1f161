/**
 * Blob data keys at rest: wrapped by the secret box under the master key,
 * bound to the blob id, so a wrapped key copied into another blob's row does
 * not open there. Dropping the wrapped key (purge) makes whatever ciphertext
 * might survive in an adapter unreadable.
 */
import { createHash } from 'node:crypto';
import type { SecretBox } from '#lib/crypto/secret-box.js';

/** The context a blob's data key is sealed with. */
export const dataKeyContext = (blobId: string) => `lgsp.storage.blob:${blobId}`;

export function wrapDataKey(box: SecretBox, blobId: string, key: Uint8Array): Buffer {
  return box.seal(key, dataKeyContext(blobId));
}

/** Throws `SecretBoxError` when the wrapped key does not open (other master key, other blob, altered). */
export function unwrapDataKey(box: SecretBox, blobId: string, wrapped: Uint8Array): Buffer {
  return box.open(wrapped, dataKeyContext(blobId));
}

/**
 * A public name of the master key, e.g. `mk-3f9a0c21d4e5`, stored with each blob
 * so that a key rotation can tell which data keys to re-wrap. It reveals
 * nothing usable about the key: a truncated hash of it under a fixed label.
 */
export function masterKeyId(masterKey: Uint8Array): string {
  return `mk-${createHash('sha256').update('lgsp.master-key-id').update(masterKey).digest('hex').slice(0, 12)}`;
}
