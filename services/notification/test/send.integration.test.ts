/**
 * SendNotice against a real registry, Postgres and NATS: a short message to
 * an app or to every receiving app of a unit, only with a SEND grant on the
 * recipient; every bad field named at once; nothing written when refused.
 */
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoticeKind } from '#gen/lgsp/notification/v1/resources_pb.js';
import { AppKind, GrantAction } from '#gen/lgsp/registry/v1/resources_pb.js';
import { asAdmin } from '../../../test/support/callers.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import { startTestRegistry } from '../../registry/test/support.js';
import { asApp, NotificationCluster, type Replica, seconds, subscribe } from './support.js';

const FINANCE = '000.00.03.H26';
const HOME_AFFAIRS = '000.00.02.H26';
const PLANNING = '000.00.04.H26';

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
let cluster: NotificationCluster;
let replica: Replica;
let sender: { appId: string; as: ReturnType<typeof asApp> };
let homeAffairs: { appId: string; as: ReturnType<typeof asApp> };
let planning: Array<{ appId: string; as: ReturnType<typeof asApp> }>;
let ungranted: { appId: string; as: ReturnType<typeof asApp> };

async function registerApp(unitCode: string, name: string) {
  const { app } = await registry.client.registerApp(
    { unitCode, name, kind: AppKind.DOCUMENT_SYSTEM, acceptedContentTypes: ['application/json'] },
    asAdmin(),
  );
  return { appId: app!.id, as: asApp(app!.id, unitCode) };
}

async function grantSend(subjectAppId: string, object: { unitCode: string } | { appId: string }) {
  await registry.client.createGrant(
    {
      subject: { party: { case: 'appId', value: subjectAppId } },
      object: {
        object:
          'unitCode' in object
            ? { case: 'unitCode', value: object.unitCode }
            : { case: 'appId', value: object.appId },
      },
      action: GrantAction.SEND,
    },
    asAdmin(),
  );
}

beforeAll(async () => {
  registry = await startTestRegistry();
  cluster = new NotificationCluster({ registryAddr: new URL(registry.running.url).host });
  replica = await cluster.start();
  sender = await registerApp(FINANCE, 'QLVB Sở Tài chính');
  homeAffairs = await registerApp(HOME_AFFAIRS, 'QLVB Sở Nội vụ');
  planning = [await registerApp(PLANNING, 'QLVB Sở KH&ĐT'), await registerApp(PLANNING, 'CSDL Sở KH&ĐT')];
  ungranted = await registerApp(HOME_AFFAIRS, 'Cổng dịch vụ Sở Nội vụ');
  await grantSend(sender.appId, { appId: homeAffairs.appId });
  await grantSend(sender.appId, { unitCode: PLANNING });
});

afterAll(async () => {
  await cluster?.close();
  await registry?.close();
});

const body = new TextEncoder().encode('{"hoSo":"HS-2024-0001","trangThai":"da_tiep_nhan"}');

