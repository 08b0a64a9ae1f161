import { readFileSync } from 'node:fs';
import { type Env, EnvReader } from '#lib/config.js';
import { parseOverrides, type RatePolicy } from './limits/token-buckets.js';

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
  /** Copies JetStream keeps of the streams and KV buckets the gateway creates (3 in a three-node cluster). */
  readonly natsReplicas: number;
  /** Largest request body accepted, in bytes. */
  readonly readMaxBytes: number;
  /** Deadline given to upstream calls when the client sets none, in ms. */
  readonly defaultTimeoutMs: number;
  /** Largest accepted difference between a request's timestamp and the gateway's clock (Art. 5.4). */
  readonly maxClockSkewMs: number;
  /** Platform-wide switch for HMAC-SHA1 signatures (legacy systems, Art. 4.4). */
  readonly allowHmacSha1: boolean;
  /** Requests per second per app, with per-app overrides. */
  readonly rateLimit: RatePolicy;
  /** Streaming calls one app may hold open at once on one replica; 0 for no limit. */
  readonly maxStreamsPerApp: number;
  /** Certificate and key (PEM) to serve TLS, ALPN offering HTTP/2 and HTTP/1.1; cleartext when unset. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** Origins browsers may call from (CORS); `*` for any; none by default. */
  readonly corsOrigins: readonly string[];
}

/** Every limit off: for benchmarks and tests that measure or load the platform on purpose. */
export const NO_RATE_LIMIT: RatePolicy = { default: { perSecond: 0, burst: 0 }, overrides: new Map() };

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const reader = new EnvReader(env);
  const rps = reader.int('LGSP_RATE_LIMIT_RPS', 200, { min: 0, max: 1_000_000 });
  const { overrides, problems } = parseOverrides(reader.string('LGSP_RATE_LIMIT_OVERRIDES', ''));
  for (const problem of problems) reader.report(`LGSP_RATE_LIMIT_OVERRIDES: ${problem}`);
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
    natsUrl: reader.urlList('NATS_URL', ['nats:', 'tls:', 'ws:', 'wss:']),
    busPrefix: reader.string('LGSP_BUS_PREFIX', 'LGSP'),
    natsReplicas: reader.int('LGSP_NATS_REPLICAS', 1, { min: 1, max: 5 }),
    readMaxBytes: reader.int('LGSP_READ_MAX_BYTES', 4 * 1024 * 1024, { min: 1024 }),
    defaultTimeoutMs: reader.int('LGSP_UPSTREAM_TIMEOUT_MS', 30_000, { min: 100 }),
    maxClockSkewMs: reader.int('LGSP_MAX_CLOCK_SKEW_SECONDS', 300, { min: 1, max: 3600 }) * 1000,
    allowHmacSha1: reader.bool('LGSP_ALLOW_HMAC_SHA1', true),
    rateLimit: {
      default: { perSecond: rps, burst: reader.int('LGSP_RATE_LIMIT_BURST', rps * 2, { min: 1 }) },
      overrides,
    },
    maxStreamsPerApp: reader.int('LGSP_MAX_STREAMS_PER_APP', 64, { min: 0, max: 100_000 }),
    tls: readTls(reader),
    corsOrigins: reader
      .string('LGSP_CORS_ORIGINS', '')
      .split(',')
      .map((o) => o.trim())
      .filter((o) => o !== ''),
  };
  reader.done();
  return Object.freeze(config);
}

function readTls(reader: EnvReader): GatewayConfig['tls'] {
  const certFile = reader.optionalString('LGSP_TLS_CERT_FILE');
  const keyFile = reader.optionalString('LGSP_TLS_KEY_FILE');
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    reader.report('LGSP_TLS_CERT_FILE and LGSP_TLS_KEY_FILE go together: set both for TLS, or neither');
    return undefined;
  }
  try {
    return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  } catch (error) {
    reader.report(`LGSP_TLS_CERT_FILE/LGSP_TLS_KEY_FILE: ${(error as Error).message}`);
    return undefined;
  }
}
