/**
 * Who may see and manage which credentials. Province administrators and
 * platform services: all of them. A unit administrator: the credentials of
 * its unit (its apps' and its unit's operators'). An app: its own.
 */
import { type Caller, CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { UNIT_ADMIN_ROLE } from '#lib/rpc/access.js';
import { isAdmin } from '#lib/rpc/caller.js';
import type { CredentialRow } from '../db/rows.js';

export function isProvinceLevel(caller: Caller): boolean {
  return isAdmin(caller) || caller.kind === CallerKind.SERVICE;
}

/** The unit a unit administrator administers, or undefined for anyone else. */
export function administeredUnit(caller: Caller): string | undefined {
  return caller.roles.includes(UNIT_ADMIN_ROLE) && caller.unitCode !== '' ? caller.unitCode : undefined;
}

export function mayManage(caller: Caller, row: CredentialRow): boolean {
  if (isProvinceLevel(caller)) return true;
  const unit = administeredUnit(caller);
  if (unit !== undefined && row.unit_code === unit) return true;
  return caller.kind === CallerKind.APP && caller.appId !== '' && caller.appId === row.owner_app_id;
}
