/**
 * Webhooks against the real Postgres and NATS, with a receiving server in
 * the test: signed calls a receiver can check, retries with back-off, parking
 * with its reason, attempts visible, pause and re-enable, the address guard,
 * one call per notice across replicas, and every bad request refused.
 */
import { toJsonString } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListWebhooksResponseSchema } from '#gen/lgsp/notification/v1/notification_service_pb.js';
import {
  NoticeKind,
  ParkedReason,
  WebhookAttemptOutcome,
  WebhookState,
} from '#gen/lgsp/notification/v1/resources_pb.js';
import { asAdmin } from '../../../test/support/callers.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import { sweepWebhookRecords } from '../src/consumers/sweep.js';
import { createNotices, noticesCommitted } from '../src/domain/notices.js';
import { eventually, NotificationCluster, newApp, type Replica, subscribe, until } from './support.js';
import { verifySignature, WebhookReceiver } from './webhook-receiver.js';

const BASE_MS = 200;

let cluster: NotificationCluster;
let replica: Replica;
let receiver: WebhookReceiver;
let pathCounter = 0;

beforeAll(async () => {
  receiver = await WebhookReceiver.start();
  cluster = new NotificationCluster({
    webhookRetryBaseMs: BASE_MS,
    webhookMaxAttempts: 3,
    webhookTimeoutMs: 1_000,
  });
  replica = await cluster.start();
});

afterAll(async () => {
  await cluster?.close();
  await receiver?.close();
});

type App = ReturnType<typeof newApp>;

/** Registers a webhook of `app` at a fresh path the receiver trusts. */
async function register(app: App, kinds: NoticeKind[] = [], target: Replica = replica) {
  const path = `/hook-${++pathCounter}`;
  const res = await target.client.registerWebhook({ url: receiver.url(path), kinds }, app.as);
  receiver.trust(path, res.signingSecret);
  return { path, webhook: res.webhook!, secret: res.signingSecret };
}

async function notify(appId: string, topic: string, target: Replica = replica): Promise<string> {
  const [notice] = await target.ctx.db.transaction().execute((trx) =>
    createNotices(target.ctx, trx, [
      {
        appId,
        payload: {
          case: 'appMessage',
          value: {
            fromAppId: 'app_00000000000000aa',
            topic,
            contentType: 'text/plain',
            body: new Uint8Array(),
          },
        },
      },
    ]),
  );
  noticesCommitted(target.ctx);
  return notice!.id;
}

async function attemptsOf(app: App, webhookId: string, target: Replica = replica) {
  return (await target.client.listWebhookAttempts({ webhookId }, app.as)).attempts;
}

function waitForAttempts(app: App, webhookId: string, count: number, target: Replica = replica) {
  return eventually(
    () => attemptsOf(app, webhookId, target),
    (attempts) => attempts.length >= count,
    15_000,
    `${count} attempts of ${webhookId}`,
  );
}

