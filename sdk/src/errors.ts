/**
 * Typed errors: every failed call surfaces as an `LgspError` (a ConnectError,
 * so `instanceof ConnectError` and `.code` keep working) of a class chosen by
 * its Connect code, carrying the platform's `ErrorInfo` reason and metadata,
 * the `BadRequest` field violations, and a hint saying what to do.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { BadRequestSchema, ErrorInfoSchema } from '../../gen/lgsp/common/v1/common_pb.js';

export { Code };

/** The Connect name of a code, as Connect JSON writes it: `not_found`, `permission_denied`… */
export function codeName(code: Code): string {
  return (Code[code] ?? 'unknown').replace(
    /[A-Z]/g,
    (c, i: number) => (i === 0 ? '' : '_') + c.toLowerCase(),
  );
}

export interface FieldViolation {
  readonly field: string;
  readonly reason: string;
  readonly description: string;
}

/**
 * Connect recognises its errors by `name === 'ConnectError'` (its
 * `Symbol.hasInstance`), and wraps anything else into a new ConnectError on
 * the way out of an interceptor. So `name` stays `ConnectError`; `kind` names
 * the class, and `instanceof` on these classes follows the prototype chain.
 */
export class LgspError extends ConnectError {
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class asked about, a subclass too.
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
  /** The class: `NotFoundError`, `AuthenticationError`… */
  readonly kind: string = this.constructor.name;
  /** The `ErrorInfo` reason (`RECIPIENT_NOT_GRANTED`, `BAD_SIGNATURE`…), or empty. */
  readonly reason: string;
  /** The `ErrorInfo` metadata (`expected_offset`, `server_time`…). */
  readonly info: Readonly<Record<string, string>>;
  /** Every bad field of an `invalid_argument`, from its `BadRequest` detail. */
  readonly violations: readonly FieldViolation[];
  /** What to do about it, in a sentence. */
  readonly hint: string;

  constructor(
    message: string,
    code: Code,
    options: {
      reason?: string;
      info?: Record<string, string>;
      violations?: readonly FieldViolation[];
      hint?: string;
      metadata?: ConstructorParameters<typeof Headers>[0];
      cause?: unknown;
    } = {},
  ) {
    super(message, code, options.metadata, undefined, options.cause);
    this.reason = options.reason ?? '';
    this.info = options.info ?? {};
    this.violations = options.violations ?? [];
    this.hint = options.hint ?? hintFor(code, this.reason);
    if (this.stack !== undefined) this.stack = this.stack.replace(/^ConnectError/, this.kind);
  }

  /** `not_found`, `unauthenticated`… */
  get codeName(): string {
    return codeName(this.code);
  }

  /** Plain data for logs and `--json` output. */
  toJSON(): Record<string, unknown> {
    return {
      code: this.codeName,
      reason: this.reason,
      message: this.rawMessage,
      ...(Object.keys(this.info).length === 0 ? {} : { metadata: this.info }),
      ...(this.violations.length === 0 ? {} : { violations: this.violations }),
      hint: this.hint,
    };
  }
}

/** unauthenticated: the signature, the key or the clock (reason says which). */
export class AuthenticationError extends LgspError {}
/** permission_denied: the caller lacks the access level or a grant. */
export class PermissionDeniedError extends LgspError {}
export class NotFoundError extends LgspError {}
export class InvalidArgumentError extends LgspError {}
export class AlreadyExistsError extends LgspError {}
export class FailedPreconditionError extends LgspError {}
/** unavailable (after the retries allowed) or deadline_exceeded. */
export class UnavailableError extends LgspError {}
/** Content that is not what its SHA-256 says: found by the SDK on download, or by the platform (data_loss). */
export class DigestMismatchError extends LgspError {
  readonly expectedSha256: string;
  readonly actualSha256: string;
  constructor(message: string, expected: string, actual: string, reason = 'DIGEST_MISMATCH') {
    super(message, Code.DataLoss, { reason, info: { expected_sha256: expected, actual_sha256: actual } });
    this.expectedSha256 = expected;
    this.actualSha256 = actual;
  }
}
/** A configuration problem found before any call: no URL, no key, an unreadable key file. */
export class ConfigurationError extends Error {}

