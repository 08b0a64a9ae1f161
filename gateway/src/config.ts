import { type Env, EnvReader } from '#lib/config.js';

export const GATEWAY_DEFAULT_PORT = 8080;

/** Where each upstream service listens (`host:port`; a DNS name reaches every replica). */
export interface Upstreams {
  readonly registry: string;
  readonly auth: string;
  readonly transfer: string;
  readonly storage: string;
  readonly notification: string;
  readonly sso: string;
}

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly logLevel: string;
  readonly upstreams: Upstreams;
  /** `nats://...` for the nonce store, revocations and audit events; required unless the embedded mode hands the gateway its bus. */
  readonly natsUrl: string | undefined;
  readonly busPrefix: string;
  /** Largest request body accepted, in bytes. */
  readonly readMaxBytes: number;
  /** Deadline given to upstream calls when the client sets none, in ms. */
  readonly defaultTimeoutMs: number;
  /** Largest accepted difference between a request's timestamp and the gateway's clock (Art. 5.4). */
  readonly maxClockSkewMs: number;
  /** Platform-wide switch for HMAC-SHA1 signatures (legacy systems, Art. 4.4). */
  readonly allowHmacSha1: boolean;
}

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const reader = new EnvReader(env);
  const config: GatewayConfig = {
    host: reader.string('LGSP_HOST', '127.0.0.1'),
    port: reader.int('PORT', GATEWAY_DEFAULT_PORT, { min: 0, max: 65535 }),
    logLevel: reader.oneOf(
      'LOG_LEVEL',
      ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
      'info',
    ),
    upstreams: {
      registry: reader.string('REGISTRY_ADDR', '127.0.0.1:7101'),
      auth: reader.string('AUTH_ADDR', '127.0.0.1:7102'),
      transfer: reader.string('TRANSFER_ADDR', '127.0.0.1:7103'),
      storage: reader.string('STORAGE_ADDR', '127.0.0.1:7104'),
      notification: reader.string('NOTIFICATION_ADDR', '127.0.0.1:7105'),
      sso: reader.string('SSO_ADDR', '127.0.0.1:7106'),
    },
    natsUrl: reader.url('NATS_URL', ['nats:', 'tls:', 'ws:', 'wss:']),
    busPrefix: reader.string('LGSP_BUS_PREFIX', 'LGSP'),
    readMaxBytes: reader.int('LGSP_READ_MAX_BYTES', 4 * 1024 * 1024, { min: 1024 }),
    defaultTimeoutMs: reader.int('LGSP_UPSTREAM_TIMEOUT_MS', 30_000, { min: 100 }),
    maxClockSkewMs: reader.int('LGSP_MAX_CLOCK_SKEW_SECONDS', 300, { min: 1, max: 3600 }) * 1000,
    allowHmacSha1: reader.bool('LGSP_ALLOW_HMAC_SHA1', true),
  };
  reader.done();
  return Object.freeze(config);
}
