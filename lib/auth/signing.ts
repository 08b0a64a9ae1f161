/**
 * The LGSP request-signing protocol (docs/auth.md), shared by the gateway,
 * the auth service, the tests and the SDK.
 *
 * In the style of AWS Signature V4: the client builds a canonical "string to
 * sign" from the facts of the request, signs it with its key, and sends the
 * facts and the signature in `lgsp-*` headers (gRPC metadata for gRPC). The
 * body is covered by its SHA-256, computed over the bytes exactly as sent.
 */
import {
  createHash,
  createHmac,
  createSign,
  createVerify,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

export const SIGNING_ALGORITHMS = ['HMAC-SHA256', 'HMAC-SHA1', 'RSA-SHA256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export const SIGNATURE_HEADERS = {
  keyId: 'lgsp-key-id',
  algorithm: 'lgsp-algorithm',
  timestamp: 'lgsp-timestamp',
  nonce: 'lgsp-nonce',
  contentSha256: 'lgsp-content-sha256',
  signature: 'lgsp-signature',
  sessionToken: 'lgsp-session-token',
} as const;

/**
 * The `lgsp-content-sha256` value of a streamed upload: the body is not
 * hashed by the client up front; its integrity rests on the digest declared
 * in the signed request that opened the upload space (docs/auth.md).
 */
export const UNSIGNED_STREAM = 'STREAMING-UNSIGNED-PAYLOAD';

const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const KEY_ID = /^[A-Za-z0-9_-]{8,64}$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Everything a signature covers. */
export interface SignedFacts {
  readonly algorithm: SigningAlgorithm;
  readonly accessKeyId: string;
  /** As sent: `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds). */
  readonly timestamp: string;
  readonly nonce: string;
  /** HTTP method, upper case (`POST` for gRPC). */
  readonly method: string;
  /** The request path, as sent, without the query. */
  readonly path: string;
  /** The raw query string without `?`, or empty. */
  readonly query: string;
  /** Lower-case hex SHA-256 of the body as sent, or UNSIGNED_STREAM. */
  readonly contentSha256: string;
  /** The session token (Art. 10.3), when the call carries one. */
  readonly sessionToken?: string;
}

/** Query pairs sorted by name then value, each part RFC 3986-encoded, joined by `&`. */
export function canonicalQuery(raw: string): string {
  if (raw === '') return '';
  const pairs = raw
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      const name = eq === -1 ? part : part.slice(0, eq);
      const value = eq === -1 ? '' : part.slice(eq + 1);
      return [rfc3986(decodeQueryPart(name)), rfc3986(decodeQueryPart(value))] as const;
    });
  pairs.sort(([an, av], [bn, bv]) => (an === bn ? compare(av, bv) : compare(an, bn)));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

