import { fromBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AppChangedSchema, UnitChangedSchema } from '#gen/lgsp/registry/v1/events_pb.js';
import { AppKind, UnitEventKind, UnitKind } from '#gen/lgsp/registry/v1/resources_pb.js';
import type { BusMessage } from '#lib/bus/bus.js';
import { streamName } from '#lib/infra.js';
import { asAdmin } from '../../../test/support/callers.js';
import { startTestRegistry } from './support.js';

let registry: Awaited<ReturnType<typeof startTestRegistry>>;

beforeAll(async () => {
  registry = await startTestRegistry({ seed: false });
});
afterAll(async () => {
  await registry?.close();
});

it('publishes each change through the outbox to JetStream, exactly once per change', async () => {
  const admin = asAdmin();
  const { client, config, running } = registry;
  await client.createUnit({ code: '000.00.00.H26', name: 'UBND tỉnh', kind: UnitKind.PROVINCE }, admin);
  await client.createUnit(
    { code: '000.00.03.H26', name: 'Sở Tài chính', parentCode: '000.00.00.H26', kind: UnitKind.DEPARTMENT },
    admin,
  );
  await client.registerApp({ unitCode: '000.00.03.H26', name: 'QLVB', kind: AppKind.DOCUMENT_SYSTEM }, admin);
  await client.renameUnit(
    { code: '000.00.03.H26', newName: 'Sở Tài chính (mới)', newCode: '000.00.04.H26' },
    admin,
  );

  const received: BusMessage[] = [];
  const consumption = await running.context.bus.consume(
    { stream: streamName(config.busPrefix, 'registry'), durable: 'test-reader', ackWaitMs: 5_000 },
    async (msg) => {
      received.push(msg);
    },
  );
  try {
    await expect.poll(() => received.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
    // Let any duplicate arrive before counting.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await consumption.stop();
  }
  const units = received
    .filter((m) => m.subject.endsWith('.registry.unit'))
    .map((m) => fromBinary(UnitChangedSchema, m.data));
  const apps = received
    .filter((m) => m.subject.endsWith('.registry.app'))
    .map((m) => fromBinary(AppChangedSchema, m.data));
  expect(units.map((u) => u.event?.kind)).toEqual([
    UnitEventKind.CREATED,
    UnitEventKind.CREATED,
    UnitEventKind.RENAMED,
  ]);
  expect(units[2]?.units.map((u) => u.code).sort()).toEqual(['000.00.03.H26', '000.00.04.H26']);
  // Registration, then the move to the new code.
  expect(apps.map((a) => a.app?.unitCode)).toEqual(['000.00.03.H26', '000.00.04.H26']);
  expect(received).toHaveLength(5);
  expect(new Set(received.map((m) => m.headers['Nats-Msg-Id'] ?? m.seq)).size).toBe(5);
});
