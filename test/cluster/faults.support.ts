/**
 * The bed of the fault tests: a Postgres of its own (the one these tests
 * restart; a server other people use is never touched), a local cluster on
 * it (three NATS nodes, two processes of every service and of the gateway),
 * tenants made through the gateways, and a steady load of transfers. Faults
 * are injected one after the other under the load; afterwards the load
 * drains and everything the platform promises is checked. Every process
 * started here is stopped in `close()`, whatever happened.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { freePort } from '#lib/embedded/nats-server.js';
import { type Component, LocalCluster } from '../../cluster/cluster.js';
import {
  createTenants,
  GatewayPool,
  hmacSigner,
  type Json,
  type LoadReport,
  STORAGE,
  TRANSFER,
  TransferLoad,
} from '../../cluster/load.js';
import { PrivatePostgres } from '../../cluster/postgres.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export type Fault =
  | { kind: 'kill'; component: Component }
  | { kind: 'nats'; signal: 'SIGTERM' | 'SIGKILL' }
  | { kind: 'postgres' };

export interface FaultRecord {
  readonly fault: string;
  /** From the fault to the faulty part serving again (ready), ms. */
  readonly recoveredMs: number;
}

export interface FaultOutcome extends LoadReport {
  readonly faults: readonly FaultRecord[];
  /** Sent transfers not DELIVERED as their source reads them. */
  readonly notDelivered: readonly string[];
  /** Blobs of delivered transfers whose content was not purged (Stat or objects left in the bucket). */
  readonly notPurged: readonly string[];
  /** Objects left in the blob bucket under blobs of completed transfers. */
  readonly objectsLeft: number;
  /** Streams and buckets of the deployment with fewer than three copies. */
  readonly underReplicated: readonly string[];
  /** After the last fault, until every process answered ready again, ms. */
  readonly allReadyAfterMs: number;
  readonly durationMs: number;
  /** The first of what went wrong on the clients' side (refusals, calls without answer). */
  readonly problems: readonly string[];
}

export class FaultBed {
  readonly dir = mkdtempSync(join(tmpdir(), 'lgsp-faults-'));
  /** Apart from `dir`: the server runs as another user, who must reach it. */
  readonly postgresDir = mkdtempSync(join(tmpdir(), 'lgsp-faults-pg-'));
  postgres: PrivatePostgres | undefined;
  cluster: LocalCluster | undefined;
  pool: GatewayPool | undefined;
  load: TransferLoad | undefined;
  readonly log: string[] = [];

  say(line: string): void {
    this.log.push(`${new Date().toISOString()} ${line}`);
  }

  async start(options: { replicas?: number; senders?: number; pauseMs?: number } = {}): Promise<void> {
    this.postgres = new PrivatePostgres({ dir: this.postgresDir, port: await freePort() });
    await this.postgres.start();
    this.say('private postgres started');
    this.cluster = await LocalCluster.start({
      runDir: join(this.dir, 'cluster'),
      databaseUrl: this.postgres.url(),
      busPrefix: 'FAULTS',
      replicas: options.replicas ?? 2,
      logLevel: 'info',
      extraEnv: { LGSP_RATE_LIMIT_RPS: '0' },
      progress: (line) => this.say(line),
    });
    const admin = this.cluster.admin!;
    this.pool = new GatewayPool(this.cluster.gatewayUrls);
    const tenants = await createTenants(this.pool, hmacSigner(admin.accessKeyId, admin.secret), {
      sources: 2,
      destinations: 3,
    });
    this.say('tenants created');
    // Outages while setting up are not the faults'.
    this.pool.outages.length = 0;
    this.load = new TransferLoad(this.pool, tenants, {
      senders: options.senders ?? 3,
      pauseMs: options.pauseMs ?? 20,
    });
  }

  /** Runs the load, injects each fault after `settleMs` of load, drains, and checks. */
  async run(faults: readonly Fault[], settleMs: number, drainMs = 120_000): Promise<FaultOutcome> {
    const cluster = this.cluster!;
    const load = this.load!;
    const began = Date.now();
    load.start();
    await sleep(settleMs);
    const records: FaultRecord[] = [];
    for (const fault of faults) {
      const at = Date.now();
      let name: string;
      if (fault.kind === 'kill') {
        const victim = cluster.replicasOf(fault.component)[0]!;
        name = `SIGKILL ${victim.name}`;
        await cluster.kill(victim);
        // The survivors carry the load alone for a while before the victim comes back.
        await sleep(settleMs);
        await cluster.restart(victim);
      } else if (fault.kind === 'nats') {
        name = `restart nats-2 (${fault.signal}, then start on its store)`;
        await cluster.nats.restartNode(1, fault.signal);
      } else {
        name = 'restart postgres (immediate stop, then start)';
        await this.postgres!.restart();
        await Promise.all(cluster.platformProcesses.map((p) => cluster.waitReady(p, 90_000)));
      }
      records.push({ fault: name, recoveredMs: Date.now() - at });
      this.say(`${name}: back after ${Date.now() - at} ms (sent so far ${load.sent.size})`);
      await sleep(settleMs);
    }
    const lastFaultEnded = Date.now();
    await Promise.all(cluster.platformProcesses.map((p) => cluster.waitReady(p, 90_000)));
    const allReadyAfterMs = Date.now() - lastFaultEnded;
    await load.drain(drainMs);
    this.say(`drained: ${JSON.stringify(load.report())}`);
    const checked = await this.#check();
    return {
      ...load.report(),
      ...checked,
      faults: records,
      allReadyAfterMs,
      durationMs: Date.now() - began,
      problems: load.problems.slice(0, 20),
    };
  }