describe('SendNotice', () => {
  it('sends a message to an app it may send to, which sees it live and in ListNotices', async () => {
    const stream = subscribe(replica, homeAffairs);
    await stream.ready();
    const sent = await replica.client.sendNotice(
      {
        recipient: { party: { case: 'appId', value: homeAffairs.appId } },
        topic: 'hoso.updated',
        contentType: 'application/json',
        body,
        ttl: seconds(3600),
      },
      sender.as,
    );
    expect(sent.appIds).toEqual([homeAffairs.appId]);
    expect(sent.noticeIds).toHaveLength(1);
    const [notice] = await stream.waitForNotices(1);
    await stream.close();
    expect(notice!.id).toBe(sent.noticeIds[0]);
    expect(notice!.kind).toBe(NoticeKind.APP_MESSAGE);
    expect(notice!.payload.case).toBe('appMessage');
    if (notice!.payload.case !== 'appMessage') return;
    expect(notice!.payload.value).toMatchObject({
      fromAppId: sender.appId,
      fromUnitCode: FINANCE,
      topic: 'hoso.updated',
      contentType: 'application/json',
    });
    expect(Buffer.from(notice!.payload.value.body).equals(Buffer.from(body))).toBe(true);
    const expiresIn = Number(notice!.expireTime!.seconds) * 1000 - Date.now();
    expect(expiresIn).toBeGreaterThan(3500_000);
    expect(expiresIn).toBeLessThanOrEqual(3600_000);
  });

  it('sends to every receiving app of a unit', async () => {
    const sent = await replica.client.sendNotice(
      { recipient: { party: { case: 'unitCode', value: PLANNING } }, topic: 'lich.hop' },
      sender.as,
    );
    expect([...sent.appIds].sort()).toEqual(planning.map((a) => a.appId).sort());
    for (const app of planning) {
      const { notices } = await replica.client.listNotices({}, app.as);
      expect(notices.map((n) => n.id)).toEqual([sent.noticeIds[sent.appIds.indexOf(app.appId)]]);
    }
  });

  it('refuses a recipient without a SEND grant, and writes nothing', async () => {
    const refused = await expectCode(
      replica.client.sendNotice(
        { recipient: { party: { case: 'appId', value: ungranted.appId } }, topic: 'x' },
        sender.as,
      ),
      Code.PermissionDenied,
    );
    expect(reasonOf(refused)).toBe('RECIPIENT_NOT_GRANTED');
    // The grant goes one way only.
    const back = await expectCode(
      replica.client.sendNotice(
        { recipient: { party: { case: 'appId', value: sender.appId } }, topic: 'x' },
        homeAffairs.as,
      ),
      Code.PermissionDenied,
    );
    expect(reasonOf(back)).toBe('RECIPIENT_NOT_GRANTED');
    expect((await replica.client.listNotices({}, ungranted.as)).notices).toEqual([]);
    expect((await replica.client.listNotices({}, sender.as)).notices).toEqual([]);
  });

  it('refuses a recipient that does not exist', async () => {
    const missing = await expectCode(
      replica.client.sendNotice(
        { recipient: { party: { case: 'unitCode', value: '000.00.97.H26' } }, topic: 'x' },
        sender.as,
      ),
      Code.NotFound,
    );
    expect(reasonOf(missing)).toBe('RECIPIENT_NOT_FOUND');
  });

  it('names every bad field at once, before asking the registry', async () => {
    const bad = await expectCode(
      replica.client.sendNotice(
        {
          recipient: { party: { case: 'appId', value: 'app_123' } },
          topic: '  ',
          contentType: 'json',
          body: new Uint8Array(64 * 1024 + 1),
          ttl: seconds(30),
        },
        sender.as,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad).sort()).toEqual(['body', 'content_type', 'recipient.app_id', 'topic', 'ttl']);
    const more = await expectCode(
      replica.client.sendNotice(
        { topic: 't'.repeat(201), body: new Uint8Array(10), ttl: seconds(31 * 24 * 3600) },
        sender.as,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(more).sort()).toEqual(['content_type', 'recipient', 'topic', 'ttl']);
    const badUnit = await expectCode(
      replica.client.sendNotice(
        { recipient: { party: { case: 'unitCode', value: '000.00.03' } }, topic: 'x' },
        sender.as,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(badUnit)).toEqual(['recipient.unit_code']);
    // A body of exactly 64 KiB is fine.
    const largest = await replica.client.sendNotice(
      {
        recipient: { party: { case: 'appId', value: homeAffairs.appId } },
        topic: 'largest',
        contentType: 'application/octet-stream',
        body: new Uint8Array(64 * 1024),
      },
      sender.as,
    );
    expect(largest.noticeIds).toHaveLength(1);
  });

  it('is for apps only', async () => {
    const refused = await expectCode(
      replica.client.sendNotice(
        { recipient: { party: { case: 'appId', value: homeAffairs.appId } }, topic: 'x' },
        asAdmin(),
      ),
      Code.PermissionDenied,
    );
    expect(reasonOf(refused)).toBe('APP_REQUIRED');
  });
});
