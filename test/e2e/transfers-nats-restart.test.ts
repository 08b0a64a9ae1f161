/**
 * A committed transfer survives a restart of the NATS server and of a single
 * service process, each in the middle of a run.
 *
 * The shared NATS of the test run is never touched: the suite starts a
 * nats-server of its own, with JetStream and a store directory as
 * lib/embedded/nats-server.ts starts one, but on a port that stays the same
 * across restarts, and points the mesh at it. The server is killed (SIGKILL,
 * as a crash) while deliveries are pending; during the outage the services,
 * called the way the gateway calls them, still answer from Postgres and take
 * commits, whose events wait in their outboxes. Once the server is back on
 * the same port and store, every transfer is offered and received. Then the
 * transfer service alone is stopped and started again on its port, with the
 * mesh's database and bus, while a backlog is being sent.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary } from '@bufbuild/protobuf';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { DeliveryOfferedSchema } from '#gen/lgsp/transfer/v1/events_pb.js';
import { DeliveryState } from '#gen/lgsp/transfer/v1/resources_pb.js';
import { signRequest } from '#lib/auth/signing.js';
import { findNatsServer, freePort } from '#lib/embedded/nats-server.js';
import { CALLER_HEADER, encodeCaller, REQUEST_ID_HEADER } from '#lib/rpc/caller.js';
import { type RunningService, startService } from '#lib/service.js';
import type { TransferConfig } from '../../services/transfer/src/config.js';
import { transferModule } from '../../services/transfer/src/main.js';
import { TEST_DATABASE_URL } from '../support/env.js';
import { type JsonAnswer, postJson } from './support.js';
import {
  type App,
  call,
  createBody,
  followOffers,
  getTransfer,
  grantSend,
  type Json,
  newApp,
  newUnit,
  ok,
  Platform,
  pendingOf,
  pseudoRandom,
  purged,
  receiveJson,
  refusalOf,
  STORAGE,
  sendJson,
  TRANSFER,
  transferReaches,
  until,
  uploadJson,
} from './transfers.support.js';

// ---------------------------------------------------------------------------
// A nats-server of this suite alone

/**
 * nats-server from PATH with the arguments lib/embedded/nats-server.ts uses,
 * on a fixed port, so that clients find it again after a restart. There is
 * no skipping: without nats-server the suite fails.
 */
