/**
 * Encryption at rest of small secrets (HMAC secrets, signing keys, blob data
 * keys): AES-256-GCM under the
 * master key (`LGSP_MASTER_KEY`). A sealed value is
 *
 *   version (1 byte, 0x01) | IV (12 random bytes) | tag (16 bytes) | ciphertext
 *
 * The version byte and a caller-given context (the access key id or the kid)
 * are authenticated as associated data, so a ciphertext copied into another
 * row does not open there. Any change to a sealed value makes `open` throw.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

export interface SecretBox {
  /** Encrypts `plaintext`, bound to `context`. */
  seal(plaintext: Uint8Array, context: string): Buffer;
  /** Decrypts a value sealed with the same key and context; throws `SecretBoxError` otherwise. */
  open(sealed: Uint8Array, context: string): Buffer;
}

export function createSecretBox(key: Uint8Array, previousKey?: Uint8Array): SecretBox {
  if (key.length !== 32) throw new SecretBoxError('the master key must be 32 bytes');
  if (previousKey !== undefined && previousKey.length !== 32) {
    throw new SecretBoxError('the previous master key must be 32 bytes');
  }
  const masterKey = Buffer.from(key);
  const keys =
    previousKey === undefined || masterKey.equals(previousKey)
      ? [masterKey]
      : [masterKey, Buffer.from(previousKey)];
  const aad = (context: string) => Buffer.concat([Buffer.of(VERSION), Buffer.from(context, 'utf8')]);

  return {
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', masterKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad(context));
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), iv, cipher.getAuthTag(), ciphertext]);
    },

    open(sealed, context) {
      const bytes = Buffer.from(sealed);
      if (bytes.length < HEADER_BYTES || bytes[0] !== VERSION) {
        throw new SecretBoxError('not a sealed value of a known version');
      }
      const iv = bytes.subarray(1, 1 + IV_BYTES);
      const tag = bytes.subarray(1 + IV_BYTES, HEADER_BYTES);
      for (const candidate of keys) {
        const decipher = createDecipheriv('aes-256-gcm', candidate, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad(context));
        decipher.setAuthTag(tag);
        try {
          return Buffer.concat([decipher.update(bytes.subarray(HEADER_BYTES)), decipher.final()]);
        } catch {
          // The next key, if any.
        }
      }
      throw new SecretBoxError('the sealed value does not open: wrong key, wrong context or altered');
    },
  };
}
