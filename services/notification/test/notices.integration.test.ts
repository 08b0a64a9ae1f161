/**
 * Notices against the real Postgres and NATS: created from transfer and
 * credential events exactly once whatever the redeliveries, numbered without
 * gaps per app under concurrency, listed and acknowledged by their own app
 * only, and swept once expired.
 */
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Priority } from '#gen/lgsp/common/v1/common_pb.js';
import { NoticeKind } from '#gen/lgsp/notification/v1/resources_pb.js';
import type { BusMessage } from '#lib/bus/bus.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import { noticeOfExpiringCredential } from '../src/consumers/credential-events.js';
import { sweepNotices } from '../src/consumers/sweep.js';
import { noticeOfOffer, noticeOfStatusChange } from '../src/consumers/transfer-events.js';
import { createNotices, type NoticeDraft } from '../src/domain/notices.js';
import {
  asService,
  credentialEvent,
  NotificationCluster,
  newApp,
  offerEvent,
  type Replica,
  statusEvent,
} from './support.js';

let cluster: NotificationCluster;
let replica: Replica;

beforeAll(async () => {
  cluster = new NotificationCluster();
  replica = await cluster.start();
});

afterAll(async () => {
  await cluster?.close();
});

const message = (data: Uint8Array, deliveryCount = 1): BusMessage => ({
  subject: 'test',
  data,
  headers: {},
  seq: 1,
  deliveryCount,
});

async function noticesOf(appId: string) {
  return replica.ctx.db
    .selectFrom('notices')
    .selectAll()
    .where('app_id', '=', appId)
    .orderBy('sequence')
    .execute();
}

const draft = (appId: string, topic: string, extra: Partial<NoticeDraft> = {}): NoticeDraft => ({
  appId,
  payload: {
    case: 'appMessage',
    value: { fromAppId: 'app_00000000000000aa', topic, contentType: 'text/plain', body: new Uint8Array() },
  },
  ...extra,
});

describe('notices from transfer events', () => {
  it('makes one NEW_DELIVERY per offer, with the inline content, however often the event comes', async () => {
    const app = newApp();
    const inline = new TextEncoder().encode('{"so":"123/QĐ-UBND"}');
    const fields = { appId: app.appId, deliveryId: 'dlv_00000000000000a1', inline, priority: Priority.FLASH };
    // The same event published twice (after the duplicate window, as the relay may) ...
    await cluster.publishOffer(fields);
    await cluster.publishOffer(fields);
    await expect.poll(async () => (await noticesOf(app.appId)).length, { timeout: 10_000 }).toBe(1);
    // ... and redelivered to a handler, on the same or another replica.
    await noticeOfOffer(replica.ctx, message(offerEvent(fields), 2));
    await Promise.all([1, 2, 3].map(() => noticeOfOffer(replica.ctx, message(offerEvent(fields), 3))));
    const rows = await noticesOf(app.appId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.kind).toBe('new_delivery');
    expect(rows[0]!.sequence).toBe(1);
    expect(rows[0]!.priority).toBe(Priority.FLASH);

    const listed = await replica.client.listNotices({}, app.as);
    expect(listed.notices).toHaveLength(1);
    const notice = listed.notices[0]!;
    expect(notice.id).toMatch(/^ntc_[0-9a-f]{16}$/);
    expect(notice.kind).toBe(NoticeKind.NEW_DELIVERY);
    expect(notice.appId).toBe(app.appId);
    expect(notice.priority).toBe(Priority.FLASH);
    expect(notice.payload.case).toBe('newDelivery');
    if (notice.payload.case !== 'newDelivery') return;
    expect(notice.payload.value.delivery?.id).toBe('dlv_00000000000000a1');
    expect(Buffer.from(notice.payload.value.inlineContent).equals(Buffer.from(inline))).toBe(true);

    // A re-offer (the next attempt) is news again.
    await noticeOfOffer(replica.ctx, message(offerEvent({ ...fields, attempts: 2 })));
    expect((await noticesOf(app.appId)).map((r) => r.sequence)).toEqual([1, 2]);
  });

  it('keeps a NEW_DELIVERY no longer than its delivery may wait', async () => {
    const app = newApp();
    const deadline = new Date(Date.now() + 3 * 3600_000);
    await noticeOfOffer(replica.ctx, message(offerEvent({ appId: app.appId, deadline })));
    const [row] = await noticesOf(app.appId);
    expect(row!.expire_at.getTime()).toBe(deadline.getTime());
  });

  it('tells the source of a status change only when its policy asked, once per change', async () => {
    const source = newApp();
    await cluster.publishStatus({ sourceAppId: source.appId, cursor: '41', notifySource: false });
    await cluster.publishStatus({ sourceAppId: source.appId, cursor: '42', notifySource: true });
    await expect.poll(async () => (await noticesOf(source.appId)).length, { timeout: 10_000 }).toBe(1);
    await noticeOfStatusChange(
      replica.ctx,
      message(statusEvent({ sourceAppId: source.appId, cursor: '42', notifySource: true }), 2),
    );
    const rows = await noticesOf(source.appId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.kind).toBe('transfer_status');
    expect(rows[0]!.dedup_key).toBe('transfer.status:42');
    const { notices } = await replica.client.listNotices({}, source.as);
    expect(notices[0]!.payload.case).toBe('transferStatus');
    if (notices[0]!.payload.case === 'transferStatus')
      expect(notices[0]!.payload.value.change?.cursor).toBe('42');
  });

  it('drops an event that does not decode instead of redelivering it forever', async () => {
    await expect(
      noticeOfOffer(replica.ctx, message(new Uint8Array([0xff, 0xff, 0xff]))),
    ).resolves.toBeUndefined();
  });
});

