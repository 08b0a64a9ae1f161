/**
 * Successful integration actions of the storage service in the audit log
 * (Art. 14.5): reservations, seals, grants, completed downloads, purges.
 * Refusals are recorded by the host's audit guard for every RPC. Never content.
 */
import type { HandlerContext } from '@connectrpc/connect';
import { AuditOutcome } from '#lib/audit.js';
import { callerOf } from '#lib/rpc/caller.js';
import type { StorageContext } from '../context.js';

export const STORAGE_SERVICE = 'lgsp.storage.v1.StorageService';

export function recordSuccess(
  ctx: StorageContext,
  handlerCtx: HandlerContext,
  rpc: string,
  blobId: string,
  message: string,
): void {
  ctx.audit.record({
    actor: callerOf(handlerCtx),
    action: `${STORAGE_SERVICE}/${rpc}`,
    object: blobId,
    outcome: AuditOutcome.SUCCEEDED,
    message,
  });
}
