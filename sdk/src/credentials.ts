/**
 * Where a client's URL and key come from: explicit options first, then the
 * environment, with the names `clients/shell/lgsp-call` uses.
 *
 * | Variable             | Meaning                                              |
 * | -------------------- | ---------------------------------------------------- |
 * | `LGSP_URL`           | gateway base URL (default `http://127.0.0.1:8080`)   |
 * | `LGSP_ACCESS_KEY_ID` | the access key id                                    |
 * | `LGSP_SECRET_KEY`    | the secret key (HMAC)                                |
 * | `LGSP_ALGORITHM`     | `HMAC-SHA256` (default), `HMAC-SHA1` or `RSA-SHA256` |
 * | `LGSP_PRIVATE_KEY`   | PEM file of the RSA private key (`RSA-SHA256`)       |
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SIGNING_ALGORITHMS, type SigningAlgorithm, type SigningKey } from '../../lib/auth/signing.js';
import { ConfigurationError } from './errors.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface Credentials {
  readonly accessKeyId: string;
  /** The HMAC secret exactly as it was shown. */
  readonly secretKey?: string;
  /** An RSA private key: PEM text. */
  readonly privateKeyPem?: string;
  /** A file holding the PEM of the RSA private key. */
  readonly privateKeyFile?: string;
  /** Default: RSA-SHA256 with a private key, HMAC-SHA256 otherwise. */
  readonly algorithm?: SigningAlgorithm;
}

/** A key ready to sign with. */
export interface Signer {
  readonly accessKeyId: string;
  readonly key: SigningKey;
  readonly algorithm: SigningAlgorithm;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The credentials the environment names, or undefined when it names no access key. */
export function credentialsFromEnv(env: Env = process.env): Credentials | undefined {
  const accessKeyId = nonEmpty(env['LGSP_ACCESS_KEY_ID']);
  if (accessKeyId === undefined) return undefined;
  const algorithm = nonEmpty(env['LGSP_ALGORITHM']);
  const secretKey = nonEmpty(env['LGSP_SECRET_KEY']);
  const privateKeyFile = nonEmpty(env['LGSP_PRIVATE_KEY']);
  return {
    accessKeyId,
    ...(secretKey === undefined ? {} : { secretKey }),
    ...(privateKeyFile === undefined ? {} : { privateKeyFile }),
    ...(algorithm === undefined ? {} : { algorithm: checkAlgorithm(algorithm, 'LGSP_ALGORITHM') }),
  };
}

export function urlFromEnv(env: Env = process.env): string | undefined {
  return nonEmpty(env['LGSP_URL']);
}

/** Parses the key once: a PEM parsed per request would cost every call. */
export function signerOf(credentials: Credentials): Signer {
  const { accessKeyId } = credentials;
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(accessKeyId)) {
    throw new ConfigurationError(`the access key id ${JSON.stringify(accessKeyId)} is malformed`);
  }
  const pem =
    credentials.privateKeyPem ??
    (credentials.privateKeyFile === undefined ? undefined : readKeyFile(credentials.privateKeyFile));
  const algorithm = credentials.algorithm ?? (pem === undefined ? 'HMAC-SHA256' : 'RSA-SHA256');
  if (algorithm === 'RSA-SHA256') {
    if (pem === undefined) {
      throw new ConfigurationError('RSA-SHA256 needs a private key: set LGSP_PRIVATE_KEY to its PEM file');
    }
    try {
      return { accessKeyId, algorithm, key: { kind: 'rsa', privateKey: createPrivateKey(pem) } };
    } catch (error) {
      throw new ConfigurationError(`the RSA private key cannot be read: ${(error as Error).message}`);
    }
  }
  if (credentials.secretKey === undefined) {
    throw new ConfigurationError(`${algorithm} needs the secret key: set LGSP_SECRET_KEY`);
  }
  return { accessKeyId, algorithm, key: { kind: 'hmac', secret: credentials.secretKey } };
}

export function checkAlgorithm(value: string, where: string): SigningAlgorithm {
  if (!(SIGNING_ALGORITHMS as readonly string[]).includes(value)) {
    throw new ConfigurationError(`${where} must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
  }
  return value as SigningAlgorithm;
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`cannot read the private key file ${file}: ${(error as Error).message}`);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