  /** What the sources read of their transfers and of their content, and what the blob bucket still holds. */
  async #check(): Promise<
    Pick<FaultOutcome, 'notDelivered' | 'notPurged' | 'objectsLeft' | 'underReplicated'>
  > {
    const pool = this.pool!;
    const sent = [...this.load!.sent.values()];
    const notDelivered: string[] = [];
    const blobs = new Map<string, string>();
    const unpurged = new Set<string>();
    const deadline = Date.now() + 60_000;
    // Purging follows delivery on the transfer worker's next pass: poll for a while.
    let queue = sent;
    for (;;) {
      const undelivered: typeof sent = [];
      const unpurgedNow: typeof sent = [];
      for (let i = 0; i < queue.length; i += 8) {
        await Promise.all(
          queue.slice(i, i + 8).map(async (t) => {
            const { transfer }: Json = await pool.ok(
              TRANSFER,
              'GetTransfer',
              { transferId: t.id },
              t.source.signer,
            );
            blobs.set(t.id, transfer.blobId);
            if (transfer.state !== 'TRANSFER_STATE_DELIVERED') {
              undelivered.push(t);
              return;
            }
            const { blob }: Json = await pool.ok(
              STORAGE,
              'Stat',
              { blobId: transfer.blobId },
              t.source.signer,
            );
            if (blob.state !== 'BLOB_STATE_PURGED') unpurgedNow.push(t);
          }),
        );
      }
      queue = [...undelivered, ...unpurgedNow];
      if (queue.length === 0 || Date.now() > deadline) {
        for (const t of undelivered) notDelivered.push(t.id);
        for (const t of unpurgedNow) unpurged.add(blobs.get(t.id)!);
        break;
      }
      await sleep(1_000);
    }
    const delivered = new Set(sent.map((t) => blobs.get(t.id)).filter((b): b is string => b !== undefined));
    const cluster = this.cluster!;
    const nc = await connect({ servers: cluster.nats.url.split(',') });
    let objectsLeft = 0;
    const underReplicated: string[] = [];
    try {
      const store = await new Objm(nc).open(`${cluster.busPrefix}_BLOBS`);
      for (const info of await store.list()) {
        if (info.deleted) continue;
        const blobId = info.name.split('/')[0]!;
        if (delivered.has(blobId)) {
          objectsLeft++;
          unpurged.add(blobId);
        }
      }
      const jsm = await jetstreamManager(nc);
      for await (const stream of jsm.streams.list()) {
        const name = stream.config.name;
        if (!name.includes(cluster.busPrefix)) continue;
        if (stream.config.num_replicas < 3) underReplicated.push(`${name} (${stream.config.num_replicas})`);
      }
    } finally {
      await nc.close();
    }
    return {
      notDelivered,
      notPurged: [...unpurged],
      objectsLeft,
      underReplicated,
    };
  }

  /** Stops every process started here and removes the directory (kept when `keep`, for the logs). */
  async close(keep = false): Promise<void> {
    try {
      await this.cluster?.stop();
    } finally {
      await this.postgres?.stop().catch(() => undefined);
      if (!keep) {
        rmSync(this.dir, { recursive: true, force: true });
        rmSync(this.postgresDir, { recursive: true, force: true });
      }
    }
  }
}

export function describeOutcome(outcome: FaultOutcome): string {
  const lines = [
    `transfers sent (committed): ${outcome.sent}; delivered to every recipient and confirmed: ${outcome.delivered}; lost: ${outcome.lost}`,
    `sends that never got an answer: ${outcome.sendFailures}; duplicates seen by recipients: ${outcome.duplicates}; delivered to a wrong recipient: ${outcome.misdelivered}`,
    `longest unavailability seen by a client (first failed try to answer, failing over between gateways): ${outcome.longestUnavailabilityMs} ms (${outcome.longestUnavailabilityAt})`,
    `not DELIVERED: ${outcome.notDelivered.length}; content not purged: ${outcome.notPurged.length} (objects left: ${outcome.objectsLeft}); under-replicated streams: ${outcome.underReplicated.length}`,
    ...outcome.faults.map((f) => `  ${f.fault}: serving again after ${f.recoveredMs} ms`),
    `every process ready ${outcome.allReadyAfterMs} ms after the last fault; run took ${Math.round(outcome.durationMs / 1000)} s`,
  ];
  return lines.join('\n');
}