describe('notices from credential events', () => {
  it('warns the owning app once of an expiring credential; operators get nothing', async () => {
    const app = newApp();
    const expireTime = new Date(Date.now() + 10 * 24 * 3600_000);
    const fields = { accessKeyId: 'AKLGSPTEST0000001', version: 3n, owner: { appId: app.appId }, expireTime };
    await cluster.publishCredentialExpiring(fields);
    await cluster.publishCredentialExpiring({
      accessKeyId: 'AKLGSPOPERATOR001',
      version: 1n,
      owner: { operatorName: 'ops-test' },
      expireTime,
    });
    await expect.poll(async () => (await noticesOf(app.appId)).length, { timeout: 10_000 }).toBe(1);
    await noticeOfExpiringCredential(replica.ctx, message(credentialEvent(fields), 2));
    const rows = await noticesOf(app.appId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.kind).toBe('credential_expiring');
    // Of no use once the credential has expired.
    expect(rows[0]!.expire_at.getTime()).toBe(expireTime.getTime());
    const { notices } = await replica.client.listNotices({}, app.as);
    const payload = notices[0]!.payload;
    expect(payload.case === 'credentialExpiring' && payload.value.accessKeyId).toBe('AKLGSPTEST0000001');
    const operatorRows = await replica.ctx.db
      .selectFrom('notices')
      .select('id')
      .where('dedup_key', 'like', 'auth.credential.expiring:AKLGSPOPERATOR001%')
      .execute();
    expect(operatorRows).toHaveLength(0);
  });
});

