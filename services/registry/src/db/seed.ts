/**
 * Imports a unit tree (the shape of deploy/seed/units-example.json) into an
 * empty or partly filled registry: zones first, then units parents-first.
 * Units that already exist are left as they are, so the import can be re-run.
 */
import type { Kysely } from 'kysely';
import { emitUnitChanged, emitZoneChanged } from './events.js';
import { toUnit, toUnitEvent, toZone } from './rows.js';
import type { RegistryDatabase, UnitKindName } from './schema.js';
import { findUnit, insertUnit, insertUnitEvent } from './units.js';
import { findZone, upsertZone } from './zones.js';

export interface UnitTreeFile {
  readonly units: ReadonlyArray<{ code: string; name: string; parent: string | null; kind: string }>;
  readonly peer_zone_units?: ReadonlyArray<{ code: string; name: string; zone: string }>;
}

export interface SeedOptions {
  /** Code and name of the local zone, e.g. H26; its pattern covers every code ending in it. */
  readonly localZone: { code: string; name: string };
  /** Hub URL used for peer zones the file mentions (they can be corrected later with UpsertZone). */
  readonly peerEndpoint?: (zone: string) => string;
  readonly actor?: string;
}

const KINDS: Record<string, UnitKindName> = {
  province: 'province',
  department: 'department',
  district: 'district',
  commune: 'commune',
};

export async function seedUnitTree(
  db: Kysely<RegistryDatabase>,
  prefix: string,
  tree: UnitTreeFile,
  options: SeedOptions,
): Promise<{ units: number; zones: number }> {
  const actor = options.actor ?? 'seed';
  return db.transaction().execute(async (trx) => {
    let zones = 0;
    let units = 0;
    if ((await findZone(trx, options.localZone.code)) === undefined) {
      const zone = await upsertZone(trx, {
        code: options.localZone.code,
        name: options.localZone.name,
        local: true,
        endpoint: '',
        unitCodePatterns: [`*.*.*.${options.localZone.code}`],
      });
      await emitZoneChanged(trx, prefix, toZone(zone));
      zones++;
    }
    for (const peer of tree.peer_zone_units ?? []) {
      if ((await findZone(trx, peer.zone)) === undefined) {
        const zone = await upsertZone(trx, {
          code: peer.zone,
          name:
            peer.zone === 'national'
              ? 'Nền tảng tích hợp, chia sẻ dữ liệu quốc gia (NGSP)'
              : `LGSP ${peer.zone}`,
          local: false,
          endpoint: options.peerEndpoint?.(peer.zone) ?? `https://lgsp.${peer.zone.toLowerCase()}.invalid`,
          unitCodePatterns: peer.zone === 'national' ? [] : [`*.*.*.${peer.zone}`],
        });
        await emitZoneChanged(trx, prefix, toZone(zone));
        zones++;
      }
    }
    const pending = [
      ...tree.units.map((u) => ({
        code: u.code,
        name: u.name,
        parent: u.parent,
        kind: KINDS[u.kind] ?? 'other',
        zone: null,
      })),
      ...(tree.peer_zone_units ?? []).map((u) => ({
        code: u.code,
        name: u.name,
        parent: null,
        kind: 'province' as const,
        zone: u.zone,
      })),
    ];
    // Parents first: repeat passes until nothing more can be placed.
    let progress = true;
    while (pending.length > 0 && progress) {
      progress = false;
      for (let i = 0; i < pending.length; i++) {
        const u = pending[i]!;
        const placed = u.parent === null || (await findUnit(trx, u.parent)) !== undefined;
        if (!placed) continue;
        pending.splice(i--, 1);
        progress = true;
        if ((await findUnit(trx, u.code)) !== undefined) continue;
        const row = await insertUnit(trx, {
          code: u.code,
          name: u.name,
          parentCode: u.parent,
          kind: u.kind,
          zoneCode: u.zone,
        });
        const event = await insertUnitEvent(trx, {
          kind: 'created',
          fromCodes: [],
          toCodes: [u.code],
          newName: u.name,
          actor,
        });
        await emitUnitChanged(trx, prefix, toUnitEvent(event), [toUnit(row)]);
        units++;
      }
    }
    if (pending.length > 0) {
      throw new Error(
        `units whose parent is missing from the file: ${pending.map((u) => u.code).join(', ')}`,
      );
    }
    return { units, zones };
  });
}
