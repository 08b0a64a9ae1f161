/**
 * The local cluster mode: on one machine and on loopback only, a three-node
 * NATS cluster with JetStream (every stream and KV bucket kept three times),
 * several processes of every service and of the gateway, each its own
 * `node --import tsx …/main.ts` configured by environment variables as in a
 * real deployment, over a Postgres given by URL. Services reach each other's
 * replicas through grpc-js round-robin over an `ipv4:` address list; each
 * process logs to a file of its own under the run directory.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { openDatabase } from '#lib/db/database.js';
import { freePort } from '#lib/embedded/nats-server.js';
import type { RegistryDatabase } from '../services/registry/src/db/schema.js';
import { seedUnitTree, type UnitTreeFile } from '../services/registry/src/db/seed.js';
import { NatsCluster, type NatsNodePorts } from './nats.js';
import { ManagedProcess } from './process.js';

const execFileAsync = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DEMO_TREE = join(ROOT, 'deploy/seed/units-example.json');

/** The services, in the order they start (registry first: the others call it). */
export const SERVICES = ['registry', 'auth', 'storage', 'transfer', 'notification', 'sso'] as const;
export type ServiceName = (typeof SERVICES)[number];
export type Component = ServiceName | 'gateway';

const ADDR_VARIABLE: Readonly<Record<ServiceName, string>> = {
  registry: 'REGISTRY_ADDR',
  auth: 'AUTH_ADDR',
  transfer: 'TRANSFER_ADDR',
  storage: 'STORAGE_ADDR',
  notification: 'NOTIFICATION_ADDR',
  sso: 'SSO_ADDR',
};

export interface ClusterPorts {
  readonly nats: readonly NatsNodePorts[];
  /** Per service, one port per replica. */
  readonly services: Readonly<Record<ServiceName, readonly number[]>>;
  readonly gateways: readonly number[];
}

export interface ClusterOptions {
  /** Logs, NATS stores, the master key and the administrator's credential live here. */
  readonly runDir: string;
  /** A Postgres database the services may create schemas in. */
  readonly databaseUrl: string;
  /** Prefix of every service's schema (`<prefix>registry`, …). Default none. */
  readonly schemaPrefix?: string;
  /** Prefix of stream, subject and bucket names. Default `LGSP`. */
  readonly busPrefix?: string;
  /** Processes of each service. Default 2. */
  readonly replicas?: number;
  /** Processes of the gateway. Default `replicas`. */
  readonly gatewayReplicas?: number;
  /** Fixed ports (the CLI); otherwise free ones are picked. */
  readonly ports?: ClusterPorts;
  /** base64 of 32 bytes; default read from, or written to, `<runDir>/master-key`. */
  readonly masterKey?: string;
  readonly logLevel?: string;
  /** Load the demo unit tree into an empty registry. Default true. */
  readonly seedDemo?: boolean;
  /** Environment added to every service and gateway process (e.g. `LGSP_RATE_LIMIT_RPS`). */
  readonly extraEnv?: Readonly<Record<string, string>>;
  /** How long each process may take to become ready. Default 120 s. */
  readonly readyTimeoutMs?: number;
  /** Progress lines, e.g. `console.log`. */
  readonly progress?: (line: string) => void;
}

export interface AdminCredential {
  readonly accessKeyId: string;
  readonly secret: string;
  /** `<runDir>/admin.env` (mode 0600). */
  readonly file: string;
  /** True when this start created it; false when it was kept from an earlier start. */
  readonly created: boolean;
}

export async function pickPorts(replicas: number, gatewayReplicas: number): Promise<ClusterPorts> {
  const take = async (n: number) => {
    const out: number[] = [];
    while (out.length < n) {
      const port = await freePort();
      if (!out.includes(port) && !taken.has(port)) out.push(port);
    }
    for (const p of out) taken.add(p);
    return out;
  };
  const taken = new Set<number>();
  const nats: NatsNodePorts[] = [];
  for (let i = 0; i < 3; i++) {
    const [client, route] = await take(2);
    nats.push({ client: client!, route: route! });
  }
  const services = {} as Record<ServiceName, number[]>;
  for (const s of SERVICES) services[s] = await take(replicas);
  return { nats, services, gateways: await take(gatewayReplicas) };
}