describe('a webhook call', () => {
  it('is signed so the receiver can check it, carries the notice as JSON, and acknowledges it', async () => {
    const app = newApp();
    const { path, webhook, secret } = await register(app);
    expect(webhook.state).toBe(WebhookState.ACTIVE);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);

    const noticeId = await notify(app.appId, 'signed');
    await until(() => receiver.callsTo(path).length === 1, 10_000, 'the call');
    const [call] = receiver.callsTo(path);
    expect(call!.signatureValid).toBe(true);
    expect(call!.headers['lgsp-webhook-id']).toBe(noticeId);
    expect(call!.headers['content-type']).toBe('application/json');
    const body = JSON.parse(call!.body) as Record<string, unknown>;
    expect(body).toMatchObject({ id: noticeId, appId: app.appId, kind: 'NOTICE_KIND_APP_MESSAGE' });
    expect(body['appMessage']).toMatchObject({ topic: 'signed' });

    // A receiver refuses the same call altered or signed with another secret.
    expect(verifySignature(secret, call!.headers, `${call!.body} `)).toBe(false);
    expect(verifySignature(Buffer.alloc(32, 1).toString('base64url'), call!.headers, call!.body)).toBe(false);
    const forged = { ...call!.headers, 'lgsp-webhook-id': 'ntc_0000000000000000' };
    expect(verifySignature(secret, forged, call!.body)).toBe(false);

    const [attempt] = await waitForAttempts(app, webhook.id, 1);
    expect(attempt).toMatchObject({
      noticeId,
      attempt: 1,
      outcome: WebhookAttemptOutcome.SUCCEEDED,
      httpStatus: 204,
      noticeKind: NoticeKind.APP_MESSAGE,
    });
    await eventually(
      () => replica.client.listNotices({}, app.as),
      (left) => left.notices.length === 0,
      5_000,
      'the notice acknowledged',
    );
    const [after] = (await replica.client.listWebhooks({}, app.as)).webhooks;
    expect(after!.lastSuccessTime).toBeDefined();
    expect(after!.consecutiveFailures).toBe(0);
  });

  it('keeps its app online by webhook, and the history says so', async () => {
    const app = newApp();
    const { path } = await register(app);
    await notify(app.appId, 'presence');
    await until(() => receiver.callsTo(path).length === 1, 10_000, 'the call');
    await eventually(
      () => replica.ctx.presence.get(app.appId),
      (record) => record?.state === 'online' && record.channel === 'webhook',
      5_000,
      'presence by webhook',
    );
    // The transition's history row is written right after the presence record.
    const history = await eventually(
      () =>
        replica.ctx.db
          .selectFrom('connection_events')
          .select(['state', 'channel', 'reason'])
          .where('app_id', '=', app.appId)
          .execute(),
      (rows) => rows.length > 0,
      5_000,
      'the history row',
    );
    expect(history).toEqual([{ state: 'online', channel: 'webhook', reason: 'webhook_recovered' }]);
  });

  it('is retried with exponential back-off after 5xx, then succeeds', async () => {
    const app = newApp();
    const { path, webhook } = await register(app);
    receiver.script(path, { status: 503 }, { status: 500 });
    await notify(app.appId, 'retried');
    const attempts = await waitForAttempts(app, webhook.id, 3);
    // Newest first.
    expect(attempts.map((a) => a.outcome)).toEqual([
      WebhookAttemptOutcome.SUCCEEDED,
      WebhookAttemptOutcome.RETRYING,
      WebhookAttemptOutcome.RETRYING,
    ]);
    expect(attempts.map((a) => a.httpStatus)).toEqual([204, 500, 503]);
    expect(attempts[2]!.nextAttemptTime).toBeDefined();
    const times = receiver.callsTo(path).map((c) => c.at);
    // Back-off of base × 2^(n−1), ±20 %.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(BASE_MS * 0.8 - 20);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(2 * BASE_MS * 0.8 - 20);
    expect(receiver.callsTo(path).every((c) => c.signatureValid)).toBe(true);
    const [after] = (await replica.client.listWebhooks({}, app.as)).webhooks;
    expect(after!.consecutiveFailures).toBe(0);
  });

  it('waits as long as a 429 Retry-After asks', async () => {
    const app = newApp();
    const { path, webhook } = await register(app);
    receiver.script(path, { status: 429, retryAfter: '1' });
    await notify(app.appId, 'slow down');
    await waitForAttempts(app, webhook.id, 2);
    const [first, second] = receiver.callsTo(path);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
  });

  it('is parked at once on a permanent 4xx; the notice stays for streams and polls', async () => {
    const app = newApp();
    const { path, webhook } = await register(app);
    receiver.script(path, { status: 410 });
    const noticeId = await notify(app.appId, 'gone');
    const [attempt] = await waitForAttempts(app, webhook.id, 1);
    expect(attempt).toMatchObject({
      outcome: WebhookAttemptOutcome.PARKED,
      parkedReason: ParkedReason.PERMANENT_ERROR,
      httpStatus: 410,
      error: 'answered 410',
    });
    const left = await replica.client.listNotices({}, app.as);
    expect(left.notices.map((n) => n.id)).toEqual([noticeId]);
    const [after] = (await replica.client.listWebhooks({}, app.as)).webhooks;
    expect(after!.consecutiveFailures).toBe(1);
  });

  it('is parked after the attempts allowed, and RetryParkedNotices sends it again', async () => {
    const app = newApp();
    const { path, webhook } = await register(app);
    receiver.script(path, { status: 500 }, { status: 502 }, 'hang');
    const noticeId = await notify(app.appId, 'persistent failure');
    const attempts = await waitForAttempts(app, webhook.id, 3);
    expect(attempts[0]).toMatchObject({
      attempt: 3,
      outcome: WebhookAttemptOutcome.PARKED,
      parkedReason: ParkedReason.MAX_ATTEMPTS,
      httpStatus: 0,
      error: 'timeout after 1s',
    });
    const parked = await replica.client.listWebhookAttempts(
      { webhookId: webhook.id, outcome: WebhookAttemptOutcome.PARKED },
      app.as,
    );
    expect(parked.attempts.map((a) => a.noticeId)).toEqual([noticeId]);

    const retried = await replica.client.retryParkedNotices({ webhookId: webhook.id }, app.as);
    expect(retried.scheduledCount).toBe(1);
    const after = await waitForAttempts(app, webhook.id, 4);
    expect(after[0]).toMatchObject({ attempt: 1, outcome: WebhookAttemptOutcome.SUCCEEDED, noticeId });
    expect(receiver.callsTo(path)).toHaveLength(4);
    // Nothing is left parked to retry.
    expect((await replica.client.retryParkedNotices({ webhookId: webhook.id }, app.as)).scheduledCount).toBe(
      0,
    );
  });

  it('waits while the webhook is paused and goes out when it is active again', async () => {
    const app = newApp();
    const { path, webhook } = await register(app);
    await replica.client.updateWebhook(
      { id: webhook.id, state: WebhookState.PAUSED, updatePaths: ['state'] },
      app.as,
    );
    await notify(app.appId, 'while paused');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(receiver.callsTo(path)).toHaveLength(0);
    const resumed = await replica.client.updateWebhook(
      { id: webhook.id, state: WebhookState.ACTIVE, updatePaths: ['state'] },
      app.as,
    );
    expect(resumed.webhook!.state).toBe(WebhookState.ACTIVE);
    await until(() => receiver.callsTo(path).length === 1, 10_000, 'the call after resuming');
  });

  it('posts only the kinds asked for', async () => {
    const app = newApp();
    const { path, webhook } = await register(app, [NoticeKind.TRANSFER_STATUS]);
    expect(webhook.kinds).toEqual([NoticeKind.TRANSFER_STATUS]);
    await notify(app.appId, 'not for the webhook');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(receiver.callsTo(path)).toHaveLength(0);
  });

  it('is not made while the app holds a stream: the stream has the notice', async () => {
    const app = newApp();
    const { path } = await register(app);
    const stream = subscribe(replica, app);
    try {
      await stream.ready();
      await until(() => replica.ctx.presence.holdsStream(app.appId), 5_000, 'the stream in presence');
      await notify(app.appId, 'by stream');
      await stream.waitForNotices(1);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(receiver.callsTo(path)).toHaveLength(0);
      const delivery = await replica.ctx.db.selectFrom('webhook_deliveries').select('state').execute();
      expect(delivery.some((d) => d.state === 'skipped')).toBe(true);
    } finally {
      await stream.close();
    }
  });

  it('keeps the signing secret sealed at rest', async () => {
    const app = newApp();
    const { webhook, secret } = await register(app);
    const row = await replica.ctx.db
      .selectFrom('webhooks')
      .select('secret_sealed')
      .where('id', '=', webhook.id)
      .executeTakeFirstOrThrow();
    expect(Buffer.from(row.secret_sealed).includes(Buffer.from(secret))).toBe(false);
    const listed = await replica.client.listWebhooks({}, app.as);
    expect(toJsonString(ListWebhooksResponseSchema, listed)).not.toContain(secret);
  });
});

