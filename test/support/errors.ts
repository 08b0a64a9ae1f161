/** Assertions on Connect errors and their details. */
import { Code, ConnectError } from '@connectrpc/connect';
import { expect } from 'vitest';
import { BadRequestSchema, ErrorInfoSchema } from '#gen/lgsp/common/v1/common_pb.js';

export async function expectCode(promise: Promise<unknown>, code: Code): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    const connectError = ConnectError.from(error);
    expect(Code[connectError.code], connectError.message).toBe(Code[code]);
    return connectError;
  }
  throw new Error(`expected ${Code[code]}, but the call succeeded`);
}

/** Fields named in the BadRequest detail of an InvalidArgument error. */
export function violatedFields(error: ConnectError): string[] {
  return error.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field));
}

export function reasonOf(error: ConnectError): string | undefined {
  return error.findDetails(ErrorInfoSchema)[0]?.reason;
}
