/**
 * Relying parties (Art. 11): registering an application for single sign-on,
 * reading, listing, changing it and rotating its secret. A unit
 * administrator manages those of its unit and the units under it.
 */
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type { Caller } from '#gen/lgsp/common/v1/common_pb.js';
import { UnitStatus } from '#gen/lgsp/registry/v1/resources_pb.js';
import { ClientAuthMethod } from '#gen/lgsp/sso/v1/resources_pb.js';
import type { SsoService } from '#gen/lgsp/sso/v1/sso_service_pb.js';
import { AuditOutcome } from '#lib/audit.js';
import { jsonb } from '#lib/db/jsonb.js';
import { normalizeUnitCode, unitCodeProblem } from '#lib/domain/unit-code.js';
import { FailedPreconditionError, NotFoundError, Violations } from '#lib/errors.js';
import { callerOf } from '#lib/rpc/caller.js';
import { nextPageToken, readPage } from '#lib/rpc/pagination.js';
import { type SsoContext, sealedSecretContext } from '../context.js';
import {
  findRelyingParty,
  insertRelyingParty,
  listRelyingParties,
  type RelyingPartyRow,
  updateRelyingParty,
} from '../db/relying-parties.js';
import { authMethods, relyingPartyStatuses, toRelyingParty } from '../db/rows.js';
import { newClientId, newClientSecret } from '../domain/ids.js';
import { administeredUnit, assertMayManageUnit, isProvinceLevel } from '../domain/permissions.js';
import { checkUri, checkUriList } from '../domain/uris.js';
import { DEFAULT_SCOPES, SCOPES } from '../oidc/provider.js';
import { endpointsOf } from './provider-info.js';

const UPDATE_PATHS = new Set([
  'name',
  'description',
  'redirect_uris',
  'post_logout_redirect_uris',
  'allowed_scopes',
  'status',
  'backchannel_logout_uri',
]);

function checkScopes(scopes: readonly string[], violations: Violations): string[] {
  const list = scopes.length === 0 ? DEFAULT_SCOPES : [...new Set(scopes)];
  list.forEach((s, i) => {
    if (!SCOPES.includes(s))
      violations.add(`allowed_scopes[${i}]`, `unknown scope; one of ${SCOPES.join(', ')}`, 'SCOPE_UNKNOWN');
  });
  return list.includes('openid') ? list : ['openid', ...list];
}

function checkName(name: string, violations: Violations): void {
  if (name.trim() === '' || name.length > 200)
    violations.add('name', 'must be 1 to 200 characters', 'NAME_LENGTH');
}

