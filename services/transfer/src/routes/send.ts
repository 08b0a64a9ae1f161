/** The send flow (Art. 8): open a session, request a transfer, commit it, cancel it. */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate, timestampNow } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import type { Caller } from '#gen/lgsp/common/v1/common_pb.js';
import { PurgeReason } from '#gen/lgsp/storage/v1/resources_pb.js';
import { type UploadSpace, UploadSpaceSchema } from '#gen/lgsp/transfer/v1/resources_pb.js';
import type { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import { jsonb } from '#lib/db/jsonb.js';
import { AlreadyExistsError, InvalidArgumentError, Violations } from '#lib/errors.js';
import type { StagingSpace } from '../clients/storage.js';
import type { TransferContext } from '../context.js';
import { changesSince, cursorBefore, recordChange } from '../db/history.js';
import { type TransferRow, toStatusChange, toTransfer } from '../db/rows.js';
import type { RouteJson } from '../db/schema.js';
import {
  countOpenTransfers,
  countPending,
  deliveriesOf,
  findByIdempotencyKey,
  findTransfer,
  lockTransfer,
} from '../db/transfers.js';
import { moveDelivery, moveTransfer } from '../db/transitions.js';
import { newId } from '../domain/ids.js';
import { checkPolicy } from '../domain/policy.js';
import { isFinalTransfer, OPEN_DELIVERY_STATES, UPLOADING_STATES } from '../domain/states.js';
import { checkCreateTransfer, type NewTransferInput, requiredId } from './checks.js';
import { checkContent, commitLocked } from './commit.js';
import { requireApp, transferNotFound } from './parties.js';
import { planRoutes } from './routing.js';

const SESSION_LOOKBACK_MS = 7 * 24 * 3600_000;
const CHUNK_SIZE = 256 * 1024;
/** A repeated request within this time is the same transfer (CreateTransferRequest.idempotency_key). */
const IDEMPOTENCY_WINDOW_MS = 24 * 3600_000;

export function sendRoutes(ctx: TransferContext): Partial<ServiceImpl<typeof TransferService>> {
  const prefix = ctx.config.busPrefix;

  async function ownTransfer(id: string, appId: string): Promise<TransferRow> {
    const row = await findTransfer(ctx.db, id);
    if (row === undefined || row.source_app_id !== appId) throw transferNotFound(id);
    return row;
  }

  return {
    async openSession(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const v = new Violations();
      const limit = req.pageSize === 0 ? 200 : req.pageSize;
      if (limit < 1 || limit > 1000) v.add('page_size', 'must be 1 to 1000, or 0 for 200', 'OUT_OF_RANGE');
      if (req.cursor !== '' && !/^\d{1,19}$/.test(req.cursor))
        v.add('cursor', 'is not a cursor this service gave', 'CURSOR_FORMAT');
      v.throwIfAny();
      const after =
        req.cursor === ''
          ? await cursorBefore(ctx.db, caller.appId, new Date(Date.now() - SESSION_LOOKBACK_MS))
          : BigInt(req.cursor);
      const rows = await changesSince(ctx.db, caller.appId, after, limit + 1);
      const page = rows.slice(0, limit);
      const [open, pending] = await Promise.all([
        countOpenTransfers(ctx.db, caller.appId),
        countPending(ctx.db, caller.appId),
      ]);
      return {
        changes: page.map(toStatusChange),
        nextCursor: page.length === 0 ? String(after) : String(page.at(-1)!.seq),
        hasMore: rows.length > limit,
        openTransferCount: open,
        pendingDeliveryCount: pending,
        serverTime: timestampNow(),
      };
    },

    async createTransfer(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const input = checkCreateTransfer(req, ctx.config, new Date());
      if (input.idempotencyKey !== undefined) {
        const earlier = await findByIdempotencyKey(ctx.db, caller.appId, input.idempotencyKey);
        if (earlier !== undefined && Date.now() - earlier.created_at.getTime() < IDEMPOTENCY_WINDOW_MS) {
          return repeat(earlier, input);
        }
        // Older than the window: the key is free again, and the old transfer lets go of it.
        if (earlier !== undefined) {
          await ctx.db
            .updateTable('transfers')
            .set({ idempotency_key: null })
            .where('id', '=', earlier.id)
            .execute();
        }
      }
      const routes = await planRoutes(ctx, input, caller.appId);
      const row = newTransferRow(caller, input, routes);
      try {
        return input.inlineContent === undefined
          ? await createWithSpace(row, input, caller.appId)
          : await createInline(row, input, input.inlineContent, routes);
      } catch (error) {
        return raceOrThrow(error, caller.appId, input);
      }
    },

    async commitTransfer(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const id = requiredId('transfer_id', req.transferId, 'trf');
      const v = new Violations();
      const policyOverride =
        req.policy === undefined ? undefined : checkPolicy('policy', req.policy, new Date(), v);
      v.throwIfAny();
      const transfer = await ownTransfer(id, caller.appId);
      if (!UPLOADING_STATES.includes(transfer.state)) return { transfer: toTransfer(transfer) };
      const analysis = await checkContent(ctx, transfer, undefined);
      const committed = await ctx.db.transaction().execute(async (trx) => {
        const locked = (await lockTransfer(trx, id))!;
        return commitLocked(ctx, trx, locked, policyOverride ?? locked.policy, analysis.metadata);
      });
      ctx.outbox.wake();
      ctx.wakeWorker();
      return { transfer: toTransfer(committed) };
    },

    async cancelTransfer(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const id = requiredId('transfer_id', req.transferId, 'trf');
      const reason = req.reason.trim();
      if (reason.length > 500) {
        throw new InvalidArgumentError([
          { field: 'reason', description: 'must be at most 500 characters', reason: 'TOO_LONG' },
        ]);
      }
      await ownTransfer(id, caller.appId);
      const actor = caller.appId;
      const cancelled = await ctx.db.transaction().execute(async (trx) => {
        let transfer = (await lockTransfer(trx, id))!;
        if (isFinalTransfer(transfer.state)) return transfer;
        const why = reason === '' ? 'cancelled by the source' : reason;
        if (UPLOADING_STATES.includes(transfer.state)) {
          return moveTransfer(trx, prefix, transfer, 'cancelled', { actor, reason: why });
        }
        for (const delivery of await deliveriesOf(trx, id)) {
          if (!OPEN_DELIVERY_STATES.includes(delivery.state)) continue;
          transfer = (
            await moveDelivery(trx, prefix, transfer, delivery, 'cancelled', { actor, reason: why })
          ).transfer;
        }
        return transfer;
      });
      ctx.outbox.wake();
      ctx.wakeWorker();
      return { transfer: toTransfer(cancelled) };
    },
  };

  /** Small content: checked, stored and committed in this one call (Art. 8, small content). */
  async function createInline(
    row: NewTransferRow,
    input: NewTransferInput,
    content: Uint8Array,
    routes: RouteJson[],
  ) {
    // Checked before anything is stored: bad inline content leaves nothing behind.
    const draft = { ...row, recipients: input.recipients, routes, blob_id: '' } as unknown as TransferRow;
    const analysis = await checkContent(ctx, draft, content);
    const blob = await ctx.storage.putSmall({
      transferId: row.id,
      ownerAppId: row.source_app_id,
      contentType: input.contentType,
      sha256: input.sha256,
      content,
    });
    try {
      const transfer = await ctx.db.transaction().execute(async (trx) => {
        const inserted = await trx
          .insertInto('transfers')
          .values({ ...row, blob_id: blob.id, inline: true })
          .returningAll()
          .executeTakeFirstOrThrow();
        return commitLocked(ctx, trx, inserted, input.policy, analysis.metadata);
      });
      ctx.outbox.wake();
      ctx.wakeWorker();
      return { transfer: toTransfer(transfer) };
    } catch (error) {
      await ctx.storage.purge(blob.id, PurgeReason.FAILED).catch(() => undefined);
      throw error;
    }
  }

  /** Larger content: an upload space is granted (Art. 8.2); the source uploads, then commits. */
  async function createWithSpace(row: NewTransferRow, input: NewTransferInput, actor: string) {
    const space = await ctx.storage.reserve({
      transferId: row.id,
      ownerAppId: row.source_app_id,
      contentType: input.contentType,
      sizeBytes: input.sizeBytes,
      sha256: input.sha256,
      ttlSeconds: ctx.config.uploadSpaceTtlSeconds,
    });
    const transfer = await ctx.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('transfers')
        .values({ ...row, blob_id: space.blob.id, inline: false, upload_expires_at: space.expireTime })
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(trx, prefix, inserted, undefined, {
        actor,
        reason: 'transfer requested; upload space granted',
      });
      return inserted;
    });
    ctx.outbox.wake();
    return { transfer: toTransfer(transfer), uploadSpace: uploadSpace(space, input.sizeBytes) };
  }

  /** A repeated request (same idempotency key) gets the same transfer, and a fresh space while uploading. */
  async function repeat(earlier: TransferRow, input: NewTransferInput) {
    if (earlier.request_digest !== input.requestDigest) {
      throw new AlreadyExistsError(
        'IDEMPOTENCY_KEY_REUSED',
        `idempotency key ${input.idempotencyKey} was used for a different request (transfer ${earlier.id})`,
        { transfer_id: earlier.id },
      );
    }
    if (earlier.inline || !UPLOADING_STATES.includes(earlier.state)) return { transfer: toTransfer(earlier) };
    const space = await ctx.storage.renewUpload(earlier.blob_id, ctx.config.uploadSpaceTtlSeconds);
    const renewed = await ctx.db
      .updateTable('transfers')
      .set({ upload_expires_at: space.expireTime })
      .where('id', '=', earlier.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { transfer: toTransfer(renewed), uploadSpace: uploadSpace(space, input.sizeBytes) };
  }

  /** Two identical requests at once: the loser of the unique index answers as a repeat. */
  async function raceOrThrow(error: unknown, appId: string, input: NewTransferInput) {
    if (input.idempotencyKey !== undefined && isUniqueViolation(error)) {
      const winner = await findByIdempotencyKey(ctx.db, appId, input.idempotencyKey);
      if (winner !== undefined) return repeat(winner, input);
    }
    throw error;
  }
}

