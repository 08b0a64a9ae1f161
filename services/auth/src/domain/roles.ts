/**
 * Roles of operator credentials. A province administrator holds `admin`; a
 * unit administrator holds `unit_admin` for one unit. The API has no field
 * for that unit, so it travels inside the role, `unit_admin:<unit code>`,
 * in CreateCredentialRequest.roles and Credential.roles; it is stored as the
 * role `unit_admin` plus the credential's unit_code, and a verified caller
 * carries the role `unit_admin` and the unit in Caller.unit_code.
 */

import { UNIT_ADMIN_ROLE } from '#lib/rpc/access.js';
import { ADMIN_ROLE } from '#lib/rpc/caller.js';

const UNIT_CODE = /^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$/;

export interface OperatorRoles {
  readonly roles: string[];
  /** The administered unit, for a unit administrator. */
  readonly unitCode: string | null;
}

export type ParsedRoles =
  | { readonly ok: true; readonly value: OperatorRoles }
  | {
      readonly ok: false;
      readonly problems: { index: number | undefined; description: string; reason: string }[];
    };

export function parseOperatorRoles(requested: readonly string[]): ParsedRoles {
  const problems: { index: number | undefined; description: string; reason: string }[] = [];
  let admin = false;
  const units: string[] = [];
  requested.forEach((raw, index) => {
    const role = raw.trim();
    if (role === ADMIN_ROLE) admin = true;
    else if (role.startsWith(`${UNIT_ADMIN_ROLE}:`)) {
      const code = role.slice(UNIT_ADMIN_ROLE.length + 1).toUpperCase();
      if (UNIT_CODE.test(code)) units.push(code);
      else
        problems.push({
          index,
          description: `"${raw}" names no unit code like 000.00.03.H26`,
          reason: 'UNIT_CODE_FORMAT',
        });
    } else if (role === UNIT_ADMIN_ROLE) {
      problems.push({
        index,
        description: `${UNIT_ADMIN_ROLE} needs its unit: "${UNIT_ADMIN_ROLE}:<unit code>", e.g. "${UNIT_ADMIN_ROLE}:000.00.03.H26"`,
        reason: 'UNIT_REQUIRED',
      });
    } else {
      problems.push({
        index,
        description: `unknown role "${raw}"; use "${ADMIN_ROLE}" or "${UNIT_ADMIN_ROLE}:<unit code>"`,
        reason: 'UNKNOWN_ROLE',
      });
    }
  });
  if (problems.length > 0) return { ok: false, problems };
  if (!admin && units.length === 0) {
    return {
      ok: false,
      problems: [
        { index: undefined, description: 'an operator credential needs a role', reason: 'REQUIRED' },
      ],
    };
  }
  if (admin && units.length > 0) {
    return {
      ok: false,
      problems: [
        {
          index: undefined,
          description: `"${ADMIN_ROLE}" already covers every unit; give one or the other`,
          reason: 'ROLE_CONFLICT',
        },
      ],
    };
  }
  if (new Set(units).size > 1) {
    return {
      ok: false,
      problems: [
        {
          index: undefined,
          description: 'a unit administrator credential serves one unit',
          reason: 'ROLE_CONFLICT',
        },
      ],
    };
  }
  return admin
    ? { ok: true, value: { roles: [ADMIN_ROLE], unitCode: null } }
    : { ok: true, value: { roles: [UNIT_ADMIN_ROLE], unitCode: units[0] ?? null } };
}

/** Roles as the API shows them: the unit administrator's unit inside its role. */
export function displayRoles(roles: readonly string[], unitCode: string | null): string[] {
  return roles.map((role) => (role === UNIT_ADMIN_ROLE && unitCode !== null ? `${role}:${unitCode}` : role));
}