describe('across replicas', () => {
  it('calls each notice once although every replica dispatches', async () => {
    const second = await cluster.start();
    try {
      const app = newApp();
      const { path } = await register(app);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await notify(app.appId, `n${i}`, i % 2 === 0 ? replica : second));
      await until(() => receiver.callsTo(path).length >= 20, 15_000, '20 calls');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const received = receiver.callsTo(path).map((c) => c.headers['lgsp-webhook-id']);
      expect(received.sort()).toEqual([...ids].sort());
    } finally {
      await second.close();
    }
  });
});

describe('the address guard', () => {
  let strict: NotificationCluster;
  let strictReplica: Replica;

  beforeAll(async () => {
    strict = new NotificationCluster({ webhookAllowLoopback: false, webhookRetryBaseMs: BASE_MS });
    strictReplica = await strict.start();
  });
  afterAll(async () => {
    await strict?.close();
  });

  it.each(['127.0.0.1', 'localhost'])('parks a call to loopback (%s) without making it', async (host) => {
    const app = newApp();
    const path = `/forbidden-${++pathCounter}`;
    const res = await strictReplica.client.registerWebhook(
      { url: `http://${host}:${receiver.port}${path}` },
      app.as,
    );
    await notify(app.appId, 'to loopback', strictReplica);
    const [attempt] = await waitForAttempts(app, res.webhook!.id, 1, strictReplica);
    expect(attempt).toMatchObject({
      outcome: WebhookAttemptOutcome.PARKED,
      parkedReason: ParkedReason.ADDRESS_FORBIDDEN,
      httpStatus: 0,
    });
    expect(attempt!.error).toMatch(/loopback/);
    expect(receiver.callsTo(path)).toHaveLength(0);
  });
});