export function stringToSign(facts: SignedFacts): string {
  return [
    facts.algorithm,
    facts.accessKeyId,
    facts.timestamp,
    facts.nonce,
    facts.method.toUpperCase(),
    facts.path,
    canonicalQuery(facts.query),
    facts.contentSha256,
    facts.sessionToken === undefined || facts.sessionToken === '' ? '' : sha256Hex(facts.sessionToken),
  ].join('\n');
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** How a gRPC body looks on the wire for one uncompressed message: flag byte, 4-byte length, message. */
export function grpcFrame(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(5 + message.length);
  new DataView(framed.buffer).setUint32(1, message.length);
  framed.set(message, 5);
  return framed;
}

export type SigningKey =
  | { readonly kind: 'hmac'; readonly secret: string | Uint8Array }
  | { readonly kind: 'rsa'; readonly privateKey: KeyObject | string };

export type VerifyingKey =
  | { readonly kind: 'hmac'; readonly secret: Uint8Array }
  | { readonly kind: 'rsa'; readonly publicKey: KeyObject };

/** The base64 signature of `text`. */
export function sign(algorithm: SigningAlgorithm, key: SigningKey, text: string): string {
  if (algorithm === 'RSA-SHA256') {
    if (key.kind !== 'rsa') throw new Error('RSA-SHA256 needs an RSA private key');
    return createSign('sha256').update(text).sign(key.privateKey, 'base64');
  }
  if (key.kind !== 'hmac') throw new Error(`${algorithm} needs an HMAC secret`);
  return createHmac(algorithm === 'HMAC-SHA1' ? 'sha1' : 'sha256', key.secret)
    .update(text)
    .digest('base64');
}

export function verify(
  algorithm: SigningAlgorithm,
  key: VerifyingKey,
  text: string,
  signature: string,
): boolean {
  const given = Buffer.from(signature, 'base64');
  if (algorithm === 'RSA-SHA256') {
    if (key.kind !== 'rsa') return false;
    return createVerify('sha256').update(text).verify(key.publicKey, given);
  }
  if (key.kind !== 'hmac') return false;
  const expected = createHmac(algorithm === 'HMAC-SHA1' ? 'sha1' : 'sha256', key.secret)
    .update(text)
    .digest();
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export function formatTimestamp(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** Parses the strict timestamp format; undefined for anything else. */
export function parseTimestamp(value: string): Date | undefined {
  const m = TIMESTAMP.exec(value);
  if (m === null) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) || formatTimestamp(date) !== value ? undefined : date;
}

export interface SignRequestInput {
  readonly method: string;
  /** Path and optional query, e.g. `/lgsp.registry.v1.RegistryService/GetUnit`. */
  readonly url: string;
  /** The body exactly as it will be sent; or UNSIGNED_STREAM for a streamed upload. */
  readonly body: Uint8Array | string | typeof UNSIGNED_STREAM;
  readonly accessKeyId: string;
  readonly key: SigningKey;
  readonly algorithm?: SigningAlgorithm;
  readonly now?: Date;
  readonly nonce?: string;
  readonly sessionToken?: string;
}

/** The headers that sign one request. */
export function signRequest(input: SignRequestInput): Record<string, string> {
  const algorithm = input.algorithm ?? (input.key.kind === 'rsa' ? 'RSA-SHA256' : 'HMAC-SHA256');
  const queryAt = input.url.indexOf('?');
  const facts: SignedFacts = {
    algorithm,
    accessKeyId: input.accessKeyId,
    timestamp: formatTimestamp(input.now ?? new Date()),
    nonce: input.nonce ?? newNonce(),
    method: input.method,
    path: queryAt === -1 ? input.url : input.url.slice(0, queryAt),
    query: queryAt === -1 ? '' : input.url.slice(queryAt + 1),
    contentSha256: input.body === UNSIGNED_STREAM ? UNSIGNED_STREAM : sha256Hex(input.body),
    ...(input.sessionToken === undefined ? {} : { sessionToken: input.sessionToken }),
  };
  const headers: Record<string, string> = {
    [SIGNATURE_HEADERS.keyId]: facts.accessKeyId,
    [SIGNATURE_HEADERS.algorithm]: facts.algorithm,
    [SIGNATURE_HEADERS.timestamp]: facts.timestamp,
    [SIGNATURE_HEADERS.nonce]: facts.nonce,
    [SIGNATURE_HEADERS.contentSha256]: facts.contentSha256,
    [SIGNATURE_HEADERS.signature]: sign(algorithm, input.key, stringToSign(facts)),
  };
  if (input.sessionToken !== undefined) headers[SIGNATURE_HEADERS.sessionToken] = input.sessionToken;
  return headers;
}

/** 24 random bytes, base64url: 32 characters. */
export function newNonce(): string {
  return randomBytes(24).toString('base64url');
}

export type HeaderProblem =
  | 'MISSING_HEADER'
  | 'DUPLICATE_HEADER'
  | 'MALFORMED_HEADER'
  | 'UNSUPPORTED_ALGORITHM';

export type ReadSignature =
  | {
      readonly ok: true;
      readonly facts: Omit<SignedFacts, 'method' | 'path' | 'query'>;
      readonly signature: string;
    }
  | {
      readonly ok: false;
      readonly problem: HeaderProblem;
      readonly header: string;
      readonly message: string;
    };

/** True when the request carries any signature header (it then must carry all of them). */
export function hasSignatureHeaders(headers: Headers): boolean {
  return headers.has(SIGNATURE_HEADERS.signature) || headers.has(SIGNATURE_HEADERS.keyId);
}

/**
 * Reads and checks the shape of the signature headers. A header given twice
 * arrives joined by a comma, which no valid value contains.
 */
export function readSignatureHeaders(headers: Headers): ReadSignature {
  const values: Partial<Record<keyof typeof SIGNATURE_HEADERS, string>> = {};
  for (const [field, name] of Object.entries(SIGNATURE_HEADERS) as [
    keyof typeof SIGNATURE_HEADERS,
    string,
  ][]) {
    const value = headers.get(name);
    if (value === null) {
      if (field === 'sessionToken') continue;
      return { ok: false, problem: 'MISSING_HEADER', header: name, message: `header ${name} is missing` };
    }
    if (value.includes(',')) {
      return {
        ok: false,
        problem: 'DUPLICATE_HEADER',
        header: name,
        message: `header ${name} is given more than once`,
      };
    }
    values[field] = value.trim();
  }
  const bad = (header: string, what: string): ReadSignature => ({
    ok: false,
    problem: 'MALFORMED_HEADER',
    header,
    message: `header ${header} must be ${what}`,
  });
  const algorithm = values.algorithm!;
  if (!(SIGNING_ALGORITHMS as readonly string[]).includes(algorithm)) {
    return {
      ok: false,
      problem: 'UNSUPPORTED_ALGORITHM',
      header: SIGNATURE_HEADERS.algorithm,
      message: `algorithm must be one of ${SIGNING_ALGORITHMS.join(', ')}`,
    };
  }
  if (!KEY_ID.test(values.keyId!)) return bad(SIGNATURE_HEADERS.keyId, 'an access key id');
  if (parseTimestamp(values.timestamp!) === undefined) {
    return bad(SIGNATURE_HEADERS.timestamp, 'a UTC time like 2026-01-31T08:30:00Z');
  }
  if (!NONCE.test(values.nonce!))
    return bad(SIGNATURE_HEADERS.nonce, '16 to 64 characters of A-Z, a-z, 0-9, _ or -');
  if (!HEX_SHA256.test(values.contentSha256!) && values.contentSha256 !== UNSIGNED_STREAM) {
    return bad(SIGNATURE_HEADERS.contentSha256, 'the lower-case hex SHA-256 of the body');
  }
  if (!BASE64.test(values.signature!)) return bad(SIGNATURE_HEADERS.signature, 'base64');
  return {
    ok: true,
    signature: values.signature!,
    facts: {
      algorithm: algorithm as SigningAlgorithm,
      accessKeyId: values.keyId!,
      timestamp: values.timestamp!,
      nonce: values.nonce!,
      contentSha256: values.contentSha256!,
      ...(values.sessionToken === undefined ? {} : { sessionToken: values.sessionToken }),
    },
  };
}

function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function decodeQueryPart(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
