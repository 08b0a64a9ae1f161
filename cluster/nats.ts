/**
 * A three-node NATS cluster with JetStream on loopback: each node has its own
 * client port, route port and store directory, and routes to the other two.
 * Streams and KV buckets created with three replicas survive the loss of any
 * one node.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ManagedProcess } from './process.js';

export interface NatsNodePorts {
  readonly client: number;
  readonly route: number;
}

export interface NatsClusterOptions {
  readonly runDir: string;
  readonly ports: readonly NatsNodePorts[];
  readonly cwd: string;
  /** Name of the cluster in the servers' routes. Default `lgsp-local`. */
  readonly clusterName?: string;
}

export class NatsCluster {
  readonly nodes: readonly ManagedProcess[];

  constructor(readonly options: NatsClusterOptions) {
    if (spawnSync('nats-server', ['--version']).status !== 0) {
      throw new Error('nats-server is not on PATH: the local cluster runs three nodes of it');
    }
    const routes = options.ports.map((p) => `nats://127.0.0.1:${p.route}`);
    this.nodes = options.ports.map((ports, i) => {
      const name = `nats-${i + 1}`;
      const storeDir = join(options.runDir, 'nats', name);
      mkdirSync(storeDir, { recursive: true });
      return new ManagedProcess({
        name,
        command: 'nats-server',
        args: [
          '-a',
          '127.0.0.1',
          '-p',
          String(ports.client),
          '-js',
          '-sd',
          storeDir,
          '--server_name',
          name,
          '--cluster_name',
          options.clusterName ?? 'lgsp-local',
          '--cluster',
          `nats://127.0.0.1:${ports.route}`,
          '--routes',
          routes.filter((_, j) => j !== i).join(','),
        ],
        env: { PATH: process.env['PATH'] ?? '' },
        cwd: options.cwd,
        logFile: join(options.runDir, 'logs', `${name}.log`),
      });
    });
  }

  /** Every node's client URL, comma-separated, as `NATS_URL` takes it. */
  get url(): string {
    return this.options.ports.map((p) => `nats://127.0.0.1:${p.client}`).join(',');
  }

  nodeUrl(index: number): string {
    return `nats://127.0.0.1:${this.options.ports[index]!.client}`;
  }

  /** Starts every node and waits until JetStream answers on each (a meta leader is elected). */
  async start(timeoutMs = 30_000): Promise<void> {
    for (const node of this.nodes) node.start();
    await Promise.all(this.nodes.map((_, i) => this.waitForNode(i, timeoutMs)));
  }

  /**
   * Stops one node (SIGTERM: a clean shutdown, as a rolling restart does; SIGKILL: a crash), starts
   * it again on its store, and waits until it serves JetStream.
   */
  async restartNode(
    index: number,
    signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
    timeoutMs = 30_000,
  ): Promise<void> {
    const node = this.nodes[index]!;
    if (signal === 'SIGTERM') await node.stop(15_000);
    else await node.kill('SIGKILL');
    node.start();
    await this.waitForNode(index, timeoutMs);
  }

  async waitForNode(index: number, timeoutMs: number): Promise<void> {
    const node = this.nodes[index]!;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!node.running) throw new Error(`${node.name} exited at start:\n${node.logTail()}`);
      if (await jetStreamAnswers(this.nodeUrl(index))) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${node.name} did not serve JetStream within ${timeoutMs} ms:\n${node.logTail()}`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop(10_000)));
  }
}

async function jetStreamAnswers(url: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, reconnect: false, timeout: 1_000 });
    try {
      await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}