describe('a webhook that keeps failing', () => {
  let flaky: NotificationCluster;
  let flakyReplica: Replica;

  beforeAll(async () => {
    flaky = new NotificationCluster({
      webhookRetryBaseMs: 100,
      webhookMaxAttempts: 10,
      webhookDisableAfterMs: 300,
    });
    flakyReplica = await flaky.start();
  });
  afterAll(async () => {
    await flaky?.close();
  });

  it('is disabled, its notices parked, and re-enabling sends them', async () => {
    const app = newApp();
    const { path, webhook } = await register(app, [], flakyReplica);
    receiver.script(path, ...Array.from({ length: 6 }, () => ({ status: 500 })));
    const noticeId = await notify(app.appId, 'into the void', flakyReplica);
    await eventually(
      () => flakyReplica.client.listWebhooks({}, app.as),
      (res) => res.webhooks[0]?.state === WebhookState.DISABLED,
      15_000,
      'the webhook disabled',
    );
    const parked = await flakyReplica.client.listWebhookAttempts(
      { webhookId: webhook.id, outcome: WebhookAttemptOutcome.PARKED },
      app.as,
    );
    expect(parked.attempts[0]).toMatchObject({ noticeId, parkedReason: ParkedReason.WEBHOOK_UNAVAILABLE });
    await expectCode(
      flakyReplica.client.retryParkedNotices({ webhookId: webhook.id }, app.as),
      Code.FailedPrecondition,
    );

    receiver.reset(path);
    const before = receiver.callsTo(path).length;
    await flakyReplica.client.updateWebhook(
      { id: webhook.id, state: WebhookState.ACTIVE, updatePaths: ['state'] },
      app.as,
    );
    await until(() => receiver.callsTo(path).length > before, 10_000, 'the call after re-enabling');
    const succeeded = await waitForSuccess(flakyReplica, app, webhook.id);
    expect(succeeded.noticeId).toBe(noticeId);
  });
});

describe('access', () => {
  it("hides another app's webhook and refuses to manage it", async () => {
    const owner = newApp();
    const other = newApp();
    const { webhook } = await register(owner);
    // One call at a time: a refused call not awaited yet would count as an unhandled rejection.
    for (const call of [
      () => replica.client.listWebhookAttempts({ webhookId: webhook.id }, other.as),
      () =>
        replica.client.updateWebhook(
          { id: webhook.id, url: receiver.url('/x'), updatePaths: ['url'] },
          other.as,
        ),
      () => replica.client.retryParkedNotices({ webhookId: webhook.id }, other.as),
    ]) {
      const err = await expectCode(call(), Code.NotFound);
      expect(reasonOf(err)).toBe('WEBHOOK_NOT_FOUND');
    }
    // Idempotent delete: the same answer, and the webhook is still there.
    await replica.client.deleteWebhook({ id: webhook.id }, other.as);
    expect((await replica.client.listWebhooks({}, owner.as)).webhooks).toHaveLength(1);
    const denied = await expectCode(
      replica.client.registerWebhook({ url: receiver.url('/y'), appId: owner.appId }, other.as),
      Code.PermissionDenied,
    );
    expect(reasonOf(denied)).toBe('ADMIN_REQUIRED');
    await expectCode(replica.client.listWebhooks({ appId: owner.appId }, other.as), Code.PermissionDenied);

    // An administrator sees and manages any app's.
    const listed = await replica.client.listWebhooks({ appId: owner.appId }, asAdmin());
    expect(listed.webhooks.map((w) => w.id)).toEqual([webhook.id]);
    await replica.client.deleteWebhook({ id: webhook.id }, owner.as);
    await replica.client.deleteWebhook({ id: webhook.id }, owner.as);
    expect((await replica.client.listWebhooks({}, owner.as)).webhooks).toHaveLength(0);
  });

  it('needs an app, signing as itself, for its own webhooks', async () => {
    const err = await expectCode(
      replica.client.registerWebhook({ url: receiver.url('/z') }, asAdmin()),
      Code.PermissionDenied,
    );
    expect(reasonOf(err)).toBe('APP_REQUIRED');
  });
});

