/**
 * A notification replica killed (SIGKILL: no cleanup at all) while an app
 * holds a Subscribe stream through it: another replica sees the app offline
 * within three heartbeat intervals (TIMEOUT), and once the app subscribes to
 * that replica it is online again; the history tells the whole story.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createClient } from '@connectrpc/connect';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NotificationService } from '#gen/lgsp/notification/v1/notification_service_pb.js';
import { PresenceState } from '#gen/lgsp/notification/v1/resources_pb.js';
import { createGrpcTransport, type GrpcTransport } from '#lib/rpc/grpc-transport.js';
import { TEST_DATABASE_URL, TEST_NATS_URL } from '../../../test/support/env.js';
import { historyOf, waitFor } from './presence.support.js';
import { NotificationCluster, newApp, type Replica, Subscriber, subscribe } from './support.js';

/** The child reads whole seconds; both replicas use the same interval. */
const INTERVAL_MS = 1_000;
const TIMEOUT_MS = 3 * INTERVAL_MS;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let cluster: NotificationCluster;
let survivor: Replica;
let child: ChildProcess | undefined;
let transport: GrpcTransport | undefined;

beforeAll(async () => {
  cluster = new NotificationCluster({ presenceIntervalMs: INTERVAL_MS });
  survivor = await cluster.start();
});

afterAll(async () => {
  child?.kill('SIGKILL');
  transport?.close();
  await cluster?.close();
});

/** Starts a replica in a process of its own on the cluster's schema and bus prefix; resolves with its URL. */
async function startChildReplica(): Promise<{ process: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: '0',
      LOG_LEVEL: 'info',
      DATABASE_URL: TEST_DATABASE_URL,
      NATS_URL: TEST_NATS_URL,
      DB_SCHEMA: cluster.schema,
      LGSP_BUS_PREFIX: cluster.busPrefix,
      LGSP_PRESENCE_INTERVAL_SECONDS: String(INTERVAL_MS / 1000),
      LGSP_REPLICA_NAME: 'doomed',
      REGISTRY_ADDR: '127.0.0.1:9',
      LGSP_MASTER_KEY: randomBytes(32).toString('base64'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    // A fresh process compiles the service first: slow on a busy machine.
    const timer = setTimeout(
      () => reject(new Error('the child replica did not start within 150 s')),
      150_000,
    );
    proc.once('exit', (code) => reject(new Error(`the child replica exited (${code})`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(line);
      if (match !== null && line.includes('listening')) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  return { process: proc, url };
}

it('an app subscribed through a killed replica goes offline within three intervals, and online again on another', async () => {
  const started = await startChildReplica();
  child = started.process;
  transport = createGrpcTransport({ address: new URL(started.url).host });
  const doomed = createClient(NotificationService, transport);
  const app = newApp();

  const stream = new Subscriber(doomed, app.as);
  await stream.ready();
  await waitFor(
    async () => (await survivor.ctx.presence.get(app.appId))?.state === 'online',
    5_000,
    'online',
  );
  const { presence } = await survivor.client.getPresence({ appId: app.appId }, app.as);
  expect(presence).toMatchObject({ state: PresenceState.ONLINE, openStreams: 1 });
  expect(presence!.replica).toMatch(/^doomed-[0-9a-f]{6}$/);
  const doomedReplica = presence!.replica;

  // Outlives a timeout while the replica lives.
  await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS + INTERVAL_MS));
  expect((await survivor.ctx.presence.get(app.appId))?.state).toBe('online');

  const killedAt = Date.now();
  child.kill('SIGKILL');
  await waitFor(
    async () => (await survivor.ctx.presence.get(app.appId))?.state === 'offline',
    TIMEOUT_MS + 3_000,
    'the survivor to see the app offline',
  );
  const offline = (await survivor.ctx.presence.get(app.appId))!;
  const detectedAfter = offline.since - killedAt;
  // The killed replica renewed its proof of life at most an interval before it died.
  expect(detectedAfter).toBeGreaterThanOrEqual(TIMEOUT_MS - INTERVAL_MS - 100);
  // A timeout and a sweep, and what a busy machine adds to timers.
  expect(detectedAfter).toBeLessThanOrEqual(TIMEOUT_MS + survivor.ctx.presence.sweepMs + 500);
  expect(offline.replica).toBe(survivor.ctx.config.replicaId);
  expect(offline.streams).toEqual({});

  // The client notices its stream broke and subscribes again, to the survivor.
  await stream.waitForEnd(30_000).catch(() => undefined);
  const again = subscribe(survivor, app);
  await again.ready();
  await waitFor(async () => (await historyOf(survivor, app.appId)).length === 3, 5_000, 'three rows');
  const rows = await historyOf(survivor, app.appId);
  expect(rows.map((r) => [r.state, r.reason, r.replica])).toEqual([
    ['online', 'stream_opened', doomedReplica],
    ['offline', 'timeout', survivor.ctx.config.replicaId],
    ['online', 'stream_opened', survivor.ctx.config.replicaId],
  ]);
  expect(rows[1]!.channel).toBe('stream');
  await again.close();
  await waitFor(async () => (await historyOf(survivor, app.appId)).length === 4, 5_000, 'offline again');
  // The dead replica's proof of life is gone from the survivor's reckoning: no lease of it counts.
  expect((await survivor.ctx.presence.get(app.appId))?.state).toBe('offline');
  console.info(
    `presence: killed replica's app seen offline ${detectedAfter} ms after SIGKILL (timeout ${TIMEOUT_MS} ms)`,
  );
}, 240_000);
