import { type Env, EnvReader } from '#lib/config.js';

export const GATEWAY_DEFAULT_PORT = 8080;

/** Where each upstream service listens (`host:port`; a DNS name reaches every replica). */
export interface Upstreams {
  readonly registry: string;
}

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly logLevel: string;
  readonly upstreams: Upstreams;
  /**
   * Operator bootstrap credential: a bearer token that acts as a province
   * administrator. Meant for the first setup, before operator keys exist.
   */
  readonly bootstrapToken: string | undefined;
  /** Largest request body accepted, in bytes. */
  readonly readMaxBytes: number;
  /** Deadline given to upstream calls when the client sets none, in ms. */
  readonly defaultTimeoutMs: number;
}

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const reader = new EnvReader(env);
  const bootstrapToken = reader.optionalString('LGSP_BOOTSTRAP_TOKEN');
  const config: GatewayConfig = {
    host: reader.string('LGSP_HOST', '127.0.0.1'),
    port: reader.int('PORT', GATEWAY_DEFAULT_PORT, { min: 0, max: 65535 }),
    logLevel: reader.oneOf(
      'LOG_LEVEL',
      ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
      'info',
    ),
    upstreams: { registry: reader.string('REGISTRY_ADDR', '127.0.0.1:7101') },
    bootstrapToken,
    readMaxBytes: reader.int('LGSP_READ_MAX_BYTES', 4 * 1024 * 1024, { min: 1024 }),
    defaultTimeoutMs: reader.int('LGSP_UPSTREAM_TIMEOUT_MS', 30_000, { min: 100 }),
  };
  if (bootstrapToken !== undefined && bootstrapToken.length < 32) {
    throw new Error('LGSP_BOOTSTRAP_TOKEN must be at least 32 characters');
  }
  reader.done();
  return Object.freeze(config);
}
