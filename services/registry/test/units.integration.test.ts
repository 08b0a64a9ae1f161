import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnitKind, UnitStatus } from '#gen/lgsp/registry/v1/resources_pb.js';
import { asAdmin, asApp } from '../../../test/support/callers.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import { startTestRegistry } from './support.js';

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
const admin = asAdmin();

beforeAll(async () => {
  registry = await startTestRegistry();
});
afterAll(async () => {
  await registry?.close();
});

async function eventCount(): Promise<number> {
  const all = [];
  let pageToken = '';
  do {
    const page = await registry.client.listUnitEvents({ pageSize: 200, pageToken });
    all.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  return all.length;
}

describe('unit reads', () => {
  it('gets a unit by code', async () => {
    const { unit } = await registry.client.getUnit({ code: '000.00.03.H26' });
    expect(unit?.name).toBe('Sở Tài chính');
    expect(unit?.parentCode).toBe('000.00.00.H26');
    expect(unit?.status).toBe(UnitStatus.ACTIVE);
  });

  it.each(['28.22.H17', '999.010.01.H22', 'H26', '000.00.03.H2'])(
    'refuses the malformed code %s',
    async (code) => {
      const error = await expectCode(registry.client.getUnit({ code }), Code.InvalidArgument);
      expect(violatedFields(error)).toEqual(['code']);
    },
  );

  it('answers NotFound for a code never issued', async () => {
    const error = await expectCode(registry.client.getUnit({ code: '000.00.99.H26' }), Code.NotFound);
    expect(reasonOf(error)).toBe('UNIT_NOT_FOUND');
  });
});

describe('search', () => {
  it('finds "Sở Tài chính" from "so tai chinh", first', async () => {
    const { units } = await registry.client.searchUnits({ query: 'so tai chinh' });
    expect(units[0]?.code).toBe('000.00.03.H26');
  });

  it('ignores case and diacritics in either direction', async () => {
    for (const query of ['SỞ TÀI CHÍNH', 'tài chính', 'TAI CHINH']) {
      const { units } = await registry.client.searchUnits({ query });
      expect(units.map((u) => u.code)).toContain('000.00.03.H26');
    }
  });

  it('finds by exact code and ranks it first', async () => {
    const { units } = await registry.client.searchUnits({ query: '000.00.03.H26' });
    expect(units[0]?.code).toBe('000.00.03.H26');
  });

  it('finds by code prefix and paginates without overlap', async () => {
    const first = await registry.client.searchUnits({ query: '000.00.3', pageSize: 5 });
    expect(first.units).toHaveLength(5);
    expect(first.totalSize).toBeGreaterThan(5);
    const second = await registry.client.searchUnits({
      query: '000.00.3',
      pageSize: 5,
      pageToken: first.nextPageToken,
    });
    const codes = [...first.units, ...second.units].map((u) => u.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.every((c) => c.startsWith('000.00.3'))).toBe(true);
  });

  it('lists the units under a parent, filtered by kind', async () => {
    const { units } = await registry.client.searchUnits({
      parentCode: '000.00.00.H26',
      kind: UnitKind.DISTRICT,
      pageSize: 200,
    });
    expect(units.length).toBeGreaterThan(5);
    expect(units.every((u) => u.parentCode === '000.00.00.H26' && u.kind === UnitKind.DISTRICT)).toBe(true);
  });

  it('refuses a forged page token and an oversized page', async () => {
    const forged = await expectCode(
      registry.client.searchUnits({ query: 'so', pageToken: 'not-a-token' }),
      Code.InvalidArgument,
    );
    expect(violatedFields(forged)).toEqual(['page_token']);
    const big = await expectCode(
      registry.client.searchUnits({ query: 'so', pageSize: 10_000 }),
      Code.InvalidArgument,
    );
    expect(violatedFields(big)).toEqual(['page_size']);
  });
});

describe('creating units', () => {
  it('needs an administrator', async () => {
    await expectCode(
      registry.client.createUnit({
        code: '000.00.90.H26',
        name: 'X',
        parentCode: '000.00.00.H26',
        kind: UnitKind.OTHER,
      }),
      Code.Unauthenticated,
    );
    await expectCode(
      registry.client.createUnit(
        { code: '000.00.90.H26', name: 'X', parentCode: '000.00.00.H26', kind: UnitKind.OTHER },
        asApp('app_0000000000000001', '000.00.03.H26'),
      ),
      Code.PermissionDenied,
    );
  });

  it('creates a unit under an active parent and records it', async () => {
    const { unit } = await registry.client.createUnit(
      {
        code: '000.00.90.H26',
        name: 'Ban Quản lý dự án',
        parentCode: '000.00.00.H26',
        kind: UnitKind.DEPARTMENT,
        decisionRef: '123/QĐ-UBND',
      },
      admin,
    );
    expect(unit?.status).toBe(UnitStatus.ACTIVE);
    const { events } = await registry.client.listUnitEvents({ code: '000.00.90.H26' });
    expect(events.map((e) => e.decisionRef)).toEqual(['123/QĐ-UBND']);
  });

  it('refuses bad input and writes nothing', async () => {
    const before = await eventCount();
    const duplicate = await expectCode(
      registry.client.createUnit(
        { code: '000.00.03.H26', name: 'Trùng', parentCode: '000.00.00.H26', kind: UnitKind.OTHER },
        admin,
      ),
      Code.AlreadyExists,
    );
    expect(reasonOf(duplicate)).toBe('UNIT_CODE_TAKEN');
    const orphan = await expectCode(
      registry.client.createUnit(
        { code: '000.00.91.H26', name: 'Mồ côi', parentCode: '000.00.77.H26', kind: UnitKind.OTHER },
        admin,
      ),
      Code.NotFound,
    );
    expect(reasonOf(orphan)).toBe('UNIT_NOT_FOUND');
    const malformed = await expectCode(
      registry.client.createUnit(
        { code: '28.22.H17', name: '', parentCode: '999.010.01.H22', kind: 0 },
        admin,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(malformed).sort()).toEqual(['code', 'kind', 'name', 'parent_code']);
    expect(await eventCount()).toBe(before);
    await expectCode(registry.client.getUnit({ code: '000.00.91.H26' }), Code.NotFound);
  });
});

describe('lifecycle (Art. 7.2)', () => {
  it('renames keeping the code', async () => {
    await registry.client.createUnit(
      { code: '000.00.92.H26', name: 'Tên cũ', parentCode: '000.00.00.H26', kind: UnitKind.OTHER },
      admin,
    );
    const { unit } = await registry.client.renameUnit({ code: '000.00.92.H26', newName: 'Tên mới' }, admin);
    expect(unit?.name).toBe('Tên mới');
    const { units } = await registry.client.searchUnits({ query: 'ten moi' });
    expect(units.map((u) => u.code)).toContain('000.00.92.H26');
  });

  it('renames with a new code: the old code resolves to the new unit, children and apps follow', async () => {
    await registry.client.createUnit(
      { code: '000.00.93.H26', name: 'Sở A', parentCode: '000.00.00.H26', kind: UnitKind.DEPARTMENT },
      admin,
    );
    await registry.client.createUnit(
      { code: '000.01.93.H26', name: 'Phòng của Sở A', parentCode: '000.00.93.H26', kind: UnitKind.OTHER },
      admin,
    );
    const { app } = await registry.client.registerApp(
      { unitCode: '000.00.93.H26', name: 'QLVB Sở A', kind: 1, acceptedContentTypes: ['*/*'] },
      admin,
    );
    const { unit } = await registry.client.renameUnit(
      { code: '000.00.93.H26', newName: 'Sở A mới', newCode: '000.00.94.H26' },
      admin,
    );
    expect(unit?.code).toBe('000.00.94.H26');
    const resolved = await registry.client.resolveUnitCode({ code: '000.00.93.H26' });
    expect(resolved.unit?.status).toBe(UnitStatus.SUPERSEDED);
    expect(resolved.unit?.successorCodes).toEqual(['000.00.94.H26']);
    expect(resolved.current.map((u) => u.code)).toEqual(['000.00.94.H26']);
    expect(resolved.path).toHaveLength(1);
    expect((await registry.client.getUnit({ code: '000.01.93.H26' })).unit?.parentCode).toBe('000.00.94.H26');
    expect((await registry.client.getApp({ id: app!.id })).app?.unitCode).toBe('000.00.94.H26');
    await expectCode(
      registry.client.renameUnit({ code: '000.00.93.H26', newName: 'x' }, admin),
      Code.FailedPrecondition,
    );
  });

  it('refuses cycles in the tree', async () => {
    await registry.client.createUnit(
      { code: '000.00.95.H26', name: 'Cha', parentCode: '000.00.00.H26', kind: UnitKind.OTHER },
      admin,
    );
    await registry.client.createUnit(
      { code: '000.01.95.H26', name: 'Con', parentCode: '000.00.95.H26', kind: UnitKind.OTHER },
      admin,
    );
    await registry.client.createUnit(
      { code: '000.02.95.H26', name: 'Cháu', parentCode: '000.01.95.H26', kind: UnitKind.OTHER },
      admin,
    );
    const cycle = await expectCode(
      registry.client.moveUnit({ code: '000.00.95.H26', newParentCode: '000.02.95.H26' }, admin),
      Code.FailedPrecondition,
    );
    expect(reasonOf(cycle)).toBe('TREE_CYCLE');
    const self = await expectCode(
      registry.client.moveUnit({ code: '000.00.95.H26', newParentCode: '000.00.95.H26' }, admin),
      Code.InvalidArgument,
    );
    expect(violatedFields(self)).toEqual(['new_parent_code']);
    expect((await registry.client.getUnit({ code: '000.00.95.H26' })).unit?.parentCode).toBe('000.00.00.H26');
    const { unit } = await registry.client.moveUnit(
      { code: '000.02.95.H26', newParentCode: '000.00.95.H26' },
      admin,
    );
    expect(unit?.parentCode).toBe('000.00.95.H26');
  });

  it('splits a unit, placing every child; the old code resolves to both successors', async () => {
    await registry.client.createUnit(
      { code: '000.00.96.H26', name: 'Sở gộp', parentCode: '000.00.00.H26', kind: UnitKind.DEPARTMENT },
      admin,
    );
    await registry.client.createUnit(
      { code: '000.01.96.H26', name: 'Phòng 1', parentCode: '000.00.96.H26', kind: UnitKind.OTHER },
      admin,
    );
    const into = [
      { code: '000.00.97.H26', name: 'Sở tách 1' },
      { code: '000.00.98.H26', name: 'Sở tách 2' },
    ];
    const unplaced = await expectCode(
      registry.client.splitUnit({ code: '000.00.96.H26', into }, admin),
      Code.FailedPrecondition,
    );
    expect(reasonOf(unplaced)).toBe('CHILDREN_NOT_PLACED');
    await expectCode(registry.client.getUnit({ code: '000.00.97.H26' }), Code.NotFound);
    const { units } = await registry.client.splitUnit(
      {
        code: '000.00.96.H26',
        into,
        reassignments: [{ item: { case: 'childCode', value: '000.01.96.H26' }, toCode: '000.00.98.H26' }],
      },
      admin,
    );
    expect(units.map((u) => u.code)).toEqual(['000.00.97.H26', '000.00.98.H26']);
    const resolved = await registry.client.resolveUnitCode({ code: '000.00.96.H26' });
    expect(resolved.unit?.status).toBe(UnitStatus.SPLIT);
    expect(resolved.current.map((u) => u.code).sort()).toEqual(['000.00.97.H26', '000.00.98.H26']);
    expect((await registry.client.getUnit({ code: '000.01.96.H26' })).unit?.parentCode).toBe('000.00.98.H26');
  });

  it('merges units into an existing one and refuses merging into a dissolved unit', async () => {
    await registry.client.createUnit(
      { code: '000.00.81.H26', name: 'Nhập 1', parentCode: '000.00.00.H26', kind: UnitKind.OTHER },
      admin,
    );
    await registry.client.createUnit(
      { code: '000.00.82.H26', name: 'Nhập 2', parentCode: '000.00.00.H26', kind: UnitKind.OTHER },
      admin,
    );
    await registry.client.createUnit(
      { code: '000.00.83.H26', name: 'Giải thể', parentCode: '000.00.00.H26', kind: UnitKind.OTHER },
      admin,
    );
    await registry.client.dissolveUnit({ code: '000.00.83.H26', reason: 'test' }, admin);
    const before = await eventCount();
    const error = await expectCode(
      registry.client.mergeUnits(
        { codes: ['000.00.81.H26'], target: { case: 'intoCode', value: '000.00.83.H26' } },
        admin,
      ),
      Code.FailedPrecondition,
    );
    expect(reasonOf(error)).toBe('UNIT_NOT_ACTIVE');
    expect(await eventCount()).toBe(before);
    expect((await registry.client.getUnit({ code: '000.00.81.H26' })).unit?.status).toBe(UnitStatus.ACTIVE);

    const { unit } = await registry.client.mergeUnits(
      {
        codes: ['000.00.81.H26', '000.00.82.H26'],
        target: { case: 'intoNew', value: { code: '000.00.84.H26', name: 'Sau nhập' } },
      },
      admin,
    );
    expect(unit?.code).toBe('000.00.84.H26');
    for (const code of ['000.00.81.H26', '000.00.82.H26']) {
      const resolved = await registry.client.resolveUnitCode({ code });
      expect(resolved.unit?.status).toBe(UnitStatus.MERGED);
      expect(resolved.current.map((u) => u.code)).toEqual(['000.00.84.H26']);
    }
    await expectCode(
      registry.client.mergeUnits(
        { codes: ['000.00.84.H26', '000.00.84.H26'], target: { case: 'intoCode', value: '000.00.00.H26' } },
        admin,
      ),
      Code.InvalidArgument,
    );
  });

  it('dissolves only a unit without active children, suspending its apps', async () => {
    const blocked = await expectCode(
      registry.client.dissolveUnit({ code: '000.00.00.H26' }, admin),
      Code.FailedPrecondition,
    );
    expect(reasonOf(blocked)).toBe('UNIT_HAS_CHILDREN');
    await registry.client.createUnit(
      { code: '000.00.85.H26', name: 'Sẽ giải thể', parentCode: '000.00.00.H26', kind: UnitKind.OTHER },
      admin,
    );
    const { app } = await registry.client.registerApp(
      { unitCode: '000.00.85.H26', name: 'App', kind: 4, acceptedContentTypes: ['*/*'] },
      admin,
    );
    const { unit } = await registry.client.dissolveUnit(
      { code: '000.00.85.H26', successorCode: '000.00.02.H26' },
      admin,
    );
    expect(unit?.status).toBe(UnitStatus.DISSOLVED);
    expect(unit?.successorCodes).toEqual(['000.00.02.H26']);
    expect((await registry.client.getApp({ id: app!.id }, admin)).app?.status).toBe(2);
    expect(
      (await registry.client.resolveUnitCode({ code: '000.00.85.H26' })).current.map((u) => u.code),
    ).toEqual(['000.00.02.H26']);
  });
});