describe('sequences', () => {
  it('numbers each app from 1 without gaps, whatever runs at once', async () => {
    const apps = [newApp(), newApp(), newApp()];
    const writers = 24;
    const perWriter = 5;
    await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        replica.ctx.db.transaction().execute((trx) =>
          createNotices(
            replica.ctx,
            trx,
            // Each transaction writes to the apps in a different order: locks must not deadlock.
            Array.from({ length: perWriter }, (_, i) =>
              draft(apps[(w + i) % apps.length]!.appId, `w${w}.${i}`),
            ),
          ),
        ),
      ),
    );
    const total = writers * perWriter;
    let seen = 0;
    for (const app of apps) {
      const seqs = (await noticesOf(app.appId)).map((r) => r.sequence);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      seen += seqs.length;
    }
    expect(seen).toBe(total);
  });

  it('gives no sequence to a rolled-back notice nor to a duplicate', async () => {
    const app = newApp();
    await replica.ctx.db
      .transaction()
      .execute((trx) => createNotices(replica.ctx, trx, [draft(app.appId, 'one')]));
    await expect(
      replica.ctx.db.transaction().execute(async (trx) => {
        await createNotices(replica.ctx, trx, [draft(app.appId, 'rolled back')]);
        throw new Error('the caller failed after creating its notice');
      }),
    ).rejects.toThrow('the caller failed');
    const created = await replica.ctx.db
      .transaction()
      .execute((trx) =>
        createNotices(replica.ctx, trx, [
          draft(app.appId, 'keyed', { dedupKey: 'k1' }),
          draft(app.appId, 'keyed again in the same call', { dedupKey: 'k1' }),
          draft(app.appId, 'two'),
        ]),
      );
    expect(created.map((n) => n.sequence)).toEqual([2n, 3n]);
    const again = await replica.ctx.db
      .transaction()
      .execute((trx) => createNotices(replica.ctx, trx, [draft(app.appId, 'keyed', { dedupKey: 'k1' })]));
    expect(again).toEqual([]);
    expect((await noticesOf(app.appId)).map((r) => r.sequence)).toEqual([1, 2, 3]);
  });

  it('refuses a malformed draft and writes nothing', async () => {
    const app = newApp();
    await expect(
      replica.ctx.db
        .transaction()
        .execute((trx) =>
          createNotices(replica.ctx, trx, [draft(app.appId, 'fine'), draft('not-an-app', 'bad')]),
        ),
    ).rejects.toThrow(/not an app id/);
    await expect(
      replica.ctx.db
        .transaction()
        .execute((trx) =>
          createNotices(replica.ctx, trx, [draft(app.appId, 'x', { dedupKey: 'k'.repeat(201) })]),
        ),
    ).rejects.toThrow(/dedup key/);
    expect(await noticesOf(app.appId)).toEqual([]);
  });

  it('publishes one fan-out event per notice, through the outbox', async () => {
    const app = newApp();
    const created = await replica.ctx.db
      .transaction()
      .execute((trx) => createNotices(replica.ctx, trx, [draft(app.appId, 'a'), draft(app.appId, 'b')]));
    const events = await replica.ctx.db
      .selectFrom('outbox')
      .select(['subject', 'headers'])
      .where('subject', '=', `${cluster.busPrefix}.notification.notice.${app.appId}`)
      .execute();
    expect(events.map((e) => e.headers['lgsp-notice-id']).sort()).toEqual(created.map((n) => n.id).sort());
  });
});

