/**
 * Who may touch a blob. The uploader: the owner app holding the upload token
 * (or a platform service holding it). A reader: the app a download token was
 * granted to, or a platform service (with or without a token). Metadata:
 * platform services, administrators, the owner app, and apps holding a live
 * download grant.
 */
import { type Caller, CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { isAdmin } from '#lib/rpc/caller.js';
import type { StorageContext } from '../context.js';
import { findBlob, findGrant, hasLiveGrant } from '../db/blobs.js';
import type { BlobRow } from '../db/rows.js';
import {
  blobAccessDenied,
  blobNotFound,
  blobNotSealed,
  blobPurged,
  downloadSpaceExpired,
  downloadTokenInvalid,
  downloadTokenNotYours,
  notBlobOwner,
  uploadTokenInvalid,
} from '../domain/errors.js';
import { tokenDigest, tokenMatches } from '../domain/tokens.js';

const isService = (caller: Caller) => caller.kind === CallerKind.SERVICE;

/** The blob, once the caller is known to hold its upload token and to be its owner. Any state. */
export async function blobForUploader(
  ctx: StorageContext,
  caller: Caller,
  blobId: string,
  uploadToken: string,
): Promise<BlobRow> {
  const row = await findBlob(ctx.db, blobId);
  if (row === undefined) throw blobNotFound(blobId);
  if (!tokenMatches(uploadToken, row.upload_token_sha256)) throw uploadTokenInvalid(blobId);
  const owner = caller.kind === CallerKind.APP && caller.appId === row.owner_app_id;
  if (!owner && !isService(caller)) throw notBlobOwner(blobId, caller.appId);
  return row;
}

/** The SEALED blob, once the caller is known to hold a live download token granted to it. */
export async function blobForReader(
  ctx: StorageContext,
  caller: Caller,
  blobId: string,
  downloadToken: string,
  now = new Date(),
): Promise<BlobRow> {
  const row = await findBlob(ctx.db, blobId);
  if (row === undefined) throw blobNotFound(blobId);
  if (!(isService(caller) && downloadToken === '')) {
    const grant = downloadToken === '' ? undefined : await findGrant(ctx.db, tokenDigest(downloadToken));
    if (grant === undefined || grant.blob_id !== blobId) throw downloadTokenInvalid(blobId);
    if (!isService(caller) && (caller.kind !== CallerKind.APP || grant.app_id !== caller.appId)) {
      throw downloadTokenNotYours(blobId, caller.appId);
    }
    if (grant.expire_at <= now) throw downloadSpaceExpired(blobId, grant.expire_at);
  }
  if (row.state === 'purged') throw blobPurged(row);
  if (row.state === 'staging') throw blobNotSealed(row);
  return row;
}

/** The blob, if the caller may read its metadata. */
export async function blobForStat(ctx: StorageContext, caller: Caller, blobId: string): Promise<BlobRow> {
  const row = await findBlob(ctx.db, blobId);
  if (row === undefined) throw blobNotFound(blobId);
  if (isService(caller) || isAdmin(caller)) return row;
  if (caller.kind === CallerKind.APP && caller.appId !== '') {
    if (caller.appId === row.owner_app_id) return row;
    if (await hasLiveGrant(ctx.db, blobId, caller.appId, new Date())) return row;
  }
  throw blobAccessDenied(blobId);
}