const CLASSES: Partial<Record<Code, typeof LgspError>> = {
  [Code.Unauthenticated]: AuthenticationError,
  [Code.PermissionDenied]: PermissionDeniedError,
  [Code.NotFound]: NotFoundError,
  [Code.InvalidArgument]: InvalidArgumentError,
  [Code.AlreadyExists]: AlreadyExistsError,
  [Code.FailedPrecondition]: FailedPreconditionError,
  [Code.Unavailable]: UnavailableError,
  [Code.DeadlineExceeded]: UnavailableError,
};

/** Any error of a call as an LgspError of the right class (an LgspError is returned as is). */
export function toLgspError(error: unknown): LgspError {
  if (error instanceof LgspError) return error;
  const connect = ConnectError.from(error);
  let reason = '';
  let info: Record<string, string> = {};
  let violations: FieldViolation[] = [];
  try {
    const [errorInfo] = connect.findDetails(ErrorInfoSchema);
    if (errorInfo !== undefined) {
      reason = errorInfo.reason;
      info = { ...errorInfo.metadata };
    }
    const [badRequest] = connect.findDetails(BadRequestSchema);
    if (badRequest !== undefined) {
      violations = badRequest.fieldViolations.map((v) => ({
        field: v.field,
        reason: v.reason,
        description: v.description,
      }));
    }
  } catch {
    // Undecodable details: keep the code and message.
  }
  const Class = connect.code === Code.DataLoss ? LgspError : (CLASSES[connect.code] ?? LgspError);
  return new Class(connect.rawMessage, connect.code, {
    reason,
    info,
    violations,
    metadata: connect.metadata,
    cause: error,
  });
}

function hintFor(code: Code, reason: string): string {
  switch (reason) {
    case 'UNKNOWN_KEY':
      return 'check LGSP_ACCESS_KEY_ID (or the profile): the platform does not know this access key';
    case 'BAD_SIGNATURE':
      return 'check LGSP_SECRET_KEY (or the RSA private key): it does not match the access key';
    case 'KEY_REVOKED':
    case 'KEY_EXPIRED':
      return 'this credential no longer works: ask your administrator for a new one';
    case 'OWNER_INACTIVE':
    case 'APP_DISABLED':
      return 'the app or its unit is not active: ask your administrator';
    case 'CLOCK_SKEW':
      return "the computer's clock is off: synchronise it (NTP)";
    case 'AUTHENTICATION_REQUIRED':
      return 'this call needs credentials: set LGSP_ACCESS_KEY_ID and LGSP_SECRET_KEY, or a profile';
    case 'ACCESS_LEVEL':
      return 'this credential lacks the access level the call needs (an administrator key?)';
    case 'APP_REQUIRED':
      return "this call is made by an app: use an app's credential, not an operator's";
    case 'RECIPIENT_NOT_GRANTED':
      return 'the app holds no SEND grant on that recipient: ask your administrator for one';
    case 'RECIPIENT_NOT_FOUND':
      return 'check the unit code or app id of the recipient (`lgsp units search`)';
  }
  switch (code) {
    case Code.Unauthenticated:
      return 'check the access key id and secret';
    case Code.PermissionDenied:
      return 'the credential may not do this';
    case Code.NotFound:
      return 'check the id: it does not exist or is not visible to this app';
    case Code.InvalidArgument:
      return 'fix the fields named in the message';
    case Code.Unavailable:
      return 'the platform could not be reached: check LGSP_URL and try again later';
    case Code.DeadlineExceeded:
      return 'the call took too long: try again, or raise the timeout';
    case Code.DataLoss:
      return 'the content does not match its SHA-256: send or fetch it again';
    default:
      return '';
  }
}
