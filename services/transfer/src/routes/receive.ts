/** The receive flow (Art. 9): list what waits, accept, confirm or refuse, report business status. */
import { create } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import { DownloadSpaceSchema, EdxmlStatusCode, RefusalReason } from '#gen/lgsp/transfer/v1/resources_pb.js';
import type { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import { DataLossError, FailedPreconditionError, Violations } from '#lib/errors.js';
import { nextPageToken, readPage } from '#lib/rpc/pagination.js';
import type { TransferContext } from '../context.js';
import { type DeliveryRow, type TransferRow, toDelivery } from '../db/rows.js';
import { type Db, findDelivery, listPending, lockTransfer, transfersByIds } from '../db/transfers.js';
import { type Moved, moveDelivery } from '../db/transitions.js';
import { BUSINESS_STATUSES, isFinalDelivery, RECALL_ANSWERS } from '../domain/states.js';
import { checkSha256, requiredId } from './checks.js';
import { deliveryNotFound, isDestination, requireApp } from './parties.js';

export function receiveRoutes(ctx: TransferContext): Partial<ServiceImpl<typeof TransferService>> {
  const prefix = ctx.config.busPrefix;

  /** Runs `change` with the delivery's transfer locked and the delivery re-read under the lock. */
  async function withDelivery(
    id: string,
    appId: string,
    change: (trx: Db, transfer: TransferRow, delivery: DeliveryRow) => Promise<Moved>,
  ): Promise<Moved> {
    const found = await findDelivery(ctx.db, id);
    if (found === undefined || found.destination_app_id !== appId) throw deliveryNotFound(id);
    const moved = await ctx.db.transaction().execute(async (trx) => {
      const transfer = (await lockTransfer(trx, found.transfer_id))!;
      const delivery = (await trx
        .selectFrom('deliveries')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst())!;
      return change(trx, transfer, delivery);
    });
    ctx.outbox.wake();
    ctx.wakeWorker();
    return moved;
  }

  const unchanged = (transfer: TransferRow, delivery: DeliveryRow): Moved => ({ transfer, delivery });

  function requireOpen(delivery: DeliveryRow): void {
    if (!isFinalDelivery(delivery.state)) return;
    throw new FailedPreconditionError(
      'DELIVERY_FINAL',
      `delivery ${delivery.id} is already ${delivery.state}`,
      {
        delivery_id: delivery.id,
        state: delivery.state,
      },
    );
  }

  return {
    async listPendingDeliveries(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const v = new Violations();
      const page = readPage(req.pageSize, req.pageToken, v);
      v.throwIfAny();
      const rows = await listPending(ctx.db, caller.appId, req.minPriority, page.offset, page.limit);
      const transfers = await transfersByIds(
        ctx.db,
        rows.map((r) => r.transfer_id),
      );
      return {
        deliveries: rows.map((row) => toDelivery(row, transfers.get(row.transfer_id)!)),
        nextPageToken: nextPageToken(page, rows.length),
      };
    },

    async acceptDelivery(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const id = requiredId('delivery_id', req.deliveryId, 'dlv');
      const found = await findDelivery(ctx.db, id);
      if (found === undefined || !isDestination(caller, found)) throw deliveryNotFound(id);
      requireOpen(found);
      const transfer = (await transfersByIds(ctx.db, [found.transfer_id])).get(found.transfer_id)!;
      if (found.deadline.getTime() <= Date.now()) {
        throw new FailedPreconditionError('DELIVERY_EXPIRED', `delivery ${id} passed its deadline`, {
          delivery_id: id,
        });
      }
      // Accepting what was just notified completes that offer; accepting again is a new one.
      const freshOffer = found.state !== 'notified';
      if (freshOffer && found.attempts >= transfer.policy.maxAttempts) {
        await withDelivery(id, caller.appId, (trx, t, d) =>
          isFinalDelivery(d.state)
            ? Promise.resolve(unchanged(t, d))
            : moveDelivery(trx, prefix, t, d, 'failed', {
                actor: 'platform',
                reason: 'offered the most times the policy allows',
              }),
        );
        throw new FailedPreconditionError(
          'MAX_ATTEMPTS',
          `delivery ${id} was offered the most times its policy allows`,
          {
            delivery_id: id,
          },
        );
      }
      const size = Number(transfer.size_bytes);
      const inline =
        req.preferInline && size <= ctx.config.inlineMaxBytes
          ? await readAll(transfer.blob_id, size)
          : undefined;
      const grant =
        inline === undefined
          ? await ctx.storage.grantDownload(
              transfer.blob_id,
              caller.appId,
              ctx.config.downloadSpaceTtlSeconds,
            )
          : undefined;
      const { delivery } = await withDelivery(id, caller.appId, async (trx, t, d) => {
        requireOpen(d);
        const now = new Date();
        return moveDelivery(
          trx,
          prefix,
          t,
          d,
          'accepted',
          { actor: caller.appId },
          {
            attempts: d.state === 'notified' ? d.attempts : d.attempts + 1,
            accepted_at: now,
            notified_at: d.notified_at ?? now,
            // Not confirmed by the time the space closes: offered again.
            next_attempt_at: new Date(now.getTime() + ctx.config.downloadSpaceTtlSeconds * 1000),
          },
        );
      });
      const view = toDelivery(delivery, transfer);
      if (inline !== undefined) return { delivery: view, content: { case: 'inlineContent', value: inline } };
      return {
        delivery: view,
        content: {
          case: 'downloadSpace',
          value: create(DownloadSpaceSchema, {
            id: `dls_${id.slice(4)}${delivery.attempts}`,
            blobId: transfer.blob_id,
            downloadToken: grant!.downloadToken,
            expireTime: timestampFromDate(grant!.expireTime),
            sizeBytes: BigInt(transfer.size_bytes),
            sha256: transfer.sha256,
          }),
        },
      };
    },

    async confirmDelivery(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const id = requiredId('delivery_id', req.deliveryId, 'dlv');
      const v = new Violations();
      checkSha256('sha256', req.sha256, v);
      if (req.receiptRef.length > 200) v.add('receipt_ref', 'must be at most 200 characters', 'TOO_LONG');
      v.throwIfAny();
      const { transfer, delivery } = await withDelivery(id, caller.appId, async (trx, t, d) => {
        const matches =
          Buffer.from(req.sha256).equals(Buffer.from(t.sha256)) && req.sizeBytes === BigInt(t.size_bytes);
        if (!matches) {
          throw new FailedPreconditionError(
            'DIGEST_MISMATCH',
            "the digest or size you computed differs from the transfer's; fetch the content again",
            { delivery_id: id, expected_size_bytes: t.size_bytes },
          );
        }
        if (d.state === 'delivered') return unchanged(t, d);
        requireOpen(d);
        return moveDelivery(
          trx,
          prefix,
          t,
          d,
          'delivered',
          { actor: caller.appId, edxmlStatus: EdxmlStatusCode.ARRIVED, reason: 'receipt confirmed' },
          { edxml_status: EdxmlStatusCode.ARRIVED, receipt_ref: req.receiptRef.trim() },
        );
      });
      return { delivery: toDelivery(delivery, transfer) };
    },

    async refuseDelivery(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const id = requiredId('delivery_id', req.deliveryId, 'dlv');
      const reason = req.reason === RefusalReason.UNSPECIFIED ? RefusalReason.OTHER : req.reason;
      const message = req.message.trim();
      const v = new Violations();
      if (!(reason in RefusalReason)) v.add('reason', 'is not a known refusal reason', 'UNKNOWN_REASON');
      if (message.length > 1000) v.add('message', 'must be at most 1000 characters', 'TOO_LONG');
      if (reason === RefusalReason.OTHER && message === '')
        v.add('message', 'is required with REFUSAL_REASON_OTHER', 'REQUIRED');
      v.throwIfAny();
      const { transfer, delivery } = await withDelivery(id, caller.appId, async (trx, t, d) => {
        if (d.state === 'refused') return unchanged(t, d);
        requireOpen(d);
        return moveDelivery(
          trx,
          prefix,
          t,
          d,
          'refused',
          {
            actor: caller.appId,
            edxmlStatus: EdxmlStatusCode.REFUSED,
            reason: message === '' ? RefusalReason[reason] : message,
          },
          { edxml_status: EdxmlStatusCode.REFUSED, refusal_reason: reason },
        );
      });
      return { delivery: toDelivery(delivery, transfer) };
    },

    async reportDeliveryStatus(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const id = requiredId('delivery_id', req.deliveryId, 'dlv');
      const comment = req.comment.trim();
      const v = new Violations();
      if (!BUSINESS_STATUSES.has(req.status) && !RECALL_ANSWERS.has(req.status)) {
        v.add('status', 'must be 03, 04, 05 or 06, or 15/16 in answer to a recall', 'STATUS_NOT_REPORTABLE');
      }
      if (comment.length > 1000) v.add('comment', 'must be at most 1000 characters', 'TOO_LONG');
      if (req.statusTime !== undefined && timestampDate(req.statusTime).getTime() > Date.now() + 300_000) {
        v.add('status_time', 'is in the future', 'IN_FUTURE');
      }
      v.throwIfAny();
      const { transfer, delivery } = await withDelivery(id, caller.appId, async (trx, t, d) => {
        if (d.state !== 'delivered') {
          throw new FailedPreconditionError(
            'NOT_DELIVERED',
            'a business status follows a confirmed delivery',
            { delivery_id: id },
          );
        }
        if (RECALL_ANSWERS.has(req.status) && d.edxml_status !== EdxmlStatusCode.RECALL_REQUESTED) {
          throw new FailedPreconditionError(
            'NO_RECALL',
            'statuses 15 and 16 answer a recall (13), and none is pending',
            {
              delivery_id: id,
            },
          );
        }
        return moveDelivery(
          trx,
          prefix,
          t,
          d,
          'delivered',
          { actor: caller.appId, edxmlStatus: req.status, reason: comment },
          {
            edxml_status: req.status,
          },
        );
      });
      return { delivery: toDelivery(delivery, transfer) };
    },
  };

  async function readAll(blobId: string, size: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const chunk of ctx.storage.read(blobId, size)) parts.push(chunk);
    const content = Buffer.concat(parts);
    if (content.length !== size) {
      throw new DataLossError('CONTENT_SHORT', `the stored content has ${content.length} of ${size} bytes`);
    }
    return content;
  }
}
