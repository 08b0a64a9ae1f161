/**
 * What the auth service asks the registry: whether an app exists and is
 * active, its unit, whether a unit is active, and whether an app holds a CALL
 * grant on another. Calls go over grpc-js (balanced over registry replicas)
 * as the platform service `service:auth`.
 */
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import {
  type App,
  AppStatus,
  GrantAction,
  type Unit,
  UnitStatus,
} from '#gen/lgsp/registry/v1/resources_pb.js';
import { internalClient, notFoundAsUndefined } from '#lib/rpc/internal-client.js';

export interface RegistryPort {
  /** The app, or undefined when the registry knows no such app. */
  getApp(id: string): Promise<App | undefined>;
  getUnit(code: string): Promise<Unit | undefined>;
  /** The id of the grant that lets `sourceAppId` call `destinationAppId`, or undefined. */
  callGrant(sourceAppId: string, destinationAppId: string): Promise<string | undefined>;
  close(): void;
}

export function isActiveApp(app: App | undefined): app is App {
  return app !== undefined && app.status === AppStatus.ACTIVE;
}

export function isActiveUnit(unit: Unit | undefined): unit is Unit {
  return unit !== undefined && unit.status === UnitStatus.ACTIVE;
}

export function connectRegistry(address: string): RegistryPort {
  const { client, options, close } = internalClient(RegistryService, address, 'service:auth');

  return {
    async getApp(id) {
      try {
        return (await client.getApp({ id }, options())).app;
      } catch (error) {
        return notFoundAsUndefined('registry', error);
      }
    },
    async getUnit(code) {
      try {
        return (await client.getUnit({ code }, options())).unit;
      } catch (error) {
        return notFoundAsUndefined('registry', error);
      }
    },
    async callGrant(sourceAppId, destinationAppId) {
      try {
        const res = await client.checkGrant(
          {
            appId: sourceAppId,
            object: { party: { case: 'appId', value: destinationAppId } },
            action: GrantAction.CALL,
          },
          options(),
        );
        return res.allowed ? res.grantId : undefined;
      } catch (error) {
        return notFoundAsUndefined('registry', error);
      }
    },
    close,
  };
}
