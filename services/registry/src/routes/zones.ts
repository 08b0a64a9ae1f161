/** Handlers of the zone RPCs: this deployment and its peers (other provinces' LGSP, the national NGSP). */
import type { ServiceImpl } from '@connectrpc/connect';
import type { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { unitCodePatternProblem } from '#lib/domain/unit-code.js';
import { FailedPreconditionError, Violations } from '#lib/errors.js';
import { requireAdmin } from '#lib/rpc/caller.js';
import type { RegistryContext } from '../context.js';
import { emitZoneChanged } from '../db/events.js';
import { toZone } from '../db/rows.js';
import * as zones from '../db/zones.js';
import { requiredText } from './checks.js';

const ZONE_CODE = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_PATTERNS = 100;

export function zoneRoutes(ctx: RegistryContext): Partial<ServiceImpl<typeof RegistryService>> {
  const { db } = ctx;
  return {
    async upsertZone(req, handlerCtx) {
      requireAdmin(handlerCtx);
      const v = new Violations();
      const zone = req.zone;
      if (zone === undefined) {
        v.add('zone', 'is required', 'REQUIRED');
        v.throwIfAny();
        return {};
      }
      const code = zone.code.trim();
      if (!ZONE_CODE.test(code))
        v.add('zone.code', 'must be 1 to 32 letters, digits, "_" or "-"', 'ZONE_CODE');
      const name = requiredText('zone.name', zone.name, v);
      const endpoint = zone.endpoint.trim();
      if (endpoint !== '') {
        try {
          if (!['http:', 'https:'].includes(new URL(endpoint).protocol))
            v.add('zone.endpoint', 'must be http or https', 'URL');
        } catch {
          v.add('zone.endpoint', 'is not a URL', 'URL');
        }
      } else if (!zone.local) {
        v.add('zone.endpoint', 'a peer zone needs the URL of its hub', 'REQUIRED');
      }
      if (zone.unitCodePatterns.length > MAX_PATTERNS)
        v.add('zone.unit_code_patterns', `at most ${MAX_PATTERNS}`, 'TOO_MANY');
      const patterns = zone.unitCodePatterns.map((p, i) => {
        const pattern = p.trim().toUpperCase();
        const problem = unitCodePatternProblem(pattern);
        if (problem !== undefined) v.add(`zone.unit_code_patterns[${i}]`, problem, 'PATTERN');
        return pattern;
      });
      v.throwIfAny();
      const row = await db.transaction().execute(async (trx) => {
        if (zone.local) {
          const other = (await zones.listZones(trx)).find((z) => z.local && z.code !== code);
          if (other !== undefined) {
            throw new FailedPreconditionError(
              'LOCAL_ZONE_EXISTS',
              `zone ${other.code} is already the local zone`,
              {
                zone_code: other.code,
              },
            );
          }
        }
        const stored = await zones.upsertZone(trx, {
          code,
          name,
          local: zone.local,
          endpoint,
          unitCodePatterns: patterns,
        });
        await emitZoneChanged(trx, ctx.config.busPrefix, toZone(stored));
        return stored;
      });
      ctx.outbox.wake();
      return { zone: toZone(row) };
    },

    async listZones() {
      return { zones: (await zones.listZones(db)).map(toZone) };
    },
  };
}