/** Fixed ports for the CLI: services `7101…7106` for replica 1, `7201…` for replica 2; gateways from `gatewayPort`. */
export function fixedPorts(replicas: number, gatewayReplicas: number, gatewayPort: number): ClusterPorts {
  const services = {} as Record<ServiceName, number[]>;
  const offset: Record<ServiceName, number> = {
    registry: 1,
    auth: 2,
    transfer: 3,
    storage: 4,
    notification: 5,
    sso: 6,
  };
  for (const s of SERVICES)
    services[s] = Array.from({ length: replicas }, (_, i) => 7000 + 100 * (i + 1) + offset[s]);
  return {
    nats: [0, 1, 2].map((i) => ({ client: 4231 + i, route: 6231 + i })),
    services,
    gateways: Array.from({ length: gatewayReplicas }, (_, i) => gatewayPort + i),
  };
}

export class LocalCluster {
  readonly nats: NatsCluster;
  readonly services: Readonly<Record<ServiceName, readonly ManagedProcess[]>>;
  readonly gateways: readonly ManagedProcess[];
  readonly schemaPrefix: string;
  readonly busPrefix: string;
  readonly masterKey: string;
  admin: AdminCredential | undefined;
  readonly #readyTimeoutMs: number;
  readonly #progress: (line: string) => void;

