/**
 * Who may see and do what: the source app acts on its own transfers, a
 * destination app on the deliveries addressed to it, a province
 * administrator reads everything. Anyone else is told the thing does not
 * exist, so that ids cannot be probed.
 */
import type { HandlerContext } from '@connectrpc/connect';
import { type Caller, CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { NotFoundError, PermissionDeniedError } from '#lib/errors.js';
import { callerOf, isAdmin } from '#lib/rpc/caller.js';
import type { DeliveryRow, TransferRow } from '../db/rows.js';

/** The calling app; transfers are sent and received by apps only. */
export function requireApp(ctx: HandlerContext): Caller {
  const caller = callerOf(ctx);
  if (caller.kind !== CallerKind.APP || caller.appId === '') {
    throw new PermissionDeniedError(
      'APP_REQUIRED',
      'only an app, signing as itself, sends and receives transfers',
      {
        subject: caller.subject,
      },
    );
  }
  return caller;
}

export const isSource = (caller: Caller, transfer: TransferRow): boolean =>
  caller.kind === CallerKind.APP && caller.appId === transfer.source_app_id;

export const isDestination = (caller: Caller, delivery: DeliveryRow): boolean =>
  caller.kind === CallerKind.APP && caller.appId === delivery.destination_app_id;

export const mayReadAll = (caller: Caller): boolean => isAdmin(caller) || caller.kind === CallerKind.SERVICE;

export function transferNotFound(id: string): NotFoundError {
  return new NotFoundError('TRANSFER_NOT_FOUND', `no transfer ${id} that you may see`, { transfer_id: id });
}

export function deliveryNotFound(id: string): NotFoundError {
  return new NotFoundError('DELIVERY_NOT_FOUND', `no delivery ${id} addressed to you`, { delivery_id: id });
}
