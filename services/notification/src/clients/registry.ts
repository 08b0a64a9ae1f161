/**
 * What the notification service asks the registry: which apps a SendNotice
 * recipient leads to, and whether the sender holds a SEND grant for it; for
 * presence, an app and its unit, the apps of a unit, and whether an app may
 * send to another.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import type { Party } from '#gen/lgsp/common/v1/common_pb.js';
import { RegistryService, type Route } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { type App, GrantAction } from '#gen/lgsp/registry/v1/resources_pb.js';
import { UnavailableError } from '#lib/errors.js';
import { internalClient, notFoundAsUndefined } from '#lib/rpc/internal-client.js';

/** The registry's largest page of apps. */
const APPS_PAGE = 200;
/** A unit with more apps than this is cut short rather than read without end. */
const MAX_UNIT_APPS = 10_000;

export interface RegistryPort {
  /**
   * The route to one recipient: its receiving apps (any content type), or why
   * it cannot be reached; NOT_GRANTED when `sourceAppId` may not send to it.
   */
  resolveRecipient(recipient: Party, sourceAppId: string): Promise<Route>;
  /** The app, or undefined when the registry knows no such app. */
  getApp(id: string): Promise<App | undefined>;
  /** Every active app of the unit (none for an unknown unit). */
  unitApps(unitCode: string): Promise<App[]>;
  /** Whether `appId` holds a SEND grant on `object` (an app or a unit); false for an unknown app. */
  maySend(appId: string, object: Party): Promise<boolean>;
  close(): void;
}

export function connectRegistry(address: string): RegistryPort {
  const { client, options, close } = internalClient(RegistryService, address, 'service:notification');
  return {
    async resolveRecipient(recipient, sourceAppId) {
      let routes: Route[];
      try {
        const res = await client.resolveRecipients(
          { recipients: [recipient], contentType: '', sourceAppId },
          options(),
        );
        routes = res.routes;
      } catch (error) {
        const code = ConnectError.from(error).code;
        throw new UnavailableError(
          'REGISTRY_UNAVAILABLE',
          `the registry did not answer (${Code[code]}); try again`,
        );
      }
      const route = routes[0];
      if (route === undefined) {
        throw new UnavailableError('REGISTRY_UNAVAILABLE', 'the registry answered no route; try again');
      }
      return route;
    },
    async getApp(id) {
      try {
        return (await client.getApp({ id }, options())).app;
      } catch (error) {
        return notFoundAsUndefined('registry', error);
      }
    },
    async unitApps(unitCode) {
      const apps: App[] = [];
      let pageToken = '';
      try {
        do {
          const res = await client.listApps({ unitCode, pageSize: APPS_PAGE, pageToken }, options());
          apps.push(...res.apps);
          pageToken = res.nextPageToken;
        } while (pageToken !== '' && apps.length < MAX_UNIT_APPS);
      } catch (error) {
        return notFoundAsUndefined('registry', error) ?? [];
      }
      return apps;
    },
    async maySend(appId, object) {
      try {
        const res = await client.checkGrant({ appId, object, action: GrantAction.SEND }, options());
        return res.allowed;
      } catch (error) {
        return notFoundAsUndefined('registry', error) ?? false;
      }
    },
    close,
  };
}
