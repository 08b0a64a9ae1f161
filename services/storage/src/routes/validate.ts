/**
 * Request checks, one function per RPC, run before any side effect. Each
 * collects every problem and throws one InvalidArgument listing the fields.
 */
import type { Duration } from '@bufbuild/protobuf/wkt';
import type {
  DownloadChunkRequest,
  DownloadRequest,
  GetUploadStatusRequest,
  GrantDownloadRequest,
  PurgeRequest,
  PutBlobRequest,
  RenewUploadTokenRequest,
  ReserveBlobRequest,
  UploadChunkRequest,
  UploadHeader,
} from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { Violations } from '#lib/errors.js';
import { CHUNK_MAX_BYTES, PUT_BLOB_MAX_BYTES } from '../config.js';
import { BLOB_ID } from '../db/blobs.js';
import { purgeReasons } from '../db/rows.js';
import type { PurgeReasonName } from '../db/schema.js';
import { looksLikeToken } from '../domain/tokens.js';

const DEFAULT_TTL_SECONDS = 3600;
const MIN_TTL_SECONDS = 60;
const MAX_TTL_SECONDS = 24 * 3600;
/** App and transfer ids are other services' ids: checked for shape, not format. */
const FOREIGN_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;.*)?$/;

function blobId(field: string, raw: string, v: Violations): string {
  if (raw === '') v.add(field, 'is required', 'REQUIRED');
  else if (!BLOB_ID.test(raw)) v.add(field, 'must look like blb_0123456789abcdef', 'ID_FORMAT');
  return raw;
}

function foreignId(field: string, raw: string, v: Violations): string {
  if (raw === '') v.add(field, 'is required', 'REQUIRED');
  else if (!FOREIGN_ID.test(raw)) v.add(field, 'must be 1 to 128 letters, digits or _ . : -', 'ID_FORMAT');
  return raw;
}

function token(field: string, raw: string, v: Violations, required = true): string {
  if (raw === '') {
    if (required) v.add(field, 'is required', 'REQUIRED');
  } else if (!looksLikeToken(raw)) v.add(field, 'is not a token this service issued', 'TOKEN_FORMAT');
  return raw;
}

function contentType(field: string, raw: string, v: Violations): string {
  if (raw === '') v.add(field, 'is required', 'REQUIRED');
  else if (raw.length > 255 || !MEDIA_TYPE.test(raw))
    v.add(field, 'must be a media type, e.g. application/xml', 'MEDIA_TYPE');
  return raw;
}

function sha256(field: string, raw: Uint8Array, v: Violations): Uint8Array {
  if (raw.length !== 32) v.add(field, `must be 32 bytes, got ${raw.length}`, 'SHA256_LENGTH');
  return raw;
}

/** A non-negative int64 that fits a JS number exactly. */
function offset(field: string, raw: bigint, v: Violations): number {
  if (raw < 0n) v.add(field, 'must not be negative', 'NEGATIVE');
  else if (raw > BigInt(Number.MAX_SAFE_INTEGER)) v.add(field, 'is too large', 'TOO_LARGE');
  return Number(raw);
}

function ttlSeconds(field: string, ttl: Duration | undefined, v: Violations): number {
  if (ttl === undefined) return DEFAULT_TTL_SECONDS;
  const seconds = Number(ttl.seconds) + ttl.nanos / 1e9;
  if (!(seconds >= MIN_TTL_SECONDS && seconds <= MAX_TTL_SECONDS)) {
    v.add(field, `must be between ${MIN_TTL_SECONDS} s and ${MAX_TTL_SECONDS} s`, 'TTL_RANGE');
  }
  return seconds;
}

function chunk(field: string, raw: Uint8Array, v: Violations, max = CHUNK_MAX_BYTES): Uint8Array {
  if (raw.length === 0) v.add(field, 'must hold at least 1 byte', 'EMPTY');
  else if (raw.length > max) v.add(field, `must hold at most ${max} bytes, got ${raw.length}`, 'TOO_LARGE');
  return raw;
}

export interface ReserveInput {
  readonly ownerAppId: string;
  readonly transferId: string;
  readonly contentType: string;
  readonly sizeBytes: number;
  readonly sha256: Uint8Array;
  readonly ttlSeconds: number;
}

export function checkReserveBlob(req: ReserveBlobRequest, maxBlobBytes: number): ReserveInput {
  const v = new Violations();
  const input = {
    ownerAppId: foreignId('owner_app_id', req.ownerAppId, v),
    transferId: foreignId('transfer_id', req.transferId, v),
    contentType: contentType('content_type', req.contentType, v),
    sizeBytes: Number(req.sizeBytes),
    sha256: sha256('sha256', req.sha256, v),
    ttlSeconds: ttlSeconds('ttl', req.ttl, v),
  };
  if (req.sizeBytes < 1n) v.add('size_bytes', 'must be at least 1', 'TOO_SMALL');
  else if (req.sizeBytes > BigInt(maxBlobBytes)) {
    v.add('size_bytes', `must be at most ${maxBlobBytes} (LGSP_MAX_BLOB_BYTES)`, 'TOO_LARGE');
  }
  v.throwIfAny();
  return input;
}

