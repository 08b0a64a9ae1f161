/** The values of a new credential, before it is stored: fresh ids, sealed secrets. */
import type { SigningAlgorithm } from '#lib/auth/signing.js';
import type { SecretBox } from '#lib/crypto/secret-box.js';
import type { NewCredential } from '../db/credentials.js';
import { newAccessKeyId, newHmacSecret, secretHint } from './access-keys.js';
import type { RsaPublicKey } from './public-keys.js';

type Common = Pick<
  NewCredential,
  'owner' | 'unitCode' | 'roles' | 'label' | 'rotatedFrom' | 'createdBy' | 'expiresAt'
>;

/** An HMAC credential and its secret, which the caller shows once and never keeps. */
export function newHmacCredential(
  box: SecretBox,
  common: Common,
  allowLegacySha1: boolean,
): { values: NewCredential; secret: string } {
  const accessKeyId = newAccessKeyId();
  const secret = newHmacSecret();
  const algorithms: SigningAlgorithm[] = allowLegacySha1 ? ['HMAC-SHA256', 'HMAC-SHA1'] : ['HMAC-SHA256'];
  return {
    secret,
    values: {
      ...common,
      accessKeyId,
      kind: 'hmac_secret',
      algorithms,
      // The HMAC key is the secret string's UTF-8 bytes; sealed to this access key id.
      secretCiphertext: box.seal(Buffer.from(secret, 'utf8'), accessKeyId),
      secretHint: secretHint(secret),
    },
  };
}

export function newRsaCredential(common: Common, key: RsaPublicKey): NewCredential {
  return {
    ...common,
    accessKeyId: newAccessKeyId(),
    kind: 'rsa_public_key',
    algorithms: ['RSA-SHA256'],
    publicKey: key,
  };
}
