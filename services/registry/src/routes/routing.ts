/**
 * Routing (Art. 5.7): each recipient — a unit code, current or historical, or
 * an app — becomes the receiving apps of this zone, or the peer zone that
 * hosts it. Every recipient gets its own outcome, so a sender learns exactly
 * which codes could not be reached and why (Art. 5.9).
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { CallerKind, type Party } from '#gen/lgsp/common/v1/common_pb.js';
import {
  type RegistryService,
  type Route,
  RouteOutcome,
  RouteSchema,
} from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { isUnitCode, matchesUnitCodePattern, normalizeUnitCode } from '#lib/domain/unit-code.js';
import { PermissionDeniedError, UnauthenticatedError, Violations } from '#lib/errors.js';
import { callerOf, isAdmin } from '#lib/rpc/caller.js';
import type { RegistryContext } from '../context.js';
import { appsOfUnits, findApp } from '../db/apps.js';
import { coveringGrant, grantsHeldBy } from '../db/grants.js';
import type { AppRow, GrantRow, UnitRow, ZoneRow } from '../db/rows.js';
import { findUnit, resolveCode } from '../db/units.js';
import { listZones } from '../db/zones.js';
import { accepts, isMediaTypePattern, normalizeMediaType } from '../domain/content-type.js';
import { appNotFound } from './apps.js';
import { requiredId } from './checks.js';

const MAX_RECIPIENTS = 1000;

export function routingRoutes(ctx: RegistryContext): Partial<ServiceImpl<typeof RegistryService>> {
  const { db } = ctx;
  return {
    async resolveRecipients(req, handlerCtx) {
      const v = new Violations();
      if (req.recipients.length === 0) v.add('recipients', 'name at least one recipient', 'REQUIRED');
      if (req.recipients.length > MAX_RECIPIENTS)
        v.add('recipients', `at most ${MAX_RECIPIENTS}`, 'TOO_MANY');
      req.recipients.forEach((r, i) => {
        if (r.party.case === undefined) v.add(`recipients[${i}]`, 'set unit_code or app_id', 'REQUIRED');
      });
      const contentType = normalizeMediaType(req.contentType);
      if (contentType !== '' && (!isMediaTypePattern(contentType) || contentType.includes('*'))) {
        v.add('content_type', 'must be a media type such as application/json', 'MEDIA_TYPE');
      }
      const sourceAppId =
        req.sourceAppId === '' ? undefined : requiredId('source_app_id', req.sourceAppId, 'app', v);
      v.throwIfAny();

      let held: GrantRow[] | undefined;
      if (sourceAppId !== undefined) {
        const caller = callerOf(handlerCtx);
        const allowed =
          isAdmin(caller) ||
          caller.kind === CallerKind.SERVICE ||
          (caller.kind === CallerKind.APP && caller.appId === sourceAppId);
        if (!allowed) {
          if (caller.kind === CallerKind.ANONYMOUS || caller.kind === CallerKind.UNSPECIFIED) {
            throw new UnauthenticatedError(
              'AUTHENTICATION_REQUIRED',
              'routing on behalf of an app needs a credential',
            );
          }
          throw new PermissionDeniedError('NOT_ALLOWED', 'an app may route only on its own behalf');
        }
        const source = await findApp(db, sourceAppId);
        if (source === undefined) throw appNotFound(sourceAppId, 'source_app_id');
        held =
          source.status === 'active'
            ? await grantsHeldBy(db, { id: source.id, unitCode: source.unit_code }, 'send', new Date())
            : [];
      }
      const zones = await listZones(db);
      const routes: Route[] = [];
      for (const recipient of req.recipients) {
        routes.push(await route(recipient, contentType, held, zones));
      }
      return { routes };
    },
  };

  async function route(
    recipient: Party,
    contentType: string,
    held: GrantRow[] | undefined,
    zones: ZoneRow[],
  ): Promise<Route> {
    const answer = (
      outcome: RouteOutcome,
      fields: Omit<MessageInitShape<typeof RouteSchema>, 'recipient' | 'outcome'>,
    ) => create(RouteSchema, { ...fields, recipient, outcome } as MessageInitShape<typeof RouteSchema>);

    if (recipient.party.case === 'appId') {
      const app = await findApp(db, recipient.party.value);
      if (app === undefined)
        return answer(RouteOutcome.NOT_FOUND, { message: `no app has the id ${recipient.party.value}` });
      if (app.status !== 'active')
        return answer(RouteOutcome.INACTIVE, { message: `app ${app.id} is ${app.status}` });
      if (!accepts(app.accepted_content_types, contentType)) {
        return answer(RouteOutcome.NO_RECEIVING_APP, {
          unitCodes: [app.unit_code],
          message: `app ${app.id} does not accept ${contentType || 'content'}`,
        });
      }
      if (
        held !== undefined &&
        coveringGrant(held, { unitCode: app.unit_code, appId: app.id }) === undefined
      ) {
        return answer(RouteOutcome.NOT_GRANTED, {
          unitCodes: [app.unit_code],
          message: `no SEND grant reaches app ${app.id}`,
        });
      }
      return answer(RouteOutcome.OK, { unitCodes: [app.unit_code], apps: [appRoute(app)] });
    }

    const code = normalizeUnitCode(recipient.party.value ?? '');
    if (!isUnitCode(code))
      return answer(RouteOutcome.NOT_FOUND, { message: `"${code}" is not a unit code (NNN.NN.NN.XNN)` });
    const unit = await findUnit(db, code);
    const peer = unit?.zone_code ?? peerZoneFor(code, zones)?.code;
    if (peer !== undefined && peer !== null)
      return answer(RouteOutcome.OK, { unitCodes: [code], peerZoneCode: peer });
    if (unit === undefined)
      return answer(RouteOutcome.NOT_FOUND, { message: `no unit has the code ${code}` });

    const current: UnitRow[] = unit.status === 'active' ? [unit] : (await resolveCode(db, code)).current;
    if (current.length === 0) {
      return answer(RouteOutcome.INACTIVE, {
        unitCodes: [code],
        message: `unit ${code} is ${unit.status} and has no successor`,
      });
    }
    const unitCodes = current.map((u) => u.code);
    const receiving = (await appsOfUnits(db, unitCodes, true)).filter((a) =>
      accepts(a.accepted_content_types, contentType),
    );
    if (receiving.length === 0) {
      return answer(RouteOutcome.NO_RECEIVING_APP, {
        unitCodes,
        message: `no active app of ${unitCodes.join(', ')} accepts ${contentType || 'content'}`,
      });
    }
    const granted =
      held === undefined
        ? receiving
        : receiving.filter((a) => coveringGrant(held, { unitCode: a.unit_code, appId: a.id }) !== undefined);
    if (granted.length === 0) {
      return answer(RouteOutcome.NOT_GRANTED, {
        unitCodes,
        message: `no SEND grant reaches ${unitCodes.join(', ')}`,
      });
    }
    return answer(RouteOutcome.OK, { unitCodes, apps: granted.map(appRoute) });
  }
}

function peerZoneFor(code: string, zones: readonly ZoneRow[]): ZoneRow | undefined {
  if (zones.some((z) => z.local && z.unit_code_patterns.some((p) => matchesUnitCodePattern(p, code))))
    return undefined;
  return zones.find((z) => !z.local && z.unit_code_patterns.some((p) => matchesUnitCodePattern(p, code)));
}

function appRoute(app: AppRow) {
  return { appId: app.id, unitCode: app.unit_code, webhookUrl: app.webhook_url ?? '' };
}