export function checkRenewUploadToken(req: RenewUploadTokenRequest): { blobId: string; ttlSeconds: number } {
  const v = new Violations();
  const input = { blobId: blobId('blob_id', req.blobId, v), ttlSeconds: ttlSeconds('ttl', req.ttl, v) };
  v.throwIfAny();
  return input;
}

export function checkPutBlob(req: PutBlobRequest): Omit<ReserveInput, 'sizeBytes' | 'ttlSeconds'> & {
  content: Uint8Array;
} {
  const v = new Violations();
  const input = {
    ownerAppId: foreignId('owner_app_id', req.ownerAppId, v),
    transferId: foreignId('transfer_id', req.transferId, v),
    contentType: contentType('content_type', req.contentType, v),
    content: chunk('content', req.content, v, PUT_BLOB_MAX_BYTES),
    sha256: sha256('sha256', req.sha256, v),
  };
  v.throwIfAny();
  return input;
}

export interface UploadPosition {
  readonly blobId: string;
  readonly uploadToken: string;
  readonly offset: number;
}

export function checkUploadHeader(header: UploadHeader): UploadPosition {
  const v = new Violations();
  const input = {
    blobId: blobId('header.blob_id', header.blobId, v),
    uploadToken: token('header.upload_token', header.uploadToken, v),
    offset: offset('header.offset', header.offset, v),
  };
  v.throwIfAny();
  return input;
}

/** A chunk of an upload stream; `index` is the message's position, for the error. */
export function checkStreamChunk(bytes: Uint8Array, index: number): Uint8Array {
  const v = new Violations();
  chunk(`chunk[${index}]`, bytes, v);
  v.throwIfAny();
  return bytes;
}

export function checkUploadChunk(req: UploadChunkRequest): UploadPosition & { chunk: Uint8Array } {
  const v = new Violations();
  const input = {
    blobId: blobId('blob_id', req.blobId, v),
    uploadToken: token('upload_token', req.uploadToken, v),
    offset: offset('offset', req.offset, v),
    chunk: chunk('chunk', req.chunk, v),
  };
  v.throwIfAny();
  return input;
}

export function checkGetUploadStatus(req: GetUploadStatusRequest): { blobId: string; uploadToken: string } {
  const v = new Violations();
  const input = {
    blobId: blobId('blob_id', req.blobId, v),
    uploadToken: token('upload_token', req.uploadToken, v),
  };
  v.throwIfAny();
  return input;
}

export function checkGrantDownload(req: GrantDownloadRequest): {
  blobId: string;
  appId: string;
  ttlSeconds: number;
} {
  const v = new Violations();
  const input = {
    blobId: blobId('blob_id', req.blobId, v),
    appId: foreignId('app_id', req.appId, v),
    ttlSeconds: ttlSeconds('ttl', req.ttl, v),
  };
  v.throwIfAny();
  return input;
}

export interface DownloadInput {
  readonly blobId: string;
  readonly downloadToken: string;
  readonly offset: number;
  /** Most bytes wanted; 0 means to the end. */
  readonly limit: number;
}

/** The token may be empty here: platform services read without one (checked with the caller). */
export function checkDownload(req: DownloadRequest): DownloadInput {
  const v = new Violations();
  const input = {
    blobId: blobId('blob_id', req.blobId, v),
    downloadToken: token('download_token', req.downloadToken, v, false),
    offset: offset('offset', req.offset, v),
    limit: offset('limit', req.limit, v),
  };
  v.throwIfAny();
  return input;
}

export function checkDownloadChunk(req: DownloadChunkRequest): DownloadInput {
  const v = new Violations();
  const input = {
    blobId: blobId('blob_id', req.blobId, v),
    downloadToken: token('download_token', req.downloadToken, v, false),
    offset: offset('offset', req.offset, v),
    limit: req.limit === 0 ? CHUNK_MAX_BYTES : req.limit,
  };
  if (req.limit < 0 || req.limit > CHUNK_MAX_BYTES) {
    v.add('limit', `must be 0 (1 MiB) to ${CHUNK_MAX_BYTES}`, 'LIMIT_RANGE');
  }
  v.throwIfAny();
  return input;
}

export function checkBlobId(raw: string): string {
  const v = new Violations();
  const id = blobId('blob_id', raw, v);
  v.throwIfAny();
  return id;
}

export function checkPurge(req: PurgeRequest): { blobId: string; reason: PurgeReasonName } {
  const v = new Violations();
  const id = blobId('blob_id', req.blobId, v);
  const reason = purgeReasons.fromProto(req.reason);
  if (reason === undefined)
    v.add('reason', req.reason === 0 ? 'is required' : `unknown value ${req.reason}`, 'ENUM_VALUE');
  v.throwIfAny();
  return { blobId: id, reason: reason! };
}
