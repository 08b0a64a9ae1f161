/**
 * Starts a private `nats-server` with JetStream for the embedded mode, when
 * one is on PATH: JetStream state lives under the data directory, so pending
 * events survive a restart just like the database does.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from '../logger.js';

export interface LocalNatsServer {
  readonly url: string;
  stop(): Promise<void>;
}

export function findNatsServer(): string | undefined {
  const result = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? 'nats-server' : undefined;
}

export async function startLocalNatsServer(storeDir: string, logger: Logger): Promise<LocalNatsServer> {
  mkdirSync(storeDir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn(
    'nats-server',
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, '--server_name', 'lgsp-embedded'],
    // Its own process group: a Ctrl-C must not stop the bus before the services have drained.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitForPort(port, exited, () => stderr);
  logger.info({ port, storeDir }, 'started nats-server with JetStream');
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitForPort(
  port: number,
  exited: Promise<number | null>,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (Date.now() < deadline) {
    if (gone) throw new Error(`nats-server exited at start: ${stderr().trim()}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nats-server did not listen on port ${port} within 10 s`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