  private constructor(
    readonly options: ClusterOptions,
    readonly ports: ClusterPorts,
  ) {
    mkdirSync(options.runDir, { recursive: true });
    this.schemaPrefix = options.schemaPrefix ?? '';
    this.busPrefix = options.busPrefix ?? 'LGSP';
    this.masterKey = options.masterKey ?? masterKeyIn(options.runDir);
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
    this.#progress = options.progress ?? (() => {});
    this.nats = new NatsCluster({ runDir: options.runDir, ports: ports.nats, cwd: ROOT });
    const services = {} as Record<ServiceName, ManagedProcess[]>;
    for (const s of SERVICES)
      services[s] = ports.services[s].map((port, i) => this.#serviceProcess(s, i, port));
    this.services = services;
    this.gateways = ports.gateways.map((port, i) => this.#gatewayProcess(i, port));
  }

  /** Starts NATS, then the services (registry first), then the gateways; seeds and creates the administrator. */
  static async start(options: ClusterOptions): Promise<LocalCluster> {
    const replicas = options.replicas ?? 2;
    const ports = options.ports ?? (await pickPorts(replicas, options.gatewayReplicas ?? replicas));
    const cluster = new LocalCluster(options, ports);
    try {
      await cluster.#startAll();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Every process: NATS nodes, service replicas and gateways. */
  get processes(): ManagedProcess[] {
    return [...this.nats.nodes, ...SERVICES.flatMap((s) => this.services[s]), ...this.gateways];
  }

  /** The service replicas and gateways: the processes with a `/readyz`. */
  get platformProcesses(): ManagedProcess[] {
    return [...SERVICES.flatMap((s) => this.services[s]), ...this.gateways];
  }

  get gatewayUrls(): string[] {
    return this.ports.gateways.map((p) => `http://127.0.0.1:${p}`);
  }

  replicasOf(component: Component): readonly ManagedProcess[] {
    return component === 'gateway' ? this.gateways : this.services[component];
  }

  portOf(process: ManagedProcess): number {
    const [component, n] = process.name.split('-') as [string, string];
    const index = Number(n) - 1;
    if (component === 'gateway') return this.ports.gateways[index]!;
    if (component === 'nats') return this.ports.nats[index]!.client;
    return this.ports.services[component as ServiceName][index]!;
  }

  async #startAll(): Promise<void> {
    const t0 = Date.now();
    await this.nats.start();
    this.#progress(`NATS cluster of 3 nodes ready (${Date.now() - t0} ms)`);
    await this.#startGroup(this.services.registry);
    if (this.options.seedDemo ?? true) await this.#seedDemo();
    await this.#startGroup(SERVICES.slice(1).flatMap((s) => this.services[s]));
    this.#progress(`services ready (${Date.now() - t0} ms)`);
    await this.#startGroup(this.gateways);
    this.#progress(`gateways ready (${Date.now() - t0} ms)`);
    this.admin = await this.#createAdmin();
  }

  async #startGroup(group: readonly ManagedProcess[]): Promise<void> {
    for (const p of group) p.start();
    await Promise.all(group.map((p) => this.#upOrRetry(p)));
  }

  /**
   * As an orchestrator would: a process that exits while starting (on two
   * cores, a dozen processes creating replicated streams at once can make a
   * JetStream request time out) is started again, twice at most.
   */
  async #upOrRetry(process: ManagedProcess): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.waitReady(process);
        return;
      } catch (error) {
        if (process.running || attempt >= 3) throw error;
        this.#progress(`${process.name} exited while starting; starting it again`);
        process.start();
      }
    }
  }

  /** Polls `/readyz` of a process until it answers 200. */
  async waitReady(process: ManagedProcess, timeoutMs = this.#readyTimeoutMs): Promise<number> {
    const started = Date.now();
    const url = `http://127.0.0.1:${this.portOf(process)}/readyz`;
    while (Date.now() - started < timeoutMs) {
      if (!process.running) throw new Error(`${process.name} exited at start:\n${process.logTail()}`);
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200) return Date.now() - started;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${process.name} was not ready within ${timeoutMs} ms:\n${process.logTail()}`);
  }

  /** Kills a process (SIGKILL: no cleanup at all). */
  kill(process: ManagedProcess): Promise<void> {
    return process.kill('SIGKILL');
  }

  /** Starts a stopped or killed process again on its port; resolves with the time until it was ready. */
  async restart(process: ManagedProcess): Promise<number> {
    if (process.running) await process.kill('SIGKILL');
    process.start();
    return this.waitReady(process);
  }

  /** Stops the gateways, then the services, then NATS: SIGTERM each, SIGKILL what lingers. */
  async stop(): Promise<void> {
    await Promise.all(this.gateways.map((p) => p.stop()));
    await Promise.all(SERVICES.flatMap((s) => this.services[s]).map((p) => p.stop()));
    await this.nats.stop();
  }

  #commonEnv(): Record<string, string> {
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      LGSP_HOST: '127.0.0.1',
      LOG_LEVEL: this.options.logLevel ?? 'info',
      DATABASE_URL: this.options.databaseUrl,
      NATS_URL: this.nats.url,
      LGSP_BUS_PREFIX: this.busPrefix,
      LGSP_NATS_REPLICAS: '3',
      LGSP_MASTER_KEY: this.masterKey,
    };
    for (const s of SERVICES) {
      env[ADDR_VARIABLE[s]] = `ipv4:${this.ports.services[s].map((p) => `127.0.0.1:${p}`).join(',')}`;
    }
    for (const name of ['TMPDIR', 'NODE_OPTIONS', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    return { ...env, ...this.options.extraEnv };
  }

  #serviceProcess(service: ServiceName, index: number, port: number): ManagedProcess {
    const name = `${service}-${index + 1}`;
    const env: Record<string, string> = {
      ...this.#commonEnv(),
      PORT: String(port),
      DB_SCHEMA: `${this.schemaPrefix}${service}`,
      LGSP_DATA_DIR: join(this.options.runDir, 'data', name),
    };
    if (service === 'storage') {
      env['LGSP_BLOB_BACKEND'] = 'nats';
      env['LGSP_BLOB_NATS_REPLICAS'] = '3';
    }
    if (service === 'notification') {
      env['LGSP_PRESENCE_KV_REPLICAS'] = '3';
      env['LGSP_REPLICA_NAME'] = name;
      env['LGSP_WEBHOOK_ALLOW_LOOPBACK'] = 'true';
    }
    if (service === 'sso') {
      env['LGSP_SSO_ISSUER'] = `http://127.0.0.1:${this.ports.gateways[0]}/oidc`;
      env['LGSP_SSO_ALLOW_INSECURE_LOCAL'] = 'true';
    }
    return new ManagedProcess({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', `services/${service}/src/main.ts`],
      env: { ...env, ...this.options.extraEnv },
      cwd: ROOT,
      logFile: join(this.options.runDir, 'logs', `${name}.log`),
    });
  }

