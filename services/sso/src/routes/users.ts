/**
 * Users of units: creation with a one-time password, reading, listing,
 * changes, lock / unlock / disable, password reset and the TOTP second
 * factor; and the roles. A unit administrator manages the users of its unit
 * and the units under it; only a province administrator gives "admin".
 */
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type { Caller } from '#gen/lgsp/common/v1/common_pb.js';
import { UnitStatus } from '#gen/lgsp/registry/v1/resources_pb.js';
import { UserStatus } from '#gen/lgsp/sso/v1/resources_pb.js';
import type { SsoService } from '#gen/lgsp/sso/v1/sso_service_pb.js';
import { AuditOutcome } from '#lib/audit.js';
import { normalizeUnitCode, unitCodeProblem } from '#lib/domain/unit-code.js';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  NotFoundError,
  PermissionDeniedError,
  Violations,
} from '#lib/errors.js';
import { ADMIN_ROLE, callerOf } from '#lib/rpc/caller.js';
import { nextPageToken, readPage } from '#lib/rpc/pagination.js';
import type { SsoContext } from '../context.js';
import { endAccountSessions } from '../db/oidc-adapter.js';
import { toUser, userStatuses } from '../db/rows.js';
import {
  findUserById,
  findUserByUsername,
  insertUser,
  listUsers,
  searchTextOf,
  type UserRow,
  updateUser,
} from '../db/users.js';
import { newUserId } from '../domain/ids.js';
import { hashPassword, oneTimePassword } from '../domain/passwords.js';
import { administeredUnit, assertMayManageUnit, isProvinceLevel } from '../domain/permissions.js';
import { ROLE_NAMES, ROLES } from '../domain/roles.js';
import { foldText } from '../domain/text.js';
import { newTotpSecret, otpauthUri } from '../domain/totp.js';

const USERNAME = /^[a-z0-9._-]{3,64}$/;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{2,63}$/;
const PHONE = /^\+[1-9]\d{6,14}$/;
const UPDATE_PATHS = new Set(['full_name', 'email', 'phone', 'unit_code', 'roles']);

function checkContact(email: string, phone: string, violations: Violations): void {
  if (email !== '' && !EMAIL.test(email))
    violations.add('email', 'must be an e-mail address', 'EMAIL_FORMAT');
  if (phone !== '' && !PHONE.test(phone))
    violations.add('phone', 'must be E.164, e.g. +84912345678', 'PHONE_FORMAT');
}

function checkFullName(name: string, violations: Violations): void {
  if (name.trim() === '' || name.length > 200)
    violations.add('full_name', 'must be 1 to 200 characters', 'FULL_NAME_LENGTH');
}

function checkRoles(roles: readonly string[], violations: Violations): void {
  roles.forEach((role, i) => {
    if (!ROLE_NAMES.has(role))
      violations.add(`roles[${i}]`, `unknown role; one of ${[...ROLE_NAMES].join(', ')}`, 'ROLE_UNKNOWN');
  });
}

function checkUnitCode(raw: string, violations: Violations): string {
  const code = normalizeUnitCode(raw);
  const problem = unitCodeProblem(code);
  if (problem !== undefined) violations.add('unit_code', problem, 'UNIT_CODE_FORMAT');
  return code;
}

function assertMayGrant(caller: Caller, roles: readonly string[]): void {
  if (roles.includes(ADMIN_ROLE) && !isProvinceLevel(caller)) {
    throw new PermissionDeniedError(
      'ADMIN_ROLE_GRANT',
      'only a province administrator may give the role "admin"',
      {
        subject: caller.subject,
      },
    );
  }
}

