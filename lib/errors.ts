/**
 * Typed domain errors. Handlers and stores throw these; one interceptor
 * (`rpc/error-interceptor.ts`) turns them into Connect errors with details.
 * Anything else becomes `Internal` without leaking its message.
 */
import { Code } from '@connectrpc/connect';

export interface Violation {
  /** Dot path of the field, e.g. `recipients[2].unit_code`. */
  readonly field: string;
  /** Human-readable reason, in English. */
  readonly description: string;
  /** Machine-readable reason, e.g. `UNIT_CODE_FORMAT`. */
  readonly reason?: string;
}

/** Base of every error that carries its own status code and reason. */
export abstract class DomainError extends Error {
  abstract readonly code: Code;
  readonly reason: string;
  readonly metadata: Readonly<Record<string, string>>;

  constructor(reason: string, message: string, metadata: Record<string, string> = {}) {
    super(message);
    this.reason = reason;
    this.metadata = metadata;
  }
}

/** The request is malformed; nothing was applied. */
export class InvalidArgumentError extends DomainError {
  override name = 'InvalidArgumentError';
  readonly code = Code.InvalidArgument;
  readonly violations: readonly Violation[];

  constructor(violations: readonly Violation[], message?: string) {
    super('INVALID_ARGUMENT', message ?? describeViolations(violations));
    this.violations = violations;
  }
}

export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
  readonly code = Code.NotFound;
}

export class AlreadyExistsError extends DomainError {
  override name = 'AlreadyExistsError';
  readonly code = Code.AlreadyExists;
}

/** The request is well-formed but the system is not in a state that allows it. */
export class FailedPreconditionError extends DomainError {
  override name = 'FailedPreconditionError';
  readonly code = Code.FailedPrecondition;
}

export class PermissionDeniedError extends DomainError {
  override name = 'PermissionDeniedError';
  readonly code = Code.PermissionDenied;
}

export class UnauthenticatedError extends DomainError {
  override name = 'UnauthenticatedError';
  readonly code = Code.Unauthenticated;
}

export class ResourceExhaustedError extends DomainError {
  override name = 'ResourceExhaustedError';
  readonly code = Code.ResourceExhausted;
}

/** A position or amount is past what is allowed, e.g. more bytes than declared. */
export class OutOfRangeError extends DomainError {
  override name = 'OutOfRangeError';
  readonly code = Code.OutOfRange;
}

/** Content is damaged or does not match its digest; nothing was kept of it. */
export class DataLossError extends DomainError {
  override name = 'DataLossError';
  readonly code = Code.DataLoss;
}

/** A concurrent change won; the caller may read again and retry. */
export class AbortedError extends DomainError {
  override name = 'AbortedError';
  readonly code = Code.Aborted;
}

/** A dependency (Postgres, NATS, another service) is not reachable; the caller may retry. */
export class UnavailableError extends DomainError {
  override name = 'UnavailableError';
  readonly code = Code.Unavailable;
}

function describeViolations(violations: readonly Violation[]): string {
  if (violations.length === 0) return 'invalid request';
  return violations.map((v) => `${v.field}: ${v.description}`).join('; ');
}

/**
 * Collects violations while a request is checked, so that one answer lists
 * every problem instead of the first one only.
 */
export class Violations {
  readonly #items: Violation[] = [];

  add(field: string, description: string, reason?: string): this {
    this.#items.push(reason === undefined ? { field, description } : { field, description, reason });
    return this;
  }

  get isEmpty(): boolean {
    return this.#items.length === 0;
  }

  /** Throws `InvalidArgumentError` if anything was collected. */
  throwIfAny(): void {
    if (this.#items.length > 0) throw new InvalidArgumentError([...this.#items]);
  }
}
