/**
 * A typed client of another platform service, as a platform service: calls go
 * over grpc-js (balanced over the callee's replicas) and carry a caller entry
 * of kind SERVICE, which the mesh trusts and the gateway never forwards from
 * a client.
 */
import { create, type DescService } from '@bufbuild/protobuf';
import { type CallOptions, type Client, Code, ConnectError, createClient } from '@connectrpc/connect';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { UnavailableError } from '../errors.js';
import { CALLER_HEADER, encodeCaller } from './caller.js';
import { createGrpcTransport } from './grpc-transport.js';

export interface InternalClient<S extends DescService> {
  readonly client: Client<S>;
  /** Options for one call: the service's caller entry and a deadline. */
  options(timeoutMs?: number): CallOptions;
  close(): void;
}

export function internalClient<S extends DescService>(
  service: S,
  address: string,
  /** Who calls, e.g. `service:transfer`. */
  subject: string,
  defaultTimeoutMs = 5_000,
): InternalClient<S> {
  const transport = createGrpcTransport({ address });
  const headers = {
    [CALLER_HEADER]: encodeCaller(create(CallerSchema, { kind: CallerKind.SERVICE, subject })),
  };
  return {
    client: createClient(service, transport),
    options: (timeoutMs = defaultTimeoutMs) => ({ headers, timeoutMs }),
    close: () => transport.close(),
  };
}

/**
 * A NotFound answer of another service as undefined; any other failure is
 * UNAVAILABLE `<CALLEE>_UNAVAILABLE`, since the caller cannot decide without it.
 */
export function notFoundAsUndefined(callee: string, error: unknown): undefined {
  const connectError = ConnectError.from(error);
  if (connectError.code === Code.NotFound) return undefined;
  throw new UnavailableError(
    `${callee.toUpperCase()}_UNAVAILABLE`,
    `the ${callee} did not answer (${Code[connectError.code]}); try again`,
  );
}