export function userRoutes(ctx: SsoContext): Partial<ServiceImpl<typeof SsoService>> {
  const activeUnit = async (code: string) => {
    const unit = await ctx.registry.getUnit(code);
    if (unit === undefined) throw new NotFoundError('UNIT_NOT_FOUND', `no unit ${code}`, { unit_code: code });
    if (unit.status !== UnitStatus.ACTIVE) {
      throw new FailedPreconditionError('UNIT_NOT_ACTIVE', `unit ${code} is not active`, { unit_code: code });
    }
  };

  /** The user, if the caller may manage it; NotFound otherwise looks the same for unknown ids. */
  const load = async (row: UserRow | undefined, key: string, caller: Caller): Promise<UserRow> => {
    if (row === undefined) throw new NotFoundError('USER_NOT_FOUND', `no user "${key}"`, { user: key });
    await assertMayManageUnit(ctx.registry, caller, row.unit_code, 'the users');
    return row;
  };

  const record = (hc: HandlerContext, action: string, object: string, message?: string) =>
    ctx.audit.record({
      actor: callerOf(hc),
      action: `lgsp.sso.v1.SsoService/${action}`,
      object,
      outcome: AuditOutcome.SUCCEEDED,
      ...(message === undefined ? {} : { message }),
    });

  /** Ends the user's sessions and tokens, and tells the applications over the back channel. */
  const endSessions = async (userId: string) => {
    const sessions = await endAccountSessions(ctx.db, userId);
    const provider = ctx.oidc.provider;
    const calls: Promise<void>[] = [];
    for (const session of sessions) {
      for (const [clientId, state] of Object.entries(session.authorizations ?? {})) {
        const client = (await provider.Client.find(clientId)) as
          | { backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> }
          | undefined;
        const sid = (state as { sid?: string }).sid;
        if (client?.backchannelLogoutUri === undefined || sid === undefined) continue;
        calls.push(
          client.backchannelLogout(userId, sid).catch((err: unknown) => {
            ctx.logger.warn({ err, clientId }, 'back-channel logout not delivered');
          }),
        );
      }
    }
    await Promise.all(calls);
  };

  return {
    async createUser(req, hc) {
      const caller = callerOf(hc);
      const violations = new Violations();
      const username = req.username.trim().toLowerCase();
      if (!USERNAME.test(username))
        violations.add('username', 'must be 3 to 64 characters of a-z 0-9 . _ -', 'USERNAME_FORMAT');
      checkFullName(req.fullName, violations);
      checkContact(req.email, req.phone, violations);
      const unitCode = checkUnitCode(req.unitCode, violations);
      checkRoles(req.roles, violations);
      violations.throwIfAny();
      await assertMayManageUnit(ctx.registry, caller, unitCode, 'the users');
      assertMayGrant(caller, req.roles);
      await activeUnit(unitCode);

      const password = oneTimePassword();
      const row = await insertUser(ctx.db, {
        id: newUserId(),
        username,
        fullName: req.fullName.trim(),
        email: req.email,
        phone: req.phone,
        unitCode,
        roles: [...new Set(req.roles)],
        passwordHash: await hashPassword(password),
      });
      if (row === undefined) {
        throw new AlreadyExistsError('USERNAME_TAKEN', `the username "${username}" is taken`, { username });
      }
      record(hc, 'CreateUser', row.id);
      return { user: toUser(row), initialPassword: password };
    },

    async getUser(req, hc) {
      const caller = callerOf(hc);
      if (req.key.case === 'username') {
        const username = req.key.value.trim().toLowerCase();
        return { user: toUser(await load(await findUserByUsername(ctx.db, username), username, caller)) };
      }
      const id = req.key.case === 'id' ? req.key.value : '';
      return { user: toUser(await load(id === '' ? undefined : await findUserById(ctx.db, id), id, caller)) };
    },

    async listUsers(req, hc) {
      const caller = callerOf(hc);
      const violations = new Violations();
      const page = readPage(req.pageSize, req.pageToken, violations);
      const unitCode = req.unitCode === '' ? '' : checkUnitCode(req.unitCode, violations);
      if (req.role !== '' && !ROLE_NAMES.has(req.role))
        violations.add('role', 'unknown role', 'ROLE_UNKNOWN');
      const status = req.status === UserStatus.UNSPECIFIED ? undefined : userStatuses.fromProto(req.status);
      if (req.status !== UserStatus.UNSPECIFIED && status === undefined)
        violations.add('status', 'unknown status', 'STATUS_UNKNOWN');
      violations.throwIfAny();
      let unitCodes: string[] | undefined;
      if (unitCode !== '') {
        await assertMayManageUnit(ctx.registry, caller, unitCode, 'the users');
        unitCodes = req.includeDescendants ? await ctx.registry.subtree(unitCode) : [unitCode];
      } else if (!isProvinceLevel(caller)) {
        unitCodes = await ctx.registry.subtree(administeredUnit(caller) ?? '');
      }
      const words = foldText(req.query)
        .split(' ')
        .filter((w) => w !== '');
      const rows = await listUsers(ctx.db, {
        ...(unitCodes === undefined ? {} : { unitCodes }),
        words,
        ...(req.role === '' ? {} : { role: req.role }),
        ...(status === undefined ? {} : { status }),
        offset: page.offset,
        limit: page.limit,
      });
      return { users: rows.map((r) => toUser(r)), nextPageToken: nextPageToken(page, rows.length) };
    },

    async updateUser(req, hc) {
      const caller = callerOf(hc);
      const violations = new Violations();
      const paths = new Set(req.updatePaths);
      if (paths.size === 0)
        violations.add('update_paths', 'must name at least one field', 'UPDATE_PATHS_EMPTY');
      for (const p of paths)
        if (!UPDATE_PATHS.has(p))
          violations.add('update_paths', `"${p}" cannot be changed`, 'UPDATE_PATH_UNKNOWN');
      if (paths.has('full_name')) checkFullName(req.fullName, violations);
      checkContact(paths.has('email') ? req.email : '', paths.has('phone') ? req.phone : '', violations);
      const unitCode = paths.has('unit_code') ? checkUnitCode(req.unitCode, violations) : '';
      if (paths.has('roles')) checkRoles(req.roles, violations);
      violations.throwIfAny();
      const current = await load(
        req.id === '' ? undefined : await findUserById(ctx.db, req.id),
        req.id,
        caller,
      );
      if (paths.has('unit_code')) {
        await assertMayManageUnit(ctx.registry, caller, unitCode, 'the users');
        await activeUnit(unitCode);
      }
      if (paths.has('roles')) {
        assertMayGrant(caller, req.roles);
        // Taking "admin" away is a province administrator's decision too.
        if (current.roles.includes(ADMIN_ROLE)) assertMayGrant(caller, [ADMIN_ROLE]);
      }
      const fullName = paths.has('full_name') ? req.fullName.trim() : current.full_name;
      const row = await updateUser(ctx.db, current.id, {
        ...(paths.has('full_name')
          ? { full_name: fullName, search_text: searchTextOf(current.username, fullName) }
          : {}),
        ...(paths.has('email') ? { email: req.email } : {}),
        ...(paths.has('phone') ? { phone: req.phone } : {}),
        ...(paths.has('unit_code') ? { unit_code: unitCode } : {}),
        ...(paths.has('roles') ? { roles: [...new Set(req.roles)] } : {}),
      });
      record(hc, 'UpdateUser', row.id, [...paths].join(','));
      return { user: toUser(row) };
    },

    async setUserStatus(req, hc) {
      const caller = callerOf(hc);
      const violations = new Violations();
      const status = userStatuses.fromProto(req.status);
      if (status === undefined)
        violations.add('status', 'must be ACTIVE, LOCKED or DISABLED', 'STATUS_UNKNOWN');
      if (req.reason.length > 500)
        violations.add('reason', 'must be at most 500 characters', 'REASON_LENGTH');
      violations.throwIfAny();
      const current = await load(
        req.id === '' ? undefined : await findUserById(ctx.db, req.id),
        req.id,
        caller,
      );
      if (current.roles.includes(ADMIN_ROLE)) assertMayGrant(caller, [ADMIN_ROLE]);
      const row = await updateUser(ctx.db, current.id, {
        status: status!,
        // An administrator's lock has no end; unlocking clears the failure count.
        locked_until: null,
        ...(status === 'active' ? { failed_logins: 0 } : {}),
      });
      if (status !== 'active') await endSessions(current.id);
      record(hc, 'SetUserStatus', row.id, `${status}: ${req.reason}`.slice(0, 600));
      return { user: toUser(row) };
    },

    async resetUserPassword(req, hc) {
      const current = await load(
        req.id === '' ? undefined : await findUserById(ctx.db, req.id),
        req.id,
        callerOf(hc),
      );
      if (current.roles.includes(ADMIN_ROLE)) assertMayGrant(callerOf(hc), [ADMIN_ROLE]);
      const password = oneTimePassword();
      const row = await updateUser(ctx.db, current.id, {
        password_hash: await hashPassword(password),
        password_change_required: true,
        failed_logins: 0,
        // A lockout by failed logins ends with the reset; an administrator's lock stays.
        ...(current.status === 'locked' && current.locked_until !== null
          ? { status: 'active', locked_until: null }
          : {}),
      });
      await endSessions(current.id);
      record(hc, 'ResetUserPassword', row.id);
      return { user: toUser(row), temporaryPassword: password };
    },

    async setUserTotp(req, hc) {
      const current = await load(
        req.id === '' ? undefined : await findUserById(ctx.db, req.id),
        req.id,
        callerOf(hc),
      );
      if (!req.enabled) {
        const row = await updateUser(ctx.db, current.id, { totp_secret_sealed: null, totp_last_step: null });
        record(hc, 'SetUserTotp', row.id, 'off');
        return { user: toUser(row), secret: '', otpauthUri: '' };
      }
      const secret = newTotpSecret();
      const row = await updateUser(ctx.db, current.id, {
        totp_secret_sealed: ctx.box.seal(Buffer.from(secret), `sso-totp:${current.id}`),
        totp_last_step: null,
      });
      record(hc, 'SetUserTotp', row.id, 'on');
      return { user: toUser(row), secret, otpauthUri: otpauthUri(secret, current.username) };
    },

    async listRoles() {
      return { roles: [...ROLES] };
    },
  };
}
