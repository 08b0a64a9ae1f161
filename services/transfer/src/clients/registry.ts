/**
 * What the transfer service asks the registry: where each recipient is
 * received (Art. 5.7), for a given content type, and whether the source holds
 * a SEND grant for it.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import type { Party } from '#gen/lgsp/common/v1/common_pb.js';
import type { Route } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { UnavailableError } from '#lib/errors.js';
import { internalClient } from '#lib/rpc/internal-client.js';

export interface RegistryPort {
  /** One route per recipient, in order. */
  resolveRecipients(recipients: Party[], contentType: string, sourceAppId: string): Promise<Route[]>;
  close(): void;
}

export function connectRegistry(address: string): RegistryPort {
  const { client, options, close } = internalClient(RegistryService, address, 'service:transfer');
  return {
    async resolveRecipients(recipients, contentType, sourceAppId) {
      try {
        const res = await client.resolveRecipients({ recipients, contentType, sourceAppId }, options());
        return res.routes;
      } catch (error) {
        const code = ConnectError.from(error).code;
        throw new UnavailableError(
          'REGISTRY_UNAVAILABLE',
          `the registry did not answer (${Code[code]}); try again`,
        );
      }
    },
    close,
  };
}
