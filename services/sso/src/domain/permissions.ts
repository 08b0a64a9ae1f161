/**
 * Who may manage which users and relying parties: province administrators
 * and platform services all of them; a unit administrator those of its unit
 * and the units under it (Caller.unit_code with the role unit_admin).
 */
import { type Caller, CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { PermissionDeniedError } from '#lib/errors.js';
import { UNIT_ADMIN_ROLE } from '#lib/rpc/access.js';
import { isAdmin } from '#lib/rpc/caller.js';
import type { RegistryPort } from '../clients/registry.js';

export function isProvinceLevel(caller: Caller): boolean {
  return isAdmin(caller) || caller.kind === CallerKind.SERVICE;
}

/** The unit a unit administrator administers, or undefined for anyone else. */
export function administeredUnit(caller: Caller): string | undefined {
  return caller.roles.includes(UNIT_ADMIN_ROLE) && caller.unitCode !== '' ? caller.unitCode : undefined;
}

export async function mayManageUnit(
  registry: RegistryPort,
  caller: Caller,
  unitCode: string,
): Promise<boolean> {
  if (isProvinceLevel(caller)) return true;
  const own = administeredUnit(caller);
  if (own === undefined) return false;
  return unitCode === own || (await registry.isWithin(unitCode, own));
}

/** Throws PermissionDenied unless the caller may manage what belongs to `unitCode`. */
export async function assertMayManageUnit(
  registry: RegistryPort,
  caller: Caller,
  unitCode: string,
  what: string,
): Promise<void> {
  if (await mayManageUnit(registry, caller, unitCode)) return;
  throw new PermissionDeniedError(
    'UNIT_SCOPE',
    `${what} of unit ${unitCode} may be managed only by a province administrator or an administrator of that unit or a unit above it`,
    { unit_code: unitCode, subject: caller.subject },
  );
}