type NewTransferRow = ReturnType<typeof newTransferRow>;

function newTransferRow(caller: Caller, input: NewTransferInput, routes: RouteJson[]) {
  return {
    id: newId('trf'),
    source_app_id: caller.appId,
    source_unit_code: caller.unitCode,
    recipients: jsonb(input.recipients),
    routes: jsonb(routes),
    subject: input.subject,
    priority: input.priority,
    content_type: input.contentType,
    protocol: input.protocol,
    size_bytes: String(input.sizeBytes),
    sha256: input.sha256,
    idempotency_key: input.idempotencyKey ?? null,
    request_digest: input.requestDigest,
    policy: input.policy,
    state: 'requested' as const,
    blob_id: '',
    inline: false,
    content_metadata: {},
    upload_expires_at: null,
    deadline: null,
    committed_at: null,
    finished_at: null,
    purged_at: null,
  };
}

function uploadSpace(space: StagingSpace, size: bigint): UploadSpace {
  return create(UploadSpaceSchema, {
    id: `ups_${space.blob.id.replace(/^[a-z]+_/, '')}`,
    blobId: space.blob.id,
    uploadToken: space.uploadToken,
    expireTime: timestampFromDate(space.expireTime),
    maxSizeBytes: size,
    chunkSizeBytes: CHUNK_SIZE,
  });
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === '23505';
}