describe('bad requests', () => {
  it.each([
    ['plain http off loopback', 'http://example.org/hook'],
    ['credentials in the URL', 'https://user:pw@example.org/hook'],
    ['another scheme', 'ftp://example.org/hook'],
    ['not a URL', 'not a url'],
    ['no URL', ''],
    ['a URL over 2048 characters', `https://example.org/${'a'.repeat(2048)}`],
    ['a fragment', 'https://example.org/hook#frag'],
    ['a host posing as loopback', 'http://127.example.org/hook'],
  ])('refuses %s', async (_what, url) => {
    const err = await expectCode(replica.client.registerWebhook({ url }, newApp().as), Code.InvalidArgument);
    expect(violatedFields(err)).toEqual(['url']);
  });

  it('refuses unknown kinds, malformed ids and out-of-range pages, naming each field', async () => {
    const app = newApp();
    const err = await expectCode(
      replica.client.registerWebhook(
        { url: receiver.url('/k'), kinds: [99 as NoticeKind], appId: 'nope' },
        app.as,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(err).sort()).toEqual(['app_id', 'kinds[0]']);
    const { webhook } = await register(app);
    const update = await expectCode(
      replica.client.updateWebhook(
        { id: webhook.id, state: WebhookState.DISABLED, updatePaths: ['state', 'color'] },
        app.as,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(update).sort()).toEqual(['state', 'update_paths[1]']);
    await expectCode(
      replica.client.updateWebhook({ id: webhook.id, updatePaths: [] }, app.as),
      Code.InvalidArgument,
    );
    const list = await expectCode(
      replica.client.listWebhookAttempts(
        { webhookId: 'whk_x', pageSize: 500, noticeId: 'x', pageToken: '!' },
        app.as,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(list).sort()).toEqual(['notice_id', 'page_size', 'page_token', 'webhook_id']);
    const retry = await expectCode(
      replica.client.retryParkedNotices({ webhookId: webhook.id, noticeIds: ['ntc_bad'] }, app.as),
      Code.InvalidArgument,
    );
    expect(violatedFields(retry)).toEqual(['notice_ids[0]']);
    await expectCode(replica.client.deleteWebhook({ id: 'whk_1' }, app.as), Code.InvalidArgument);
  });

  it('refuses a second webhook for the same URL, and more than ten', async () => {
    const app = newApp();
    const first = await register(app);
    const dup = await expectCode(
      replica.client.registerWebhook({ url: receiver.url(first.path) }, app.as),
      Code.AlreadyExists,
    );
    expect(reasonOf(dup)).toBe('WEBHOOK_EXISTS');
    for (let i = 1; i < 10; i++) await register(app);
    const full = await expectCode(
      replica.client.registerWebhook({ url: receiver.url('/eleventh') }, app.as),
      Code.ResourceExhausted,
    );
    expect(reasonOf(full)).toBe('WEBHOOK_LIMIT');
    expect((await replica.client.listWebhooks({}, app.as)).webhooks).toHaveLength(10);
  });
});

async function waitForSuccess(target: Replica, app: App, webhookId: string) {
  const res = await eventually(
    () => target.client.listWebhookAttempts({ webhookId, outcome: WebhookAttemptOutcome.SUCCEEDED }, app.as),
    (r) => r.attempts.length > 0,
    10_000,
    'a successful attempt',
  );
  return res.attempts[0]!;
}

describe('the sweep', () => {
  it('deletes attempts and finished deliveries older than a notice may live, and keeps the rest', async () => {
    const app = newApp();
    const { path, webhook } = await register(app);
    await notify(app.appId, 'old news');
    await until(() => receiver.callsTo(path).length === 1, 10_000, 'the call');
    await waitForSuccess(replica, app, webhook.id);
    const later = new Date(Date.now() + replica.ctx.config.noticeTtlSeconds * 1000 + 60_000);
    const kept = await sweepWebhookRecords(replica.ctx, new Date());
    expect(await attemptsOf(app, webhook.id)).toHaveLength(1);
    const deleted = await sweepWebhookRecords(replica.ctx, later);
    expect(deleted + kept).toBeGreaterThanOrEqual(2);
    expect(await attemptsOf(app, webhook.id)).toHaveLength(0);
    expect((await replica.client.listWebhooks({}, app.as)).webhooks).toHaveLength(1);
  });
});
