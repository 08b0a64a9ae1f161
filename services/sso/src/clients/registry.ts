/**
 * What the sso service asks the registry: a unit (whether it exists and is
 * active, and its parent), the units under one, and an app. Calls go over
 * grpc-js as the platform service `service:sso`.
 */
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import type { App, Unit } from '#gen/lgsp/registry/v1/resources_pb.js';
import { internalClient, notFoundAsUndefined } from '#lib/rpc/internal-client.js';

/** A tree deeper or wider than this is cut short rather than walked without end. */
const MAX_UNITS = 5_000;
const MAX_DEPTH = 12;

export interface RegistryPort {
  getUnit(code: string): Promise<Unit | undefined>;
  getApp(id: string): Promise<App | undefined>;
  /** Whether `code` is `ancestor` or lies under it. */
  isWithin(code: string, ancestor: string): Promise<boolean>;
  /** `code` and every unit under it (active or not). */
  subtree(code: string): Promise<string[]>;
  close(): void;
}

export function connectRegistry(address: string): RegistryPort {
  const { client, options, close } = internalClient(RegistryService, address, 'service:sso');
  const getUnit = async (code: string) => {
    try {
      return (await client.getUnit({ code }, options())).unit;
    } catch (error) {
      return notFoundAsUndefined('registry', error);
    }
  };
  return {
    getUnit,
    async getApp(id) {
      try {
        return (await client.getApp({ id }, options())).app;
      } catch (error) {
        return notFoundAsUndefined('registry', error);
      }
    },
    async isWithin(code, ancestor) {
      let current: string | undefined = code;
      for (let depth = 0; current !== undefined && current !== '' && depth < MAX_DEPTH; depth++) {
        if (current === ancestor) return true;
        current = (await getUnit(current))?.parentCode;
      }
      return false;
    },
    async subtree(code) {
      const found = [code];
      const queue = [code];
      try {
        while (queue.length > 0 && found.length < MAX_UNITS) {
          const parent = queue.shift()!;
          let pageToken = '';
          do {
            const res = await client.searchUnits(
              { parentCode: parent, includeInactive: true, pageSize: 200, pageToken },
              options(),
            );
            for (const unit of res.units) {
              if (unit.parentCode !== parent || found.includes(unit.code)) continue;
              found.push(unit.code);
              queue.push(unit.code);
            }
            pageToken = res.nextPageToken;
          } while (pageToken !== '' && found.length < MAX_UNITS);
        }
      } catch (error) {
        notFoundAsUndefined('registry', error);
      }
      return found;
    },
    close,
  };
}
