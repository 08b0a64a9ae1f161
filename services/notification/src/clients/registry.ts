/**
 * What the notification service asks the registry: which apps a SendNotice
 * recipient leads to, and whether the sender holds a SEND grant for it.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import type { Party } from '#gen/lgsp/common/v1/common_pb.js';
import { RegistryService, type Route } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { UnavailableError } from '#lib/errors.js';
import { internalClient } from '#lib/rpc/internal-client.js';

export interface RegistryPort {
  /**
   * The route to one recipient: its receiving apps (any content type), or why
   * it cannot be reached; NOT_GRANTED when `sourceAppId` may not send to it.
   */
  resolveRecipient(recipient: Party, sourceAppId: string): Promise<Route>;
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
    close,
  };
}