class PrivateNats {
  readonly storeDir = mkdtempSync(join(tmpdir(), 'lgsp-e2e-nats-'));
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  readonly #killOnExit = () => this.#child?.kill('SIGKILL');

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateNats> {
    if (findNatsServer() === undefined) {
      throw new Error(
        'nats-server is not on PATH: this suite restarts a NATS server of its own and cannot run without one',
      );
    }
    const nats = new PrivateNats(await freePort());
    process.once('exit', nats.#killOnExit);
    try {
      await nats.run();
    } catch (error) {
      await nats.close();
      throw error;
    }
    return nats;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts the server on the port and store directory of the first start; resolves once JetStream answers. */
  async run(): Promise<void> {
    if (this.running) throw new Error('the private nats-server runs already');
    const child = spawn(
      'nats-server',
      ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir, '--server_name', 'lgsp-e2e'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await until(
      async () => {
        if (!this.running) throw new Error(`nats-server exited at start: ${stderr.trim()}`);
        return jetStreamAnswers(this.url);
      },
      10_000,
      `nats-server with JetStream on port ${this.port}`,
    );
  }

  /** Kills the server as a crash would (SIGKILL) and waits until it is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  /** Stops the server and removes its store. */
  async close(): Promise<void> {
    await this.kill();
    process.off('exit', this.#killOnExit);
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

async function jetStreamAnswers(url: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, reconnect: false, timeout: 1_000 });
    try {
      await (await jetstreamManager(nc, { timeout: 1_000 })).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// The suite's platform

let nats: PrivateNats;
let platform: Platform;
let postgres: pg.Client;
/** The transfer service started in place of the mesh's own (the second scenario). */
let replacement: RunningService<unknown> | undefined;

beforeAll(async () => {
  nats = await PrivateNats.start();
  platform = await Platform.start({ natsUrl: nats.url });
  postgres = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await postgres.connect();
});

afterAll(async () => {
  await postgres?.end().catch(() => undefined);
  // The mesh and the stream cleanup need the bus: bring it back if a test left it down.
  if (nats !== undefined && !nats.running) await nats.run().catch(() => undefined);
  try {
    await replacement?.close();
    await platform?.close();
  } finally {
    await nats?.close();
  }
});

/** The configuration of the mesh's transfer service. */
function transferConfig(): TransferConfig {
  const transfer = platform.mesh.services.find((s) => s.name === 'transfer');
  if (transfer === undefined) throw new Error('the mesh runs no transfer service');
  return (transfer.context as { config: TransferConfig }).config;
}

/** The running transfer service: the mesh's own, or the one started in its place. */
function serviceUrl(name: string): string {
  if (name === 'transfer' && replacement !== undefined) return replacement.url;
  const service = platform.mesh.services.find((s) => s.name === name);
  if (service === undefined) throw new Error(`the mesh runs no ${name} service`);
  return service.url;
}

/**
 * A Connect JSON call straight to a service of the mesh, as the gateway
 * forwards one it verified: the caller in `lgsp-caller-bin`. It needs no bus,
 * where the gateway needs one for its nonce store.
 */
function direct(name: string, service: string, method: string, body: unknown, app: App) {
  const requestId = randomUUID();
  const caller = create(CallerSchema, {
    kind: CallerKind.APP,
    appId: app.id,
    unitCode: app.unitCode,
    subject: app.signer.accessKeyId,
    requestId,
  });
  return postJson(serviceUrl(name), method, body, {
    service,
    headers: { [CALLER_HEADER]: encodeCaller(caller), [REQUEST_ID_HEADER]: requestId },
  });
}

/** The events of a service's outbox not published yet: subject and payload. */
async function unpublished(service: string): Promise<Array<{ subject: string; payload: Buffer }>> {
  const { rows } = await postgres.query<{ subject: string; payload: Buffer }>(
    `select subject, payload from "${platform.schemaPrefix}${service}".outbox where published_at is null order by seq`,
  );
  return rows;
}

/** The transfers whose offer to `app` waits in the transfer service's outbox. */
async function offersWaiting(app: App): Promise<string[]> {
  return (await unpublished('transfer'))
    .filter((row) => row.subject === `${platform.busPrefix}.transfer.offered.${app.id}`)
    .map((row) => fromBinary(DeliveryOfferedSchema, row.payload).delivery?.transferId ?? '');
}

/** Deliveries to `app` not offered yet (PENDING), plus offers to it waiting in the outbox. */
async function backlogOf(app: App): Promise<number> {
  const { rows } = await postgres.query<{ n: number }>(
    `select count(*)::int as n from "${platform.schemaPrefix}transfer".deliveries where destination_app_id = $1 and state = 'pending'`,
    [app.id],
  );
  return rows[0]!.n + (await offersWaiting(app)).length;
}

/** The transfer service's readiness, as `/readyz` reports it. */
async function readiness(): Promise<Json> {
  const res = await fetch(`${serviceUrl('transfer')}/readyz`, { signal: AbortSignal.timeout(5_000) });
  return { ...((await res.json()) as Json), httpStatus: res.status };
}

/** A signed call through the gateway that gives up after `timeoutMs`: undefined when it got no answer. */
async function gatewayWithin(timeoutMs: number, app: App, method: string, body: Json) {
  const path = `/${TRANSFER}/${method}`;
  const text = JSON.stringify(body);
  try {
    const res = await fetch(`${platform.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...signRequest({ method: 'POST', url: path, body: text, ...app.signer }),
      },
      body: text,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

/** Content that analyses as a PDF: its signature, then bytes that do not compress. */
function pdf(size: number, seed: number): Buffer {
  const head = Buffer.from('%PDF-1.7\n');
  return Buffer.concat([head, pseudoRandom(size - head.length, seed)]);
}

interface Sent {
  readonly id: string;
  readonly content: Buffer;
  readonly blobId: string;
}

/** Receives every transfer through the gateway (content checked by digest), then waits for DELIVERED and the purge. */
async function receiveAll(source: App, destination: App, sent: readonly Sent[]): Promise<void> {
  const pending = await pendingOf(platform, destination, { pageSize: 200 });
  expect(pending.map((d) => d.transferId).sort()).toEqual(sent.map((t) => t.id).sort());
  for (const t of sent) {
    const delivery = pending.find((d) => d.transferId === t.id);
    const received = await receiveJson(platform, destination, delivery.id);
    expect(received.content.equals(t.content), `the content of ${t.id}`).toBe(true);
    expect(received.delivery.state).toBe('DELIVERY_STATE_DELIVERED');
  }
  for (const t of sent) {
    await transferReaches(platform, source, t.id, 'TRANSFER_STATE_DELIVERED');
    await purged(platform, source, t.blobId);
  }
}

// ---------------------------------------------------------------------------

describe('a restart of the NATS server in the middle of a run', () => {
  it('loses no transfer committed before or during the outage, and offers and delivers each once it is back', async () => {
    const source = await newApp(platform, await newUnit(platform, 'Sở gửi'), 'QLVB gửi');
    const destination = await newApp(platform, await newUnit(platform, 'Sở nhận'), 'QLVB nhận');
    await grantSend(platform, source, destination.unitCode);
    const sent: Sent[] = [];
    const send = async (content: Buffer, inline: boolean, contentType = 'text/plain') => {
      const t = await sendJson(platform, source, {
        recipients: [destination.unitCode],
        content,
        contentType,
        inline,
      });
      expect(t.state).toBe('TRANSFER_STATE_DELIVERING');
      sent.push({ id: t.id, content, blobId: t.blobId });
    };

    // Committed before the crash: uploaded (over the inline limit, and under it) and inline.
    await send(pdf(300_000, 7), false, 'application/pdf');
    await send(Buffer.from('Báo cáo tình hình kinh tế - xã hội tháng. '.repeat(1_500)), false);
    await send(
      Buffer.from(JSON.stringify({ giayMoi: 'Họp giao ban tuần', phong: 'P.201' })),
      true,
      'application/json',
    );
    // Requested before the crash; its first bytes arrive during the outage.
    const late = Buffer.from('Tờ trình tải lên trong lúc mất kết nối bus. '.repeat(2_000));
    const requested = ok(
      await call(
        platform,
        TRANSFER,
        'CreateTransfer',
        createBody({ recipients: [destination.unitCode], content: late, contentType: 'text/plain' }),
        source.signer,
      ),
      'CreateTransfer',
    );

    await nats.kill();

    // The services see the outage: the bus check fails, Postgres still answers.
    const down = await until(
      async () => {
        const r = await readiness();
        return r.checks?.bus?.ok === false ? r : undefined;
      },
      10_000,
      'the transfer service to report the bus down',
    );
    expect(down.checks.postgres.ok).toBe(true);

    // The gateway serves no signed request without its nonce store (docs/auth.md, step 7).
    const refused = await gatewayWithin(3_000, destination, 'ListPendingDeliveries', {});
    expect(refused?.status, refused?.body).not.toBe(200);

    // What Postgres holds is still read, the way the gateway forwards a verified call.
    const read = ok(
      await direct('transfer', TRANSFER, 'GetTransfer', { transferId: sent[0]!.id }, source),
      'GetTransfer during the outage',
    );
    expect(read.transfer.state).toBe('TRANSFER_STATE_DELIVERING');
    const listed = ok(
      await direct('transfer', TRANSFER, 'ListPendingDeliveries', { pageSize: 200 }, destination),
      'ListPendingDeliveries during the outage',
    ).deliveries;
    expect(listed.map((d: Json) => d.transferId).sort()).toEqual(sent.map((t) => t.id).sort());

    // Commits during the outage: one inline, one uploaded straight to the storage service.
    const inline = Buffer.from(JSON.stringify({ thongBao: 'Gửi trong lúc NATS ngừng', so: 17 }));
    const created = ok(
      await direct(
        'transfer',
        TRANSFER,
        'CreateTransfer',
        createBody({ recipients: [destination.unitCode], content: inline, inline: true }),
        source,
      ),
      'CreateTransfer inline during the outage',
    ).transfer;
    expect(created.state).toBe('TRANSFER_STATE_DELIVERING');
    sent.push({ id: created.id, content: inline, blobId: created.blobId });

    const uploaded = pdf(120_000, 11);
    const space = ok(
      await direct(
        'transfer',
        TRANSFER,
        'CreateTransfer',
        createBody({ recipients: [destination.unitCode], content: uploaded, contentType: 'application/pdf' }),
        source,
      ),
      'CreateTransfer during the outage',
    );
    await uploadDirect(source, space.uploadSpace, uploaded);
    const committed = ok(
      await direct('transfer', TRANSFER, 'CommitTransfer', { transferId: space.transfer.id }, source),
      'CommitTransfer during the outage',
    ).transfer;
    expect(committed.state).toBe('TRANSFER_STATE_DELIVERING');
    sent.push({ id: committed.id, content: uploaded, blobId: committed.blobId });

    // The first bytes of the transfer requested before the crash.
    await uploadDirect(source, requested.uploadSpace, late.subarray(0, 40_000));

    // Their offers are made (NOTIFIED) and wait in the outbox; storage's announcement waits in its own.
    await until(
      async () => {
        const waiting = await offersWaiting(destination);
        return waiting.includes(created.id) && waiting.includes(committed.id);
      },
      10_000,
      'the offers made during the outage to wait in the outbox',
    );
    expect(
      (await unpublished('storage')).some(
        (r) => r.subject === `${platform.busPrefix}.storage.blob.receiving`,
      ),
    ).toBe(true);
    const stillRequested = ok(
      await direct('transfer', TRANSFER, 'GetTransfer', { transferId: requested.transfer.id }, source),
    );
    expect(stillRequested.transfer.state).toBe('TRANSFER_STATE_REQUESTED');

    // The server comes back on the same port and store directory.
    await nats.run();

    // The outboxes empty, the readiness turns, the gateway answers again.
    await until(
      async () => (await unpublished('transfer')).length + (await unpublished('storage')).length === 0,
      30_000,
      'the outboxes to be published after the restart',
    );
    await until(
      async () => (await readiness()).httpStatus === 200,
      15_000,
      'the transfer service to be ready',
    );
    await until(
      async () => (await gatewayWithin(5_000, destination, 'ListPendingDeliveries', {}))?.status === 200,
      20_000,
      'the gateway to serve signed requests again',
    );

    // Every transfer is offered on the bus: the offers made before the crash are still in the
    // stream, those made during the outage follow. Small content travels in the offer.
    const follower = await followOffers(platform.busPrefix, destination.id, nats.url);
    try {
      await until(
        () => sent.every((t) => follower.offers.some((o) => o.delivery?.transferId === t.id)),
        15_000,
        `an offer for each of the ${sent.length} transfers`,
      );
      for (const offer of follower.offers) expect(offer.delivery?.state).toBe(DeliveryState.NOTIFIED);
      for (const t of sent.filter((t) => t.content.length <= transferConfig().inlineMaxBytes)) {
        const offer = follower.offers.find((o) => o.delivery?.transferId === t.id)!;
        expect(Buffer.from(offer.inlineContent).equals(t.content), `the content offered with ${t.id}`).toBe(
          true,
        );
      }
    } finally {
      await follower.stop();
    }

    // The storage's announcement reached the transfer service's consumer: the upload shows.
    await until(
      async () =>
        (await getTransfer(platform, source, requested.transfer.id)).transfer.state ===
        'TRANSFER_STATE_UPLOADING',
      30_000,
      'the transfer uploaded during the outage to show UPLOADING',
    );
    await uploadJson(platform, source, requested.uploadSpace, late, 40_000);
    const third = ok(
      await call(platform, TRANSFER, 'CommitTransfer', { transferId: requested.transfer.id }, source.signer),
    ).transfer;
    sent.push({ id: third.id, content: late, blobId: third.blobId });

    await receiveAll(source, destination, sent);
  }, 120_000);
});

/** UploadChunk straight to the storage service, piece by piece. */
async function uploadDirect(app: App, space: Json, content: Buffer, pieceBytes = 40_000): Promise<void> {
  for (let offset = 0; offset < content.length; offset += pieceBytes) {
    ok(
      await direct(
        'storage',
        STORAGE,
        'UploadChunk',
        {
          blobId: space.blobId,
          uploadToken: space.uploadToken,
          offset: String(offset),
          chunk: content.subarray(offset, offset + pieceBytes).toString('base64'),
        },
        app,
      ),
      `UploadChunk at ${offset}`,
    );
  }
}

// ---------------------------------------------------------------------------

describe('a restart of the transfer service alone while a backlog is sent', () => {
  it('keeps every transfer committed before, during and after the stop, and delivers each exactly once', async () => {
    // Independent of the scenario before: the bus runs.
    if (!nats.running) await nats.run();
    const source = await newApp(platform, await newUnit(platform, 'Văn phòng'), 'QLVB Văn phòng');
    const destination = await newApp(platform, await newUnit(platform, 'Sở đích'), 'QLVB đích');
    await grantSend(platform, source, destination.id);
    const follower = await followOffers(platform.busPrefix, destination.id, nats.url);
    try {
      // Requested before the stop, uploaded while the transfer service is down.
      const late = pdf(90_000, 23);
      const requested = ok(
        await call(
          platform,
          TRANSFER,
          'CreateTransfer',
          createBody({ recipients: [destination.id], content: late, contentType: 'application/pdf' }),
          source.signer,
        ),
      );

      // A backlog sent four at a time; the service stops once a few are answered.
      const total = 24;
      const contents = Array.from({ length: total }, (_, i) =>
        Buffer.from(JSON.stringify({ congVan: i, noiDung: `Văn bản số ${i} gửi liên tục` })),
      );
      const bodies = contents.map((content, i) =>
        createBody({
          recipients: [destination.id],
          content,
          inline: true,
          idempotencyKey: `backlog-${i}`,
          subject: `Văn bản ${i}`,
        }),
      );
      const answers: Array<JsonAnswer | undefined> = Array(total).fill(undefined);
      let next = 0;
      const sender = async () => {
        for (let i = next++; i < total; i = next++) {
          answers[i] = await call(platform, TRANSFER, 'CreateTransfer', bodies[i], source.signer).catch(
            () => undefined,
          );
        }
      };
      const sending = Promise.all(Array.from({ length: 4 }, sender));
      await until(() => answers.filter((a) => a !== undefined).length >= 6, 20_000, 'six answers');

      const original = platform.mesh.services.find((s) => s.name === 'transfer')!;
      const config = transferConfig();
      await original.close();
      // The stop left work for the next process: deliveries not offered yet, or offers not published.
      expect(await backlogOf(destination)).toBeGreaterThan(0);
      await sending;

      // Down: the gateway says so, the storage still takes uploads and announces them.
      const unavailable = await call(
        platform,
        TRANSFER,
        'GetTransfer',
        { transferId: requested.transfer.id },
        source.signer,
      );
      expect(refusalOf(unavailable).code).toBe('unavailable');
      await uploadJson(platform, source, requested.uploadSpace, late);

      // The transfer service started again, as its restarted process would: same port and
      // configuration (schema, durable consumers), with the mesh's database and bus.
      replacement = (await startService(
        transferModule,
        { ...config, port: original.port },
        { database: platform.mesh.database, bus: platform.mesh.bus },
      )) as RunningService<unknown>;
      expect(replacement.port).toBe(original.port);

      // The gateway reaches it again once its connection is back (UNAVAILABLE until then, which
      // clients retry). The announcement waited in the durable consumer: the upload shows.
      await until(
        async () => {
          const answer = await call(
            platform,
            TRANSFER,
            'GetTransfer',
            { transferId: requested.transfer.id },
            source.signer,
          );
          if (answer.status !== 200) {
            expect(refusalOf(answer).code).toBe('unavailable');
            return undefined;
          }
          return answer.body.transfer.state === 'TRANSFER_STATE_UPLOADING';
        },
        30_000,
        'the upload made while the service was down to show UPLOADING',
      );
      const committed = ok(
        await call(
          platform,
          TRANSFER,
          'CommitTransfer',
          { transferId: requested.transfer.id },
          source.signer,
        ),
      ).transfer;

      // What failed is sent again with its idempotency key: whatever had been committed is
      // answered as it is, the rest is created now.
      const failed = answers.flatMap((a, i) => (a?.status === 200 ? [] : [i]));
      expect(answers.length - failed.length, 'answered before the stop').toBeGreaterThanOrEqual(6);
      for (const i of failed)
        answers[i] = await call(platform, TRANSFER, 'CreateTransfer', bodies[i], source.signer);
      const backlog = answers.map((a, i) => ok(a!, `CreateTransfer ${i}`).transfer);
      expect(new Set(backlog.map((t: Json) => t.id)).size).toBe(total);

      const sent: Sent[] = [
        ...backlog.map((t: Json, i) => ({ id: t.id, content: contents[i]!, blobId: t.blobId })),
        { id: committed.id, content: late, blobId: committed.blobId },
      ];
      await until(
        () => sent.every((t) => follower.offers.some((o) => o.delivery?.transferId === t.id)),
        20_000,
        `an offer for each of the ${sent.length} transfers`,
      );
      await receiveAll(source, destination, sent);
      // One offer each: none was made twice across the restart.
      const offered = follower.offers.map((o) => o.delivery?.transferId);
      expect(offered.length, `offers: ${offered.join(' ')}`).toBe(new Set(offered).size);
    } finally {
      await follower.stop();
    }
  }, 120_000);
});