describe('ListNotices and AckNotices', () => {
  it('lists unacknowledged notices by sequence, a page at a time, with kinds', async () => {
    const app = newApp();
    await replica.ctx.db.transaction().execute((trx) =>
      createNotices(
        replica.ctx,
        trx,
        Array.from({ length: 7 }, (_, i) => draft(app.appId, `m${i}`)),
      ),
    );
    await noticeOfOffer(replica.ctx, message(offerEvent({ appId: app.appId })));
    const first = await replica.client.listNotices({ pageSize: 3 }, app.as);
    expect(first.notices.map((n) => n.sequence)).toEqual([1n, 2n, 3n]);
    expect(first.lastSequence).toBe(3n);
    expect(first.hasMore).toBe(true);
    const rest = await replica.client.listNotices({ afterSequence: first.lastSequence, pageSize: 5 }, app.as);
    expect(rest.notices.map((n) => n.sequence)).toEqual([4n, 5n, 6n, 7n, 8n]);
    expect(rest.hasMore).toBe(false);
    const none = await replica.client.listNotices({ afterSequence: 8n }, app.as);
    expect(none).toMatchObject({ notices: [], lastSequence: 8n, hasMore: false });
    const deliveries = await replica.client.listNotices({ kinds: [NoticeKind.NEW_DELIVERY] }, app.as);
    expect(deliveries.notices.map((n) => n.sequence)).toEqual([8n]);
  });

  it("acknowledges by id and up to a sequence, idempotently, and never another app's notices", async () => {
    const app = newApp();
    const other = newApp();
    const mine = await replica.ctx.db.transaction().execute((trx) =>
      createNotices(
        replica.ctx,
        trx,
        Array.from({ length: 6 }, (_, i) => draft(app.appId, `m${i}`)),
      ),
    );
    const theirs = await replica.ctx.db
      .transaction()
      .execute((trx) => createNotices(replica.ctx, trx, [draft(other.appId, 'private')]));

    const byId = await replica.client.ackNotices({ noticeIds: [mine[4]!.id, theirs[0]!.id] }, app.as);
    expect(byId).toMatchObject({ ackedCount: 1, unackedCount: 5 });
    const upTo = await replica.client.ackNotices({ upToSequence: 3n, noticeIds: [mine[4]!.id] }, app.as);
    expect(upTo).toMatchObject({ ackedCount: 3, unackedCount: 2 });
    const again = await replica.client.ackNotices({ upToSequence: 3n }, app.as);
    expect(again).toMatchObject({ ackedCount: 0, unackedCount: 2 });
    // The other app's notice is untouched, and still listed for it.
    const listed = await replica.client.listNotices({}, other.as);
    expect(listed.notices.map((n) => n.id)).toEqual([theirs[0]!.id]);
    expect((await replica.client.listNotices({}, app.as)).notices.map((n) => n.sequence)).toEqual([4n, 6n]);
  });

  it('refuses bad input field by field, and callers that are not apps', async () => {
    const app = newApp();
    const none = await expectCode(replica.client.ackNotices({}, app.as), Code.InvalidArgument);
    expect(violatedFields(none)).toEqual(['notice_ids']);
    const badIds = await expectCode(
      replica.client.ackNotices({ noticeIds: ['ntc_0123456789abcdef', 'dlv_0123456789abcdef', ''] }, app.as),
      Code.InvalidArgument,
    );
    expect(violatedFields(badIds)).toEqual(['notice_ids[1]', 'notice_ids[2]']);
    const badList = await expectCode(
      replica.client.listNotices(
        { pageSize: 501, kinds: [NoticeKind.APP_MESSAGE, 99 as NoticeKind] },
        app.as,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(badList).sort()).toEqual(['kinds[1]', 'page_size']);
    const service = await expectCode(
      replica.client.listNotices({}, asService('transfer')),
      Code.PermissionDenied,
    );
    expect(reasonOf(service)).toBe('APP_REQUIRED');
    await expectCode(replica.client.listNotices({}), Code.Unauthenticated);
  });
});

describe('the expiry sweep', () => {
  it('deletes notices past their expire time, acknowledged or not', async () => {
    const app = newApp();
    const past = new Date(Date.now() - 1_000);
    await replica.ctx.db
      .transaction()
      .execute((trx) =>
        createNotices(replica.ctx, trx, [
          draft(app.appId, 'expired', { expireAt: past }),
          draft(app.appId, 'kept'),
        ]),
      );
    // Expired but not yet swept: no longer listed already.
    expect((await replica.client.listNotices({}, app.as)).notices.map((n) => n.sequence)).toEqual([2n]);
    let deleted = 0;
    for (let n = await sweepNotices(replica.ctx); n > 0; n = await sweepNotices(replica.ctx)) deleted += n;
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect((await noticesOf(app.appId)).map((r) => r.sequence)).toEqual([2]);
    // The counter remembers: the next notice is 3, never a reused 1.
    const next = await replica.ctx.db
      .transaction()
      .execute((trx) => createNotices(replica.ctx, trx, [draft(app.appId, 'next')]));
    expect(next[0]!.sequence).toBe(3n);
  });
});
