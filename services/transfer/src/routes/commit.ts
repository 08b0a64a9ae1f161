/**
 * Commit (Art. 8.3–8.4): the content is complete and its digest checked by
 * storage; the platform analyses it against its declared type, fixes the
 * policy and deadline, and plans one delivery per destination app. Shared by
 * CommitTransfer and by CreateTransfer with inline content.
 */

import { BlobState } from '#gen/lgsp/storage/v1/resources_pb.js';
import { FailedPreconditionError, InvalidArgumentError } from '#lib/errors.js';
import type { TransferContext } from '../context.js';
import { recordChange } from '../db/history.js';
import type { TransferRow } from '../db/rows.js';
import type { PolicyJson } from '../db/schema.js';
import { type Db, lockTransfer, updateTransfer } from '../db/transfers.js';
import { moveTransfer } from '../db/transitions.js';
import { type Analysis, analyse } from '../domain/analyse.js';
import { newId } from '../domain/ids.js';
import { deadlineOf } from '../domain/policy.js';
import { UPLOADING_STATES } from '../domain/states.js';

/** Checks that the upload is complete and what it holds; throws, and fails the transfer, when the content is wrong. */
export async function checkContent(
  ctx: TransferContext,
  transfer: TransferRow,
  inline: Uint8Array | undefined,
): Promise<Analysis & { ok: true }> {
  if (inline === undefined) {
    const blob = await ctx.storage.stat(transfer.blob_id);
    if (blob.state === BlobState.PURGED) {
      await failTransfer(
        ctx,
        transfer,
        'the uploaded content was dropped (digest mismatch or expired space)',
      );
      throw new FailedPreconditionError(
        'CONTENT_DROPPED',
        'the uploaded content did not match its declared digest or expired; send the transfer again',
        {
          transfer_id: transfer.id,
        },
      );
    }
    if (blob.state !== BlobState.SEALED) {
      throw new FailedPreconditionError(
        'UPLOAD_INCOMPLETE',
        `the upload space holds ${blob.receivedBytes} of ${blob.sizeBytes} bytes; upload the rest, then commit`,
        {
          transfer_id: transfer.id,
          received_bytes: String(blob.receivedBytes),
          size_bytes: String(blob.sizeBytes),
        },
      );
    }
  }
  const size = Number(transfer.size_bytes);
  const limit = Math.min(size, ctx.config.analyseMaxBytes);
  const head = inline ?? (await readHead(ctx, transfer.blob_id, limit));
  const analysis = analyse({
    protocol: transfer.protocol,
    contentType: transfer.content_type,
    head,
    complete: limit === size,
    recipientUnitCodes: transfer.recipients.flatMap((r) => ('unitCode' in r ? [r.unitCode] : [])),
    sourceUnitCode: transfer.source_unit_code,
  });
  if (!analysis.ok) {
    if (inline === undefined) await failTransfer(ctx, transfer, analysis.message);
    throw new FailedPreconditionError(analysis.reason, analysis.message, { transfer_id: transfer.id });
  }
  return analysis;
}

async function readHead(ctx: TransferContext, blobId: string, limit: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of ctx.storage.read(blobId, limit)) parts.push(chunk);
  return Buffer.concat(parts);
}

async function failTransfer(ctx: TransferContext, transfer: TransferRow, reason: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const locked = await lockTransfer(trx, transfer.id);
    if (locked === undefined || !UPLOADING_STATES.includes(locked.state)) return;
    await moveTransfer(trx, ctx.config.busPrefix, locked, 'failed', { actor: 'platform', reason });
  });
  ctx.wakeWorker();
}

/**
 * In the caller's transaction, with the transfer locked: COMMITTED, then
 * DELIVERING with its deliveries PENDING. A transfer already past upload is
 * returned as it is (commit is idempotent).
 */
export async function commitLocked(
  ctx: TransferContext,
  trx: Db,
  transfer: TransferRow,
  policy: PolicyJson,
  metadata: Record<string, string>,
): Promise<TransferRow> {
  if (!UPLOADING_STATES.includes(transfer.state)) return transfer;
  const prefix = ctx.config.busPrefix;
  const now = new Date();
  const deadline = deadlineOf(policy, now, ctx.config.defaultDeadlineSeconds);
  if (deadline.getTime() <= now.getTime()) {
    throw new InvalidArgumentError([
      { field: 'policy.deadline', description: 'has passed', reason: 'DEADLINE_PAST' },
    ]);
  }
  const committed = await moveTransfer(
    trx,
    prefix,
    transfer,
    'committed',
    { actor: transfer.source_app_id },
    {
      policy,
      deadline,
      committed_at: now,
      upload_expires_at: null,
      content_metadata: metadata,
      delivery_count: transfer.routes.length,
    },
  );
  const deliveries = await trx
    .insertInto('deliveries')
    .values(
      committed.routes.map((route) => ({
        id: newId('dlv'),
        transfer_id: committed.id,
        recipient: committed.recipients[route.recipient]!,
        destination_app_id: route.appId,
        destination_unit_code: route.unitCode,
        priority: committed.priority,
        state: 'pending' as const,
        deadline,
        next_attempt_at: null,
      })),
    )
    .returningAll()
    .execute();
  const delivering = await updateTransfer(trx, committed.id, { state: 'delivering' });
  for (const delivery of deliveries) {
    await recordChange(trx, prefix, delivering, delivery, { actor: 'platform', reason: 'delivery planned' });
  }
  return delivering;
}
