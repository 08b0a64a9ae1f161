/**
 * Priority under a backlog (Art. 5.4): flash (hỏa tốc) and very urgent
 * (thượng khẩn) transfers go before normal ones, in the destination's pending
 * list and in the DeliveryOffered notices on the bus
 * (`<prefix>.transfer.offered.<appId>`, read here with a plain JetStream
 * consumer, as the notification service or any other consumer would).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type App,
  call,
  createBody,
  followOffers,
  grantSend,
  type Json,
  newApp,
  newUnit,
  type OfferFollower,
  ok,
  Platform,
  sendJson,
  TRANSFER,
  until,
} from './transfers.support.js';

let platform: Platform;

beforeAll(async () => {
  platform = await Platform.start();
});

afterAll(async () => {
  await platform?.close();
});

const PRIORITY = { NORMAL: 1, URGENT: 2, VERY_URGENT: 3, FLASH: 4 } as const;
type Level = keyof typeof PRIORITY;

/** Sends inline transfers to `destination`, all at once; resolves with their ids in the order given. */
async function sendAll(
  source: App,
  destination: App,
  levels: readonly Level[],
  tag: string,
): Promise<string[]> {
  const answers = await Promise.all(
    levels.map((level, i) =>
      call(
        platform,
        TRANSFER,
        'CreateTransfer',
        createBody({
          recipients: [destination.id],
          content: Buffer.from(JSON.stringify({ tag, i, level })),
          inline: true,
          priority: `PRIORITY_${level}`,
          subject: `${tag} ${i} ${level}`,
        }),
        source.signer,
      ),
    ),
  );
  return answers.map((a) => ok(a, 'CreateTransfer').transfer.id);
}

describe('a backlog of 60 normal transfers, then 3 flash and 3 very urgent ones, to one destination', () => {
  let source: App;
  let destination: App;
  let follower: OfferFollower;
  let normal: string[];
  let urgent: string[];
  const levelOf = new Map<string, Level>();

  beforeAll(async () => {
    const unit = await newUnit(platform, 'Văn phòng UBND');
    source = await newApp(platform, unit, 'QLVB Văn phòng');
    destination = await newApp(platform, await newUnit(platform, 'Sở nhận'), 'QLVB Sở');
    await grantSend(platform, source, destination.id);
    follower = await followOffers(platform.busPrefix, destination.id);
    // The normal ones are all requested (and committed) first, the urgent ones right after.
    normal = await sendAll(source, destination, Array<Level>(60).fill('NORMAL'), 'normal');
    urgent = await sendAll(
      source,
      destination,
      ['FLASH', 'FLASH', 'FLASH', 'VERY_URGENT', 'VERY_URGENT', 'VERY_URGENT'],
      'urgent',
    );
    for (const id of normal) levelOf.set(id, 'NORMAL');
    for (const [i, id] of urgent.entries()) levelOf.set(id, i < 3 ? 'FLASH' : 'VERY_URGENT');
    await until(() => follower.offers.length >= 66, 15_000, 'an offer for each of the 66 deliveries');
  }, 60_000);

  afterAll(async () => {
    await follower?.stop();
  });

  it('lists flash first, then very urgent, then normal, each oldest first', async () => {
    const listed: Json[] = [];
    let pageToken = '';
    do {
      const page = ok(
        await call(
          platform,
          TRANSFER,
          'ListPendingDeliveries',
          { pageSize: 25, pageToken },
          destination.signer,
        ),
      );
      listed.push(...page.deliveries);
      pageToken = page.nextPageToken ?? '';
    } while (pageToken !== '');
    expect(listed).toHaveLength(66);
    expect(listed.map((d) => d.priority)).toEqual([
      ...Array(3).fill('PRIORITY_FLASH'),
      ...Array(3).fill('PRIORITY_VERY_URGENT'),
      ...Array(60).fill('PRIORITY_NORMAL'),
    ]);
    // Within one priority, oldest first.
    for (const level of ['PRIORITY_FLASH', 'PRIORITY_VERY_URGENT', 'PRIORITY_NORMAL']) {
      const times = listed.filter((d) => d.priority === level).map((d) => Date.parse(d.createTime));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
    }
    // Only the most urgent, when asked.
    const flash = ok(
      await call(
        platform,
        TRANSFER,
        'ListPendingDeliveries',
        { minPriority: 'PRIORITY_VERY_URGENT' },
        destination.signer,
      ),
    );
    expect(flash.deliveries.map((d: Json) => d.transferId).sort()).toEqual([...urgent].sort());
  });

  it('publishes one offer per delivery, each NOTIFIED with its priority', () => {
    const offered = follower.offers.map((o) => o.delivery!);
    expect(new Set(offered.map((d) => d.transferId)).size).toBe(66);
    for (const d of offered) {
      expect(d.destinationAppId).toBe(destination.id);
      expect(d.priority).toBe(PRIORITY[levelOf.get(d.transferId)!]);
      expect(d.attempts).toBe(1);
    }
  });

  it('does not offer the flash and very urgent transfers after all the normal ones', () => {
    const order = follower.offers.map((o) => levelOf.get(o.delivery!.transferId)!);
    const lastNormal = order.lastIndexOf('NORMAL');
    const urgentAt = order.flatMap((level, i) => (level === 'NORMAL' ? [] : [i]));
    expect(urgentAt, `offer order: ${order.map((l) => l[0]).join('')}`).toHaveLength(6);
    for (const at of urgentAt)
      expect(at, `offer order: ${order.map((l) => l[0]).join('')}`).toBeLessThan(lastNormal);
  });

  it('carries small content inline in the offer', () => {
    for (const offer of follower.offers) {
      const content = JSON.parse(Buffer.from(offer.inlineContent).toString() || 'null');
      expect(content).toMatchObject({ level: levelOf.get(offer.delivery!.transferId) });
    }
  });
});

describe('content in the offer', () => {
  it('carries uploaded content inline when it is small, and not when it is over the inline limit', async () => {
    const source = await newApp(platform, await newUnit(platform), 'QLVB nguồn');
    const destination = await newApp(platform, await newUnit(platform), 'QLVB đích');
    await grantSend(platform, source, destination.id);
    const follower = await followOffers(platform.busPrefix, destination.id);
    try {
      const small = Buffer.from('Tờ trình ngắn, tải lên thay vì gửi kèm.');
      const large = Buffer.alloc(300_000, 'l');
      const ids: string[] = [];
      for (const content of [small, large]) {
        ids.push(
          (
            await sendJson(platform, source, {
              recipients: [destination.id],
              content,
              contentType: 'text/plain',
            })
          ).id,
        );
      }
      await until(() => follower.offers.length >= 2, 10_000, 'both offers');
      const offerOf = (id: string) => follower.offers.find((o) => o.delivery?.transferId === id)!;
      expect(offerOf(ids[1]!).inlineContent).toHaveLength(0);
      // resources.proto: "The content, when it is small enough to travel in a notice (at most the inline limit)".
      expect(Buffer.from(offerOf(ids[0]!).inlineContent).toString()).toBe(small.toString());
    } finally {
      await follower.stop();
    }
  });
});
