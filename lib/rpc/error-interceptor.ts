/**
 * The one place where errors become Connect statuses: typed domain errors keep
 * their code and get details (BadRequest field violations, or ErrorInfo);
 * Connect errors pass through; anything else is logged with its stack and
 * answered `Internal` without internals.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { BadRequestSchema, ErrorInfoSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { DomainError, InvalidArgumentError } from '../errors.js';
import type { Logger } from '../logger.js';
import { callerKey } from './caller.js';
import { interceptErrors } from './intercept-errors.js';

export function toConnectError(error: unknown, domain: string): ConnectError | undefined {
  if (error instanceof InvalidArgumentError) {
    return new ConnectError(error.message, Code.InvalidArgument, undefined, [
      {
        desc: BadRequestSchema,
        value: {
          fieldViolations: error.violations.map((v) => ({
            field: v.field,
            description: v.description,
            reason: v.reason ?? '',
          })),
        },
      },
    ]);
  }
  if (error instanceof DomainError) {
    return new ConnectError(error.message, error.code, undefined, [
      { desc: ErrorInfoSchema, value: { reason: error.reason, domain, metadata: { ...error.metadata } } },
    ]);
  }
  if (error instanceof ConnectError) return error;
  return undefined;
}

export function errorInterceptor(logger: Logger, domain: string): Interceptor {
  return interceptErrors((error, req) => {
    const mapped = toConnectError(error, domain);
    const requestId = req.contextValues.get(callerKey).requestId;
    const fields = { method: req.method.name, service: req.service.typeName, requestId };
    if (mapped === undefined) {
      logger.error({ ...fields, err: error }, 'unexpected error');
      throw new ConnectError('internal error', Code.Internal);
    }
    const level = mapped.code === Code.Internal || mapped.code === Code.Unknown ? 'error' : 'info';
    logger[level]({ ...fields, code: Code[mapped.code], reason: reasonOf(error) }, mapped.rawMessage);
    throw mapped;
  });
}

function reasonOf(error: unknown): string | undefined {
  return error instanceof DomainError ? error.reason : undefined;
}