export function relyingPartyRoutes(ctx: SsoContext): Partial<ServiceImpl<typeof SsoService>> {
  const insecure = ctx.config.allowInsecureLocal;

  const load = async (clientId: string, caller: Caller): Promise<RelyingPartyRow> => {
    const row = clientId === '' ? undefined : await findRelyingParty(ctx.db, clientId);
    if (row === undefined) {
      throw new NotFoundError('RELYING_PARTY_NOT_FOUND', `no relying party "${clientId}"`, {
        client_id: clientId,
      });
    }
    await assertMayManageUnit(ctx.registry, caller, row.unit_code, 'the relying parties');
    return row;
  };

  const record = (hc: HandlerContext, action: string, object: string) =>
    ctx.audit.record({
      actor: callerOf(hc),
      action: `lgsp.sso.v1.SsoService/${action}`,
      object,
      outcome: AuditOutcome.SUCCEEDED,
    });

  return {
    async registerRelyingParty(req, hc) {
      const caller = callerOf(hc);
      const violations = new Violations();
      checkName(req.name, violations);
      if (req.description.length > 1000)
        violations.add('description', 'must be at most 1000 characters', 'DESCRIPTION_LENGTH');
      const unitCode = normalizeUnitCode(req.unitCode);
      const unitProblem = unitCodeProblem(unitCode);
      if (unitProblem !== undefined) violations.add('unit_code', unitProblem, 'UNIT_CODE_FORMAT');
      checkUriList(req.redirectUris, 'redirect_uris', { min: 1, max: 20 }, insecure, violations);
      checkUriList(
        req.postLogoutRedirectUris,
        'post_logout_redirect_uris',
        { min: 0, max: 20 },
        insecure,
        violations,
      );
      if (req.backchannelLogoutUri !== '')
        checkUri(req.backchannelLogoutUri, 'backchannel_logout_uri', insecure, violations);
      const scopes = checkScopes(req.allowedScopes, violations);
      const method =
        req.authMethod === ClientAuthMethod.UNSPECIFIED
          ? 'client_secret_basic'
          : authMethods.fromProto(req.authMethod);
      if (method === undefined) violations.add('auth_method', 'is not a known method', 'AUTH_METHOD_UNKNOWN');
      violations.throwIfAny();

      await assertMayManageUnit(ctx.registry, caller, unitCode, 'the relying parties');
      const unit = await ctx.registry.getUnit(unitCode);
      if (unit === undefined)
        throw new NotFoundError('UNIT_NOT_FOUND', `no unit ${unitCode}`, { unit_code: unitCode });
      if (unit.status !== UnitStatus.ACTIVE) {
        throw new FailedPreconditionError('UNIT_NOT_ACTIVE', `unit ${unitCode} is not active`, {
          unit_code: unitCode,
        });
      }
      if (req.appId !== '') {
        const app = await ctx.registry.getApp(req.appId);
        if (app === undefined)
          throw new NotFoundError('APP_NOT_FOUND', `no app ${req.appId}`, { app_id: req.appId });
        if (app.unitCode !== unitCode) {
          throw new FailedPreconditionError(
            'APP_OF_OTHER_UNIT',
            `app ${req.appId} belongs to unit ${app.unitCode}, not ${unitCode}`,
            {
              app_id: req.appId,
            },
          );
        }
      }

      const clientId = newClientId(req.name);
      const secret = method === 'none' ? '' : newClientSecret();
      const row = await insertRelyingParty(ctx.db, {
        client_id: clientId,
        name: req.name.trim(),
        description: req.description,
        app_id: req.appId,
        unit_code: unitCode,
        redirect_uris: jsonb(req.redirectUris),
        post_logout_redirect_uris: jsonb(req.postLogoutRedirectUris),
        backchannel_logout_uri: req.backchannelLogoutUri,
        allowed_scopes: jsonb(scopes),
        auth_method: method!,
        status: 'active',
        secret_sealed:
          secret === '' ? null : ctx.box.seal(Buffer.from(secret), sealedSecretContext(clientId)),
        secret_issued_at: secret === '' ? null : new Date(),
        previous_secret_sealed: null,
        previous_secret_expires_at: null,
        created_by: caller.subject,
      });
      record(hc, 'RegisterRelyingParty', clientId);
      return { relyingParty: toRelyingParty(row), clientSecret: secret, endpoints: endpointsOf(ctx) };
    },

    async getRelyingParty(req, hc) {
      const row = await load(req.clientId, callerOf(hc));
      return { relyingParty: toRelyingParty(row), endpoints: endpointsOf(ctx) };
    },

    async listRelyingParties(req, hc) {
      const caller = callerOf(hc);
      const violations = new Violations();
      const page = readPage(req.pageSize, req.pageToken, violations);
      const unitCode = req.unitCode === '' ? '' : normalizeUnitCode(req.unitCode);
      if (unitCode !== '') {
        const problem = unitCodeProblem(unitCode);
        if (problem !== undefined) violations.add('unit_code', problem, 'UNIT_CODE_FORMAT');
      }
      violations.throwIfAny();
      let unitCodes: string[] | undefined;
      if (unitCode !== '') {
        await assertMayManageUnit(ctx.registry, caller, unitCode, 'the relying parties');
        unitCodes = [unitCode];
      } else if (!isProvinceLevel(caller)) {
        unitCodes = await ctx.registry.subtree(administeredUnit(caller) ?? '');
      }
      const rows = await listRelyingParties(ctx.db, {
        ...(unitCodes === undefined ? {} : { unitCodes }),
        includeDisabled: req.includeDisabled,
        offset: page.offset,
        limit: page.limit,
      });
      return { relyingParties: rows.map(toRelyingParty), nextPageToken: nextPageToken(page, rows.length) };
    },

    async updateRelyingParty(req, hc) {
      const violations = new Violations();
      const paths = new Set(req.updatePaths);
      if (paths.size === 0)
        violations.add('update_paths', 'must name at least one field', 'UPDATE_PATHS_EMPTY');
      for (const p of paths)
        if (!UPDATE_PATHS.has(p))
          violations.add('update_paths', `"${p}" cannot be changed`, 'UPDATE_PATH_UNKNOWN');
      if (paths.has('name')) checkName(req.name, violations);
      if (paths.has('description') && req.description.length > 1000)
        violations.add('description', 'must be at most 1000 characters', 'DESCRIPTION_LENGTH');
      if (paths.has('redirect_uris'))
        checkUriList(req.redirectUris, 'redirect_uris', { min: 1, max: 20 }, insecure, violations);
      if (paths.has('post_logout_redirect_uris'))
        checkUriList(
          req.postLogoutRedirectUris,
          'post_logout_redirect_uris',
          { min: 0, max: 20 },
          insecure,
          violations,
        );
      if (paths.has('backchannel_logout_uri') && req.backchannelLogoutUri !== '')
        checkUri(req.backchannelLogoutUri, 'backchannel_logout_uri', insecure, violations);
      const scopes = paths.has('allowed_scopes') ? checkScopes(req.allowedScopes, violations) : [];
      const status = paths.has('status') ? relyingPartyStatuses.fromProto(req.status) : undefined;
      if (paths.has('status') && status === undefined)
        violations.add('status', 'must be ACTIVE or DISABLED', 'STATUS_UNKNOWN');
      violations.throwIfAny();

      await load(req.clientId, callerOf(hc));
      const row = await updateRelyingParty(ctx.db, req.clientId, {
        ...(paths.has('name') ? { name: req.name.trim() } : {}),
        ...(paths.has('description') ? { description: req.description } : {}),
        ...(paths.has('redirect_uris') ? { redirect_uris: jsonb(req.redirectUris) } : {}),
        ...(paths.has('post_logout_redirect_uris')
          ? { post_logout_redirect_uris: jsonb(req.postLogoutRedirectUris) }
          : {}),
        ...(paths.has('allowed_scopes') ? { allowed_scopes: jsonb(scopes) } : {}),
        ...(paths.has('backchannel_logout_uri') ? { backchannel_logout_uri: req.backchannelLogoutUri } : {}),
        ...(status === undefined ? {} : { status }),
      });
      record(hc, 'UpdateRelyingParty', req.clientId);
      return { relyingParty: toRelyingParty(row) };
    },

    async rotateRelyingPartySecret(req, hc) {
      const current = await load(req.clientId, callerOf(hc));
      if (current.auth_method === 'none' || current.secret_sealed === null) {
        throw new FailedPreconditionError(
          'PUBLIC_CLIENT',
          `${req.clientId} is a public client: it has no secret`,
          {
            client_id: req.clientId,
          },
        );
      }
      const secret = newClientSecret();
      const row = await updateRelyingParty(ctx.db, req.clientId, {
        secret_sealed: ctx.box.seal(Buffer.from(secret), sealedSecretContext(req.clientId)),
        secret_issued_at: new Date(),
        previous_secret_sealed: current.secret_sealed,
        previous_secret_expires_at: new Date(Date.now() + ctx.config.secretGraceSeconds * 1000),
      });
      record(hc, 'RotateRelyingPartySecret', req.clientId);
      return { relyingParty: toRelyingParty(row), clientSecret: secret };
    },
  };
}
