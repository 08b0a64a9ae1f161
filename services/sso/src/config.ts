import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';
import { previousMasterKey } from '#lib/crypto/rotate.js';

export const SSO_DEFAULT_PORT = 7106;

/** Where the provider is mounted, on the sso service's port and on the gateway. */
export const OIDC_MOUNT = '/oidc';

export interface SsoConfig extends BaseConfig {
  /** AES-256-GCM key (32 bytes): seals signing keys, client secrets and TOTP secrets; cookie keys derive from it. */
  readonly masterKey: Uint8Array;
  /**
   * The master key before a rotation (LGSP_MASTER_KEY_PREVIOUS): opens values
   * not yet re-sealed under `masterKey`, never seals. Unset outside a rotation.
   */
  readonly previousMasterKey?: Uint8Array;
  /**
   * The issuer: the public origin of the gateway followed by `/oidc`, e.g.
   * `https://lgsp.example.gov.vn/oidc`. Every URL given to applications starts with it.
   */
  readonly issuer: string;
  /** The registry, `host:port`: units must exist and be active; unit administrators reach the units under theirs. */
  readonly registryAddr: string;
  /** Lifetime of access tokens. */
  readonly accessTokenTtlSeconds: number;
  /** Lifetime of ID tokens. */
  readonly idTokenTtlSeconds: number;
  /** Lifetime of refresh tokens (they also end with the login session). */
  readonly refreshTokenTtlSeconds: number;
  /** How long a login session lasts: one working day by default. */
  readonly sessionTtlSeconds: number;
  /** Failed logins in a row that lock an account. */
  readonly maxFailedLogins: number;
  /** How long a lockout lasts before the account opens again by itself; an administrator may unlock sooner. */
  readonly lockoutSeconds: number;
  /** A new signing key is made after this many seconds... */
  readonly keyRotationSeconds: number;
  /** ...published this long before it signs (applications fetching the key set see it first)... */
  readonly keyPrepublishSeconds: number;
  /** ...and the old one stays published this long after it stopped signing. */
  readonly keyRetainSeconds: number;
  /** Grace period of the previous client secret after RotateRelyingPartySecret. */
  readonly secretGraceSeconds: number;
  /**
   * Whether redirect and back-channel logout URIs may be plain http on
   * loopback, and back-channel calls may reach private networks (development,
   * tests, a provincial WAN). Off: https only, public addresses only.
   */
  readonly allowInsecureLocal: boolean;
}

export function loadSsoConfig(env: Env = process.env): SsoConfig {
  const reader = new EnvReader(env);
  const base = readBaseConfig(reader, 'sso', SSO_DEFAULT_PORT);
  const issuer = reader.url('LGSP_SSO_ISSUER', ['https:', 'http:']) ?? `http://127.0.0.1:8080${OIDC_MOUNT}`;
  if (!new URL(issuer).pathname.replace(/\/$/, '').endsWith(OIDC_MOUNT)) {
    reader.report(
      `LGSP_SSO_ISSUER must end with ${OIDC_MOUNT}, the path the gateway serves the provider under`,
    );
  }
  const config: SsoConfig = {
    ...base,
    // Required at start (createSsoContext); optional here so that code can build a config without it.
    masterKey: reader.base64Key('LGSP_MASTER_KEY', 32) ?? new Uint8Array(0),
    ...previousMasterKey(reader),
    issuer: issuer.replace(/\/$/, ''),
    registryAddr: reader.string('REGISTRY_ADDR', '127.0.0.1:7101'),
    accessTokenTtlSeconds: reader.int('LGSP_SSO_ACCESS_TOKEN_TTL_SECONDS', 600, { min: 1, max: 86_400 }),
    idTokenTtlSeconds: reader.int('LGSP_SSO_ID_TOKEN_TTL_SECONDS', 3600, { min: 60, max: 86_400 }),
    refreshTokenTtlSeconds: reader.int('LGSP_SSO_REFRESH_TOKEN_TTL_SECONDS', 14 * 86_400, {
      min: 60,
      max: 90 * 86_400,
    }),
    sessionTtlSeconds: reader.int('LGSP_SSO_SESSION_TTL_SECONDS', 10 * 3600, { min: 60, max: 30 * 86_400 }),
    maxFailedLogins: reader.int('LGSP_SSO_MAX_FAILED_LOGINS', 5, { min: 1, max: 100 }),
    lockoutSeconds: reader.int('LGSP_SSO_LOCKOUT_SECONDS', 15 * 60, { min: 1, max: 30 * 86_400 }),
    keyRotationSeconds: reader.int('LGSP_SSO_KEY_ROTATION_SECONDS', 30 * 86_400, { min: 60 }),
    keyPrepublishSeconds: reader.int('LGSP_SSO_KEY_PREPUBLISH_SECONDS', 86_400, { min: 0 }),
    keyRetainSeconds: reader.int('LGSP_SSO_KEY_RETAIN_SECONDS', 7 * 86_400, { min: 60 }),
    secretGraceSeconds: reader.int('LGSP_SSO_SECRET_GRACE_SECONDS', 86_400, { min: 0, max: 30 * 86_400 }),
    allowInsecureLocal: reader.bool('LGSP_SSO_ALLOW_INSECURE_LOCAL', false),
  };
  reader.done();
  return Object.freeze(config);
}