  #gatewayProcess(index: number, port: number): ManagedProcess {
    const name = `gateway-${index + 1}`;
    return new ManagedProcess({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', 'gateway/src/main.ts'],
      env: { ...this.#commonEnv(), PORT: String(port) },
      cwd: ROOT,
      logFile: join(this.options.runDir, 'logs', `${name}.log`),
    });
  }

  /** The demo unit tree, as the embedded mode loads it, into an empty registry. */
  async #seedDemo(): Promise<void> {
    const tree = JSON.parse(readFileSync(DEMO_TREE, 'utf8')) as UnitTreeFile;
    const database = await openDatabase({
      kind: 'postgres',
      url: this.options.databaseUrl,
      maxConnections: 2,
    });
    try {
      const db = database.forSchema<RegistryDatabase>(
        `${this.schemaPrefix}registry`,
      ) as Kysely<RegistryDatabase>;
      const seeded = await seedUnitTree(db, this.busPrefix, tree, {
        localZone: { code: 'H26', name: 'LGSP tỉnh Hải Dương' },
      });
      if (seeded.units > 0) this.#progress(`demo unit tree loaded (${seeded.units} units)`);
    } finally {
      await database.close();
    }
  }

  /**
   * The first administrator, made by the same command an operator runs
   * (services/auth/src/bin/create-admin.ts); kept in `<runDir>/admin.env`.
   */
  async #createAdmin(): Promise<AdminCredential> {
    const file = join(this.options.runDir, 'admin.env');
    const env = { ...this.#commonEnv(), DB_SCHEMA: `${this.schemaPrefix}auth` };
    try {
      const { stdout } = await execFileAsync(
        process.execPath,
        ['--import', 'tsx', 'services/auth/src/bin/create-admin.ts', '--name', 'cluster-admin'],
        { cwd: ROOT, env, encoding: 'utf8' },
      );
      const printed = JSON.parse(stdout) as { access_key_id: string; secret_key: string };
      writeFileSync(
        file,
        `LGSP_ACCESS_KEY_ID=${printed.access_key_id}\nLGSP_SECRET_KEY=${printed.secret_key}\n`,
        {
          mode: 0o600,
        },
      );
      return { accessKeyId: printed.access_key_id, secret: printed.secret_key, file, created: true };
    } catch (error) {
      // Exit status 1: an administrator exists already (an earlier start); its credential is in the file.
      const kept = readAdminEnv(file);
      if ((error as { code?: unknown }).code === 1 && kept !== undefined)
        return { ...kept, file, created: false };
      throw new Error(`create-admin failed: ${(error as { stderr?: string }).stderr ?? String(error)}`);
    }
  }
}

function readAdminEnv(file: string): { accessKeyId: string; secret: string } | undefined {
  try {
    const text = readFileSync(file, 'utf8');
    const id = /^LGSP_ACCESS_KEY_ID=(.+)$/m.exec(text)?.[1];
    const secret = /^LGSP_SECRET_KEY=(.+)$/m.exec(text)?.[1];
    return id !== undefined && secret !== undefined ? { accessKeyId: id, secret } : undefined;
  } catch {
    return undefined;
  }
}

/** The run directory's master key, made once (mode 0600). */
function masterKeyIn(runDir: string): string {
  const file = join(runDir, 'master-key');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const key = randomBytes(32).toString('base64');
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    return key;
  }
}

/** Creates `database` on the server of `serverUrl` unless it exists (the CLI's database of its own). */
export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const url = new URL(serverUrl);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`create database "${database.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
}
