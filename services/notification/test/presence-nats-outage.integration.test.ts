/**
 * Presence across a NATS outage: the server is killed (SIGKILL) for longer
 * than the presence timeout, then started again on its port and store. The
 * replicas reconnect, their mirrors follow the bucket again, and presence
 * is right once more: a subscribed app is online, a polling app online again
 * after its next heartbeat, and offline at once (stream end) or after the
 * timeout (heartbeats stop). Whatever the outage made the replicas record
 * (a timeout nobody could disprove), the history stays well formed:
 * alternating states, numbered without gaps.
 *
 * The shared NATS of the test run is never touched: this suite runs a
 * nats-server of its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findNatsServer, freePort } from '#lib/embedded/nats-server.js';
import { historyOf, waitFor } from './presence.support.js';
import { NotificationCluster, newApp, type Replica, sleep, subscribe } from './support.js';

const INTERVAL_MS = 500;
const TIMEOUT_MS = 3 * INTERVAL_MS;

/** nats-server from PATH with JetStream, on a port and store that stay the same across restarts. */
class PrivateNats {
  readonly storeDir = mkdtempSync(join(tmpdir(), 'lgsp-presence-nats-'));
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(readonly port: number) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async run(): Promise<void> {
    const child = spawn(
      'nats-server',
      [
        '-a',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-js',
        '-sd',
        this.storeDir,
        '--server_name',
        'lgsp-presence',
      ],
      { stdio: 'ignore' },
    );
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor(
      async () => {
        try {
          const nc = await connect({ servers: this.url, reconnect: false, timeout: 500 });
          await nc.close();
          return true;
        } catch {
          return false;
        }
      },
      10_000,
      'the private nats-server',
    );
  }

  async kill(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  async close(): Promise<void> {
    await this.kill();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

let nats: PrivateNats;
let cluster: NotificationCluster;
let one: Replica;
let two: Replica;

beforeAll(async () => {
  if (findNatsServer() === undefined)
    throw new Error('nats-server is not on PATH: this suite needs one of its own');
  nats = new PrivateNats(await freePort());
  await nats.run();
  cluster = new NotificationCluster({ presenceIntervalMs: INTERVAL_MS, natsUrl: nats.url });
  one = await cluster.start();
  two = await cluster.start();
  // A private nats-server and two replicas: slow to start when the suite shares a busy machine.
}, 180_000);

afterAll(async () => {
  await cluster?.close().catch(() => undefined);
  await nats?.close();
});

/** The app's state in the bucket; undefined while NATS does not answer. */
async function stateIn(replica: Replica, appId: string): Promise<string | undefined> {
  try {
    return (await replica.ctx.presence.get(appId))?.state;
  } catch {
    return undefined;
  }
}

/** States alternate and transitions are numbered 1, 2, 3... */
async function wellFormed(replica: Replica, appId: string): Promise<string[]> {
  const rows = await historyOf(replica, appId);
  rows.forEach((row, i) => {
    expect(row.transition).toBe(i + 1);
    expect(row.state).toBe(i % 2 === 0 ? 'online' : 'offline');
  });
  return rows.map((r) => `${r.state}/${r.reason}`);
}

it('is right again after NATS comes back from an outage longer than the timeout', async () => {
  const subscribed = newApp();
  const polling = newApp();
  const stream = subscribe(one, subscribed);
  await stream.ready();
  await two.client.heartbeat({}, polling.as);
  await waitFor(async () => (await historyOf(one, polling.appId)).length === 1, 3_000, 'polling online');

  // The outage: heartbeats keep coming; what cannot be written is refused or kept back.
  let beating = true;
  const beats = (async () => {
    while (beating) {
      await two.client.heartbeat({}, polling.as).catch(() => undefined);
      await sleep(INTERVAL_MS);
    }
  })();
  await nats.kill();
  await sleep(TIMEOUT_MS + 2 * INTERVAL_MS);
  await nats.run();

  // Back: both apps online, and each replica's mirror follows the bucket again.
  await waitFor(
    async () =>
      (await stateIn(one, subscribed.appId)) === 'online' && (await stateIn(one, polling.appId)) === 'online',
    15_000,
    'both apps online again',
  );
  await waitFor(
    () =>
      one.ctx.presence.mirrored(polling.appId)?.state === 'online' &&
      two.ctx.presence.mirrored(subscribed.appId)?.state === 'online',
    10_000,
    'the mirrors to follow the bucket again',
  );
  expect((await one.ctx.presence.get(subscribed.appId))?.streams).not.toEqual({});

  // The stream ends: offline at once. The heartbeats stop: offline after the timeout.
  await stream.close();
  await waitFor(
    async () => (await one.ctx.presence.get(subscribed.appId))?.state === 'offline',
    3_000,
    'offline',
  );
  beating = false;
  await beats;
  await waitFor(
    async () => (await stateIn(two, polling.appId)) === 'offline',
    TIMEOUT_MS + 5_000,
    'polling offline',
  );
  await waitFor(
    async () => (await historyOf(one, subscribed.appId)).at(-1)?.reason === 'stream_closed',
    5_000,
    'the last row of the stream',
  );
  const streamHistory = await wellFormed(one, subscribed.appId);
  expect(streamHistory[0]).toBe('online/stream_opened');
  expect(streamHistory.at(-1)).toBe('offline/stream_closed');
  await waitFor(
    async () => (await historyOf(one, polling.appId)).at(-1)?.reason === 'timeout',
    5_000,
    'the last row of the polling app',
  );
  const pollingHistory = await wellFormed(one, polling.appId);
  console.info(`presence across a NATS outage: ${streamHistory.join(', ')} | ${pollingHistory.join(', ')}`);
  expect(pollingHistory[0]).toBe('online/heartbeat');
}, 180_000);
