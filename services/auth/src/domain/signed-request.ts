/**
 * A SignedRequest message (the facts a receiver saw, Art. 4.4) read into the
 * SignedFacts that lib/auth signs and verifies. Anything malformed is a
 * refusal with reason MALFORMED, never an exception.
 */
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { SignedRequest } from '#gen/lgsp/auth/v1/resources_pb.js';
import { formatTimestamp, type SignedFacts } from '#lib/auth/signing.js';
import { algorithmFromProto } from '../db/rows.js';

const KEY_ID = /^[A-Za-z0-9_-]{8,64}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const METHOD = /^[A-Z]{1,16}$/;
const MAX_PATH_BYTES = 2048;
const MAX_QUERY_BYTES = 8192;
const MAX_SIGNATURE_BYTES = 1024;

export type ReadRequest =
  | { readonly ok: true; readonly facts: SignedFacts; readonly signature: string; readonly signedAt: Date }
  | { readonly ok: false; readonly message: string; readonly signedAt?: Date };

export function readSignedRequest(req: SignedRequest): ReadRequest {
  const signedAt = req.signTime === undefined ? undefined : timestampDate(req.signTime);
  const bad = (message: string): ReadRequest => ({
    ok: false,
    message,
    ...(signedAt === undefined ? {} : { signedAt }),
  });
  const algorithm = algorithmFromProto.get(req.algorithm);
  if (algorithm === undefined) return bad('the signature algorithm is missing or unknown');
  if (!KEY_ID.test(req.accessKeyId)) return bad('the access key id is missing or malformed');
  if (signedAt === undefined || req.signTime === undefined) return bad('the signing time is missing');
  if (req.signTime.nanos !== 0 || Number.isNaN(signedAt.getTime())) {
    return bad('the signing time must be whole seconds, as in 2026-01-31T08:30:00Z');
  }
  if (!NONCE.test(req.nonce)) return bad('the nonce must be 16 to 64 characters of A-Z, a-z, 0-9, _ or -');
  if (!METHOD.test(req.method)) return bad('the HTTP method must be given in upper case');
  if (!req.path.startsWith('/') || Buffer.byteLength(req.path) > MAX_PATH_BYTES) {
    return bad(`the path must start with "/" and be at most ${MAX_PATH_BYTES} bytes`);
  }
  if (Buffer.byteLength(req.canonicalQuery) > MAX_QUERY_BYTES) return bad('the query is too long');
  if (req.contentSha256.length !== 32) return bad('content_sha256 must be the 32-byte SHA-256 of the body');
  if (req.signature.length === 0 || req.signature.length > MAX_SIGNATURE_BYTES) {
    return bad('the signature is missing or too long');
  }
  return {
    ok: true,
    signedAt,
    signature: Buffer.from(req.signature).toString('base64'),
    facts: {
      algorithm,
      accessKeyId: req.accessKeyId,
      timestamp: formatTimestamp(signedAt),
      nonce: req.nonce,
      method: req.method,
      path: req.path,
      query: req.canonicalQuery,
      contentSha256: Buffer.from(req.contentSha256).toString('hex'),
      ...(req.sessionToken === '' ? {} : { sessionToken: req.sessionToken }),
    },
  };
}
