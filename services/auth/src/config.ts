import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';
import { previousMasterKey } from '#lib/crypto/rotate.js';

export const AUTH_DEFAULT_PORT = 7102;

/** Session tokens never live longer than this, whatever is configured or requested (Art. 10.2). */
export const MAX_SESSION_TOKEN_TTL_SECONDS = 3600;

export interface AuthConfig extends BaseConfig {
  /** AES-256-GCM key (32 bytes) that encrypts HMAC secrets and signing keys at rest. */
  readonly masterKey: Uint8Array;
  /**
   * The master key before a rotation (LGSP_MASTER_KEY_PREVIOUS): opens values
   * not yet re-sealed under `masterKey`, never seals. Unset outside a rotation.
   */
  readonly previousMasterKey?: Uint8Array;
  /** The platform-wide switch for HMAC-SHA1 signatures (legacy systems, Art. 4.4). */
  readonly allowHmacSha1: boolean;
  /** Largest accepted difference between a request's timestamp and the server clock. */
  readonly maxClockSkewSeconds: number;
  /** Lifetime of a session token when the request names none; at most 1 hour. */
  readonly sessionTokenTtlSeconds: number;
  /** `iss` of the session tokens. */
  readonly tokenIssuer: string;
  /** The registry, `host:port` (a headless Service name in Kubernetes). */
  readonly registryAddr: string;
  /**
   * Days the audit log keeps an entry (Art. 14.5); 0 keeps every entry for
   * ever. Unset: DEFAULT_AUDIT_RETENTION_DAYS.
   */
  readonly auditRetentionDays?: number;
}

/** Five years: the regulation names no period; this is a conservative default for records of state agencies. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 5 * 365;

export function loadAuthConfig(env: Env = process.env): AuthConfig {
  const reader = new EnvReader(env);
  const base = readBaseConfig(reader, 'auth', AUTH_DEFAULT_PORT);
  const masterKey = reader.base64Key('LGSP_MASTER_KEY', 32, { hint: 'kept in a Secret' });
  const config: AuthConfig = {
    ...base,
    masterKey: masterKey ?? new Uint8Array(0),
    ...previousMasterKey(reader),
    allowHmacSha1: reader.bool('LGSP_ALLOW_HMAC_SHA1', true),
    maxClockSkewSeconds: reader.int('LGSP_MAX_CLOCK_SKEW_SECONDS', 300, { min: 1, max: 3600 }),
    sessionTokenTtlSeconds: reader.int('LGSP_SESSION_TOKEN_TTL_SECONDS', 300, {
      min: 60,
      max: MAX_SESSION_TOKEN_TTL_SECONDS,
    }),
    tokenIssuer: reader.string('LGSP_TOKEN_ISSUER', 'lgsp'),
    registryAddr: reader.string('REGISTRY_ADDR', '127.0.0.1:7101'),
    auditRetentionDays: reader.int('LGSP_AUDIT_RETENTION_DAYS', DEFAULT_AUDIT_RETENTION_DAYS, {
      min: 0,
      max: 100 * 365,
    }),
  };
  reader.done();
  return Object.freeze(config);
}
