/**
 * Statistics and the unit history (Art. 5.11, 5.12, 7.1) through the gateway:
 * a scripted run of transfers — confirmed, refused, expired, cancelled — is
 * counted exactly as the transfer service recorded it, and stays so after the
 * statistics consumer replays every event from the start of the streams; a
 * unit's apps and administrators read their own unit only.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PresenceChangedSchema } from '#gen/lgsp/notification/v1/events_pb.js';
import { PresenceState } from '#gen/lgsp/notification/v1/resources_pb.js';
import type { BusMessage } from '#lib/bus/bus.js';
import { subjectOf } from '#lib/infra.js';
import {
  countPresence,
  countStatusChange,
  presenceSpec,
  statusSpec,
} from '../../services/transfer/src/consumers/statistics.js';
import type { TransferContext } from '../../services/transfer/src/context.js';
import { dayOf } from '../../services/transfer/src/domain/statistics.js';
import { hmacSigner, type Signer } from './support.js';
import {
  type App,
  AUTH,
  call,
  grantSend,
  type Json,
  newApp,
  newUnit,
  ok,
  Platform,
  pendingDelivery,
  receiveJson,
  refused,
  sendJson,
  TRANSFER,
  transferReaches,
  until,
} from './transfers.support.js';

let platform: Platform;
let finance: string;
let health: string;
let planning: string;
let fin: App;
let hea: App;
let pla: App;
let financeAdmin: Signer;
const today = () => dayOf(Date.now(), 420);

function transferCtx(): TransferContext {
  return platform.mesh.services.find((s) => s.name === 'transfer')!.context as TransferContext;
}

async function stats(signer: Signer, body: Json): Promise<Json[]> {
  return (
    ok(await call(platform, TRANSFER, 'GetUnitStatistics', body, signer), 'GetUnitStatistics').rows ?? []
  );
}

const n = (v: unknown) => Number(v ?? 0);

beforeAll(async () => {
  platform = await Platform.start();
  finance = await newUnit(platform, 'Sở Tài chính thử');
  health = await newUnit(platform, 'Sở Y tế thử');
  planning = await newUnit(platform, 'Sở KH&ĐT thử');
  fin = await newApp(platform, finance, 'QLVB STC');
  hea = await newApp(platform, health, 'QLVB SYT');
  pla = await newApp(platform, planning, 'QLVB SKHĐT');
  await grantSend(platform, hea, finance);
  await grantSend(platform, pla, finance);
  await grantSend(platform, fin, health);
  const credential = ok(
    await call(
      platform,
      AUTH,
      'CreateCredential',
      { owner: { operatorName: 'stc-admin' }, roles: [`unit_admin:${finance}`], label: 'e2e' },
      platform.admin,
    ),
  );
  financeAdmin = hmacSigner(credential.credential.accessKeyId, credential.secretKey);
}, 60_000);

afterAll(async () => {
  await platform?.close();
});

describe('a scripted run of transfers', () => {
  const content = Buffer.from('{"soKyHieu":"1/TEST"}');
  let expectedFinanceReceived: Json;

  it('counts what happened: confirmed, refused, expired and cancelled, per counterparty', async () => {
    const send = (from: App, to: string, policy?: Json) =>
      sendJson(platform, from, { recipients: [to], content, inline: true, ...(policy ? { policy } : {}) });
    // Health → Finance: three, two confirmed and one refused.
    for (let i = 0; i < 3; i++) {
      const t = await send(hea, finance);
      const d = await pendingDelivery(platform, fin, t.id);
      if (i < 2) await receiveJson(platform, fin, d.id);
      else
        ok(
          await call(
            platform,
            TRANSFER,
            'RefuseDelivery',
            { deliveryId: d.id, reason: 'REFUSAL_REASON_WRONG_RECIPIENT' },
            fin.signer,
          ),
        );
    }
    // Planning → Finance: one confirmed, one left to expire (late).
    const onTime = await send(pla, finance);
    await receiveJson(platform, fin, (await pendingDelivery(platform, fin, onTime.id)).id);
    const late = await send(pla, finance, { deadline: new Date(Date.now() + 2_000).toISOString() });
    // Finance → Health: cancelled by the source.
    const cancelled = await send(fin, health);
    ok(await call(platform, TRANSFER, 'CancelTransfer', { transferId: cancelled.id }, fin.signer));
    await transferReaches(platform, pla, late.id, 'TRANSFER_STATE_EXPIRED');

    // What the transfer service recorded, read back from the history: the truth to match.
    const history = ok(
      await call(
        platform,
        TRANSFER,
        'ListUnitHistory',
        { unitCode: finance, direction: 'TRAFFIC_DIRECTION_RECEIVED', pageSize: 200 },
        platform.admin,
      ),
    ).deliveries as Json[];
    expect(history).toHaveLength(5);
    const count = (from: string, state: string) =>
      history.filter((d) => d.sourceUnitCode === from && d.state === state).length;
    expect([count(health, 'DELIVERY_STATE_DELIVERED'), count(health, 'DELIVERY_STATE_REFUSED')]).toEqual([
      2, 1,
    ]);
    expect([count(planning, 'DELIVERY_STATE_DELIVERED'), count(planning, 'DELIVERY_STATE_EXPIRED')]).toEqual([
      1, 1,
    ]);

    const body = { unitCodes: [finance], fromDate: today(), toDate: today(), byCounterparty: true };
    const rows = await until(
      async () => {
        const r = await stats(platform.admin, body);
        const total = r.reduce(
          (s, row) => s + n(row.received?.delivered) + n(row.received?.refused) + n(row.received?.expired),
          0,
        );
        return total === 5 ? r : undefined;
      },
      20_000,
      'the statistics to count five outcomes',
    );
    const byCounterparty = Object.fromEntries(rows.map((r) => [r.counterpartyUnitCode ?? '', r]));
    expect(Object.keys(byCounterparty).sort()).toEqual([health, planning].sort());
    const fromHealth = byCounterparty[health].received;
    expect([
      n(fromHealth.packages),
      n(fromHealth.delivered),
      n(fromHealth.refused),
      n(fromHealth.expired),
    ]).toEqual([3, 2, 1, 0]);
    expect(n(fromHealth.bytes)).toBe(3 * content.length);
    const fromPlanning = byCounterparty[planning].received;
    expect([
      n(fromPlanning.packages),
      n(fromPlanning.delivered),
      n(fromPlanning.expired),
      n(fromPlanning.open),
    ]).toEqual([2, 1, 1, 0]);
    expect(fromPlanning.meanDeliveryTime).toMatch(/s$/);
    expect(fromPlanning.p95DeliveryTime).toMatch(/s$/);
    // Finance's own totals: received 5; sent 1, cancelled.
    const [total] = await stats(platform.admin, { unitCodes: [finance], fromDate: today(), toDate: today() });
    expect([
      n(total.received.packages),
      n(total.received.delivered),
      n(total.received.refused),
      n(total.received.expired),
    ]).toEqual([5, 3, 1, 1]);
    expect([n(total.sent.packages), n(total.sent.cancelled)]).toEqual([1, 1]);
    // Health sees the same traffic from its side.
    const [healthTotal] = await stats(hea.signer, { fromDate: today(), toDate: today() });
    expect(healthTotal.unitCode).toBe(health);
    expect([
      n(healthTotal.sent.packages),
      n(healthTotal.sent.delivered),
      n(healthTotal.received.cancelled),
    ]).toEqual([3, 2, 1]);
    expectedFinanceReceived = total.received;
  }, 60_000);

  it('stays equal after the consumer replays every event from the start', async () => {
    const ctx = transferCtx();
    const events = await ctx.db
      .selectFrom('status_changes')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    let handled = 0;
    const replay = await ctx.bus.consume(
      statusSpec(ctx.config.busPrefix, `replay-${Date.now()}`),
      async (msg: BusMessage) => {
        await countStatusChange(ctx, msg);
        handled++;
      },
      { concurrency: 4 },
    );
    await until(() => handled >= Number(events.n), 30_000, `a replay of ${events.n} events`);
    await replay.stop();
    const [total] = await stats(platform.admin, { unitCodes: [finance], fromDate: today(), toDate: today() });
    expect(total.received).toEqual(expectedFinanceReceived);
  }, 60_000);
});

describe('connections', () => {
  it('counts connects, disconnects and online time per day from PresenceChanged, once whatever the replays', async () => {
    const ctx = transferCtx();
    const appId = 'app_00000000000000aa';
    const unit = await newUnit(platform, 'Đơn vị kết nối');
    // Online 22:00 two days ago (local) until 02:00 yesterday, then online again an hour ago.
    const midnight = Date.parse(`${dayOf(Date.now() - 86_400_000, 420)}T00:00:00+07:00`);
    const publish = (transition: number, state: PresenceState, at: number, previousMs?: number) =>
      ctx.bus.publish(
        subjectOf(ctx.config.busPrefix, 'notification', 'presence', appId),
        toBinary(
          PresenceChangedSchema,
          create(PresenceChangedSchema, {
            transition: BigInt(transition),
            event: {
              appId,
              unitCode: unit,
              state,
              occurTime: timestampFromMs(at),
              ...(previousMs === undefined ? {} : { previousDuration: durationFromMs(previousMs) }),
            },
          }),
        ),
      );
    const H = 3_600_000;
    await publish(1, PresenceState.ONLINE, midnight - 2 * H);
    await publish(2, PresenceState.OFFLINE, midnight + 2 * H, 4 * H);
    await publish(3, PresenceState.ONLINE, Date.now() - H, 20 * H);
    const from = dayOf(midnight - 2 * H, 420);
    const to = today();
    const read = () =>
      stats(platform.admin, {
        unitCodes: [unit],
        fromDate: from,
        toDate: to,
        period: 'STATISTICS_PERIOD_DAY',
      });
    const rows = await until(
      async () => {
        const r = await read();
        // The consumer handles events side by side: wait for all three, the disconnect included.
        const connects = r.reduce((s, row) => s + n(row.connection?.connects), 0);
        const disconnects = r.reduce((s, row) => s + n(row.connection?.disconnects), 0);
        return connects === 2 && disconnects === 1 ? r : undefined;
      },
      20_000,
      'two connects and a disconnect counted',
    );
    const seconds = (row: Json) => Number(String(row.connection?.onlineTime ?? '0s').replace('s', ''));
    const first = rows.find((r) => r.periodStart === from)!;
    const second = rows.find((r) => r.periodStart === dayOf(midnight, 420))!;
    expect([n(first.connection.connects), seconds(first)]).toEqual([1, 7200]);
    expect(n(second.connection.disconnects)).toBe(1);
    expect(seconds(second)).toBeGreaterThanOrEqual(7200);
    // Replay the notification stream from its start: nothing changes.
    const before = await read();
    let handled = 0;
    const replay = await ctx.bus.consume(
      presenceSpec(ctx.config.busPrefix, `replay-presence-${Date.now()}`),
      async (msg) => {
        await countPresence(ctx, msg);
        if (msg.subject.endsWith(appId)) handled++;
      },
    );
    await until(() => handled >= 3, 20_000, 'the presence events replayed');
    await replay.stop();
    const after = await read();
    const stable = (rows: Json[]) =>
      rows.map((r) => [r.periodStart, r.connection.connects, r.connection.disconnects]);
    expect(stable(after)).toEqual(stable(before));
    expect(seconds(after.find((r) => r.periodStart === from)!)).toBe(7200);
  }, 60_000);
});

describe("who reads a unit's figures and history", () => {
  it('lets a unit read its own and refuses another unit to its apps and unit administrators', async () => {
    const body = { fromDate: today(), toDate: today() };
    refused(
      await call(platform, TRANSFER, 'GetUnitStatistics', { ...body, unitCodes: [finance] }, hea.signer),
      'permission_denied',
      'OTHER_UNIT',
    );
    refused(
      await call(platform, TRANSFER, 'ListUnitHistory', { unitCode: finance }, hea.signer),
      'permission_denied',
      'OTHER_UNIT',
    );
    refused(
      await call(platform, TRANSFER, 'ExportUnitStatistics', { ...body, unitCodes: [health] }, financeAdmin),
      'permission_denied',
      'OTHER_UNIT',
    );
    refused(
      await call(platform, TRANSFER, 'ListUnitHistory', { unitCode: health }, financeAdmin),
      'permission_denied',
      'OTHER_UNIT',
    );
    // Without naming a unit, each gets its own.
    const own = await stats(financeAdmin, body);
    expect(own.map((r) => r.unitCode)).toEqual([finance]);
    const history = ok(
      await call(
        platform,
        TRANSFER,
        'ListUnitHistory',
        { direction: 'TRAFFIC_DIRECTION_SENT' },
        financeAdmin,
      ),
    );
    expect(history.deliveries.every((d: Json) => d.sourceUnitCode === finance)).toBe(true);
    // The province administrator reads every unit.
    const all = await stats(platform.admin, body);
    expect(all.map((r) => r.unitCode)).toEqual(expect.arrayContaining([finance, health, planning]));
    // Bad requests say which field.
    const bad = refused(
      await call(platform, TRANSFER, 'GetUnitStatistics', { fromDate: '2026-02-30' }, platform.admin),
      'invalid_argument',
    );
    expect(bad.violations).toEqual({ from_date: 'DATE_FORMAT', to_date: 'REQUIRED' });
  }, 30_000);

  it('exports CSV and filters the history by counterparty, state and priority, a page at a time', async () => {
    const csv = ok(
      await call(
        platform,
        TRANSFER,
        'ExportUnitStatistics',
        { fromDate: today(), toDate: today(), byCounterparty: true },
        financeAdmin,
      ),
    );
    expect(csv.contentType).toBe('text/csv; charset=utf-8');
    const lines = Buffer.from(csv.csv, 'base64').toString('utf8').trim().split('\r\n');
    expect(lines[0]).toMatch(/^unit_code,period_start,period_end,counterparty_unit_code,sent_packages,/);
    expect(
      lines
        .slice(1)
        .map((l) => l.split(',')[3])
        .sort(),
    ).toEqual([health, planning].sort());
    const page = ok(
      await call(
        platform,
        TRANSFER,
        'ListUnitHistory',
        {
          unitCode: finance,
          counterpartyUnitCode: health,
          states: ['DELIVERY_STATE_DELIVERED'],
          priority: 'PRIORITY_NORMAL',
          pageSize: 1,
        },
        platform.admin,
      ),
    );
    expect(page.deliveries).toHaveLength(1);
    expect(page.nextPageToken).not.toBe('');
    const next = ok(
      await call(
        platform,
        TRANSFER,
        'ListUnitHistory',
        {
          unitCode: finance,
          counterpartyUnitCode: health,
          states: ['DELIVERY_STATE_DELIVERED'],
          pageSize: 1,
          pageToken: page.nextPageToken,
        },
        platform.admin,
      ),
    );
    expect(next.deliveries[0].id).not.toBe(page.deliveries[0].id);
    expect(next.deliveries[0].sourceUnitCode).toBe(health);
  }, 30_000);
});
