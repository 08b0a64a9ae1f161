/**
 * Status (Art. 8.5, 9.3): the source sees its transfer, every delivery and
 * the whole history; a destination sees its own delivery and the transfer's
 * own changes; an administrator sees everything; nobody else sees anything.
 */
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { EdxmlStatusCode, TransferProtocol } from '#gen/lgsp/transfer/v1/resources_pb.js';
import type { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import { isUnitCode } from '#lib/domain/unit-code.js';
import { FailedPreconditionError, PermissionDeniedError, Violations } from '#lib/errors.js';
import { callerOf } from '#lib/rpc/caller.js';
import { nextPageToken, readPage } from '#lib/rpc/pagination.js';
import type { TransferContext } from '../context.js';
import { historyOf } from '../db/history.js';
import { type DeliveryRow, type TransferRow, toDelivery, toStatusChange, toTransfer } from '../db/rows.js';
import type { TransferStateName } from '../db/schema.js';
import { deliveriesOf, findDelivery, findTransfer, listTransfers, lockTransfer } from '../db/transfers.js';
import { moveDelivery } from '../db/transitions.js';
import { transferStates } from '../domain/states.js';
import { requiredId } from './checks.js';
import {
  deliveryNotFound,
  isDestination,
  isSource,
  mayReadAll,
  requireApp,
  transferNotFound,
} from './parties.js';

interface View {
  readonly transfer: TransferRow;
  /** The deliveries the caller may see. */
  readonly deliveries: DeliveryRow[];
  /** Undefined: every change; else only this delivery's and the transfer's own. */
  readonly onlyDelivery?: string;
}

export function statusRoutes(ctx: TransferContext): Partial<ServiceImpl<typeof TransferService>> {
  const prefix = ctx.config.busPrefix;

  async function viewOfTransfer(id: string, handlerCtx: HandlerContext): Promise<View> {
    const caller = callerOf(handlerCtx);
    const transfer = await findTransfer(ctx.db, id);
    if (transfer === undefined) throw transferNotFound(id);
    const deliveries = await deliveriesOf(ctx.db, id);
    if (isSource(caller, transfer) || mayReadAll(caller)) return { transfer, deliveries };
    const own = deliveries.filter((d) => isDestination(caller, d));
    if (own.length === 0) throw transferNotFound(id);
    return { transfer, deliveries: own, onlyDelivery: own[0]!.id };
  }

  async function viewOfDelivery(id: string, handlerCtx: HandlerContext): Promise<View> {
    const caller = callerOf(handlerCtx);
    const delivery = await findDelivery(ctx.db, id);
    if (delivery === undefined) throw deliveryNotFound(id);
    const transfer = (await findTransfer(ctx.db, delivery.transfer_id))!;
    if (!isDestination(caller, delivery) && !isSource(caller, transfer) && !mayReadAll(caller))
      throw deliveryNotFound(id);
    return { transfer, deliveries: [delivery], onlyDelivery: id };
  }

  return {
    async getTransfer(req, handlerCtx) {
      const id = requiredId('transfer_id', req.transferId, 'trf');
      const view = await viewOfTransfer(id, handlerCtx);
      return {
        transfer: toTransfer(view.transfer),
        deliveries: view.deliveries.map((d) => toDelivery(d, view.transfer)),
      };
    },

    async listTransfers(req, handlerCtx) {
      const caller = callerOf(handlerCtx);
      const v = new Violations();
      const page = readPage(req.pageSize, req.pageToken, v);
      const states: TransferStateName[] = [];
      req.states.forEach((s, i) => {
        const name = transferStates.fromProto(s);
        if (name === undefined) v.add(`states[${i}]`, 'is not a transfer state', 'UNKNOWN_STATE');
        else states.push(name);
      });
      const unit = req.sourceUnitCode.trim();
      if (unit !== '' && !isUnitCode(unit))
        v.add('source_unit_code', 'must be a unit code like 000.00.03.H26', 'UNIT_CODE_FORMAT');
      v.throwIfAny();
      if (caller.kind !== CallerKind.APP && !mayReadAll(caller)) {
        throw new PermissionDeniedError(
          'APP_REQUIRED',
          "apps list their own transfers; administrators list any unit's",
        );
      }
      const rows = await listTransfers(
        ctx.db,
        {
          // An app sees its own transfers only, whatever filter it sends.
          ...(caller.kind === CallerKind.APP ? { sourceAppId: caller.appId } : {}),
          ...(unit === '' ? {} : { sourceUnitCode: unit }),
          states,
          ...(req.createTimeFrom === undefined ? {} : { from: timestampDate(req.createTimeFrom) }),
          ...(req.createTimeTo === undefined ? {} : { to: timestampDate(req.createTimeTo) }),
        },
        page.offset,
        page.limit,
      );
      return { transfers: rows.map(toTransfer), nextPageToken: nextPageToken(page, rows.length) };
    },

    async getDeliveryStatus(req, handlerCtx) {
      const target = req.target;
      if (target.case === undefined) {
        new Violations().add('target', 'name a transfer_id or a delivery_id', 'REQUIRED').throwIfAny();
      }
      const view =
        target.case === 'transferId'
          ? await viewOfTransfer(requiredId('transfer_id', target.value, 'trf'), handlerCtx)
          : await viewOfDelivery(requiredId('delivery_id', target.value ?? '', 'dlv'), handlerCtx);
      const history = await historyOf(ctx.db, view.transfer.id, view.onlyDelivery);
      return {
        transferState: transferStates.toProto(view.transfer.state),
        deliveries: view.deliveries.map((d) => toDelivery(d, view.transfer)),
        history: history.map(toStatusChange),
      };
    },

    async recallTransfer(req, handlerCtx) {
      const caller = requireApp(handlerCtx);
      const id = requiredId('transfer_id', req.transferId, 'trf');
      const reason = req.reason.trim();
      const v = new Violations();
      if (reason.length > 500) v.add('reason', 'must be at most 500 characters', 'TOO_LONG');
      req.deliveryIds.forEach((d, i) => {
        requiredIdInto(v, `delivery_ids[${i}]`, d);
      });
      v.throwIfAny();
      const found = await findTransfer(ctx.db, id);
      if (found === undefined || !isSource(caller, found)) throw transferNotFound(id);
      if (found.protocol !== 'edxml') {
        throw new FailedPreconditionError(
          'NOT_EDXML',
          `only edXML documents can be recalled (protocol ${TransferProtocol[TransferProtocol.EDXML]})`,
        );
      }
      const recalled = await ctx.db.transaction().execute(async (trx) => {
        let transfer = (await lockTransfer(trx, id))!;
        const out: DeliveryRow[] = [];
        for (const d of await deliveriesOf(trx, id)) {
          if (d.state !== 'delivered' || (req.deliveryIds.length > 0 && !req.deliveryIds.includes(d.id)))
            continue;
          const moved = await moveDelivery(
            trx,
            prefix,
            transfer,
            d,
            'delivered',
            { actor: caller.appId, edxmlStatus: EdxmlStatusCode.RECALL_REQUESTED, reason },
            { edxml_status: EdxmlStatusCode.RECALL_REQUESTED },
          );
          transfer = moved.transfer;
          out.push(moved.delivery);
        }
        return { transfer, deliveries: out };
      });
      if (recalled.deliveries.length === 0) {
        throw new FailedPreconditionError(
          'NOTHING_TO_RECALL',
          'no delivered delivery of this transfer matches',
        );
      }
      ctx.outbox.wake();
      return { deliveries: recalled.deliveries.map((d) => toDelivery(d, recalled.transfer)) };
    },
  };
}

function requiredIdInto(v: Violations, field: string, raw: string): void {
  if (!/^dlv_[0-9a-f]{16}$/.test(raw)) v.add(field, 'must look like dlv_0123456789abcdef', 'ID_FORMAT');
}
