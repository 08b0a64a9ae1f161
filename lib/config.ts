/**
 * Configuration is read once from the environment into a frozen, typed
 * object. Every problem is reported at once, naming the variable, so that a
 * misconfigured pod fails at start with one clear message.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads variables and remembers every problem until `done()`. */
export class EnvReader {
  readonly #env: Env;
  readonly #problems: string[] = [];

  constructor(env: Env = process.env) {
    this.#env = env;
  }

  #raw(name: string): string | undefined {
    const value = this.#env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.#raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.#raw(name);
  }

  requiredString(name: string, hint: string): string {
    const value = this.#raw(name);
    if (value === undefined) {
      this.#problems.push(`${name} is required: ${hint}`);
      return '';
    }
    return value;
  }

  int(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
    if (!Number.isInteger(value) || value < min || value > max) {
      this.#problems.push(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.#raw(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    this.#problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.#raw(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.#problems.push(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
    return fallback;
  }

  url(name: string, protocols: readonly string[]): string | undefined {
    const raw = this.#raw(name);
    if (raw === undefined) return undefined;
    this.#checkUrl(name, raw, protocols);
    return raw;
  }

  /** A comma-separated list of URLs (the servers of a NATS cluster), returned as given. */
  urlList(name: string, protocols: readonly string[]): string | undefined {
    const raw = this.#raw(name);
    if (raw === undefined) return undefined;
    for (const part of raw.split(',')) this.#checkUrl(name, part.trim(), protocols);
    return raw;
  }

  #checkUrl(name: string, raw: string, protocols: readonly string[]): void {
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) {
        this.#problems.push(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
      }
    } catch {
      this.#problems.push(`${name} must be a URL, got a value that does not parse`);
    }
  }

  /**
   * A key of exactly `bytes` bytes given as base64 (e.g. `openssl rand -base64 32`).
   * The value itself never appears in a problem: it is a secret.
   */
  base64Key(name: string, bytes: number, required?: { hint: string }): Uint8Array | undefined {
    const raw = this.#raw(name);
    const how = `base64 of ${bytes} random bytes (openssl rand -base64 ${bytes})`;
    if (raw === undefined) {
      if (required !== undefined) this.#problems.push(`${name} is required: ${how}, ${required.hint}`);
      return undefined;
    }
    const key = /^[A-Za-z0-9+/]+={0,2}$/.test(raw) ? Buffer.from(raw, 'base64') : Buffer.alloc(0);
    if (key.length !== bytes) {
      this.#problems.push(`${name} must be ${how}; it decodes to ${key.length} bytes`);
      return undefined;
    }
    return new Uint8Array(key);
  }

  /** Records a problem found by a check of the caller's own, reported with the rest by `done()`. */
  report(problem: string): void {
    this.#problems.push(problem);
  }

  /** Throws one `ConfigError` listing every problem found. */
  done(): void {
    if (this.#problems.length > 0) {
      throw new ConfigError(`invalid configuration:\n  - ${this.#problems.join('\n  - ')}`);
    }
  }
}

/** What every service process needs, whatever it does. */
export interface BaseConfig {
  /** Service name, e.g. `registry`; also its default Postgres schema. */
  readonly service: string;
  /** Interface to listen on. */
  readonly host: string;
  /** Port to listen on; 0 picks a free one (tests, embedded mode). */
  readonly port: number;
  readonly logLevel: string;
  /** `postgres://...`, or unset for PGlite under `dataDir`. */
  readonly databaseUrl: string | undefined;
  /** Postgres schema owned by this service. */
  readonly dbSchema: string;
  /** Where PGlite keeps its files when `databaseUrl` is unset. */
  readonly dataDir: string;
  /** `nats://...`, or unset for the in-process bus (single process only). */
  readonly natsUrl: string | undefined;
  /** Prefix of JetStream stream and KV bucket names, so deployments (and tests) can share a server. */
  readonly busPrefix: string;
  /** Largest request body accepted, in bytes. */
  readonly readMaxBytes: number;
  /** Copies JetStream keeps of the streams and KV buckets this process creates (3 in a three-node cluster). Default 1. */
  readonly natsReplicas?: number;
}

export function readBaseConfig(env: EnvReader, service: string, defaultPort: number): BaseConfig {
  return {
    service,
    host: env.string('LGSP_HOST', '127.0.0.1'),
    port: env.int('PORT', defaultPort, { min: 0, max: 65535 }),
    logLevel: env.oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'info'),
    databaseUrl: env.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    dbSchema: env.string('DB_SCHEMA', service),
    dataDir: env.string('LGSP_DATA_DIR', '.lgsp/data'),
    natsUrl: env.urlList('NATS_URL', ['nats:', 'tls:', 'ws:', 'wss:']),
    busPrefix: env.string('LGSP_BUS_PREFIX', 'LGSP'),
    readMaxBytes: env.int('LGSP_READ_MAX_BYTES', 4 * 1024 * 1024, { min: 1024 }),
    natsReplicas: env.int('LGSP_NATS_REPLICAS', 1, { min: 1, max: 5 }),
  };
}
