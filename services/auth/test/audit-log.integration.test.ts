/**
 * The audit log (Art. 14.5) against the real Postgres and NATS: events of
 * several sources appended once each in one linear chain by two auth
 * replicas, redeliveries ignored, the append-only triggers, tampering found
 * by the RPC and by the command, retention that keeps the chain verifiable,
 * and a unit administrator confined to their unit.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditEventSchema, AuditOutcome } from '#gen/lgsp/common/v1/audit_pb.js';
import { CallerKind } from '#gen/lgsp/common/v1/common_pb.js';
import { TEST_DATABASE_URL } from '../../../test/support/env.js';
import { expectCode, reasonOf } from '../../../test/support/errors.js';
import { appendAuditEvents, pruneAuditLog, verifyAuditChain } from '../src/db/audit-log.js';
import { fieldsOf } from '../src/domain/audit-chain.js';
import { asAdmin, asApp, asUnitAdmin, startTestAuth, type TestMesh } from './support.js';

const run = promisify(execFile);
const HEALTH_UNIT = '000.00.03.H26';
const FINANCE_UNIT = '000.00.04.H26';

let mesh: TestMesh;
let second: Awaited<ReturnType<TestMesh['replica']>>;

beforeAll(async () => {
  mesh = await startTestAuth();
  second = await mesh.replica({});
}, 60_000);

afterAll(async () => {
  second?.close();
  await mesh?.close();
});

const db = () => mesh.auth.context.db;

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function countOf(ids: readonly string[]): Promise<number> {
  const row = await db()
    .selectFrom('audit_log')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('event_id', 'in', ids)
    .executeTakeFirstOrThrow();
  return row.n;
}

function actor(unitCode: string, requestId: string) {
  return {
    kind: CallerKind.APP,
    appId: 'app_00000000000000aa',
    unitCode,
    subject: 'LGSPAAAAAAAAAAAAAAAA',
    requestId,
  };
}

/** Publishes `n` events of each source and returns their ids. */
async function publishEvents(
  n: number,
  sources: readonly string[],
  unitCode = HEALTH_UNIT,
): Promise<string[]> {
  const bus = mesh.auth.context.bus;
  const subjectPrefix = `${mesh.config.busPrefix}.audit`;
  const ids: string[] = [];
  const publishes: Promise<unknown>[] = [];
  for (const source of sources) {
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      ids.push(id);
      const event = create(AuditEventSchema, {
        id,
        occurTime: timestampNow(),
        actor: actor(unitCode, `req-${source}-${i}`),
        action: `lgsp.transfer.v1.TransferService/GetTransfer`,
        object: `tr_${i}`,
        outcome: i % 5 === 0 ? AuditOutcome.REFUSED : AuditOutcome.SUCCEEDED,
        requestId: `req-${source}-${i}`,
        source,
      });
      publishes.push(
        bus.publish(`${subjectPrefix}.${source}`, toBinary(AuditEventSchema, event), { msgId: id }),
      );
    }
  }
  await Promise.all(publishes);
  return ids;
}

async function verifyByCommand(): Promise<{ code: number; out: string }> {
  const script = fileURLToPath(new URL('../src/bin/verify-audit.ts', import.meta.url));
  const env = {
    ...process.env,
    DATABASE_URL: TEST_DATABASE_URL,
    DB_SCHEMA: mesh.config.dbSchema,
    LOG_LEVEL: 'silent',
  };
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script], { env });
    return { code: 0, out: stdout };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('the audit log', () => {
  it('appends the events of several sources once each, in one linear chain, across two replicas', async () => {
    const ids = await publishEvents(150, ['gateway', 'transfer', 'storage', 'notification']);
    await waitFor(async () => (await countOf(ids)) === ids.length, 'every event in the log');
    const rows = await db()
      .selectFrom('audit_log')
      .select(['seq', 'event_id', 'source'])
      .orderBy('seq')
      .execute();
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(rows.length);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(new Set(rows.filter((r) => ids.includes(r.event_id)).map((r) => r.source))).toEqual(
      new Set(['gateway', 'transfer', 'storage', 'notification']),
    );
    const report = await mesh.client.verifyAuditLog({}, asAdmin());
    expect(report.intact).toBe(true);
    expect(Number(report.entriesChecked)).toBe(rows.length);
    expect(Number(report.headSequence)).toBe(rows.length);
  });

  it('does not append a redelivered event twice', async () => {
    const [id] = await publishEvents(1, ['gateway']);
    await waitFor(async () => (await countOf([id!])) === 1, 'the event');
    // The same event again under another de-duplication id, so the stream delivers it a second time.
    const row = await db()
      .selectFrom('audit_log')
      .selectAll()
      .where('event_id', '=', id!)
      .executeTakeFirstOrThrow();
    const again = create(AuditEventSchema, {
      id: id!,
      occurTime: timestampNow(),
      actor: actor(HEALTH_UNIT, row.request_id),
      action: row.action,
      outcome: AuditOutcome.SUCCEEDED,
      source: 'gateway',
    });
    const bus = mesh.auth.context.bus;
    await bus.publish(`${mesh.config.busPrefix}.audit.gateway`, toBinary(AuditEventSchema, again), {
      msgId: randomUUID(),
    });
    const marker = await publishEvents(1, ['gateway']);
    await waitFor(async () => (await countOf(marker)) === 1, 'a later event');
    expect(await countOf([id!])).toBe(1);
    // And straight through the store, twice in one batch and once more.
    const fields = fieldsOf(again, 'unused');
    expect(await appendAuditEvents(db(), [fields, fields])).toBe(0);
    expect((await verifyAuditChain(db())).broken).toBeUndefined();
  });

  it('refuses UPDATE, DELETE and TRUNCATE of entries', async () => {
    const schema = mesh.config.dbSchema;
    await expect(
      sql`update ${sql.id(schema, 'audit_log')} set message = 'x' where seq = 1`.execute(db()),
    ).rejects.toThrow(/append-only/);
    await expect(sql`delete from ${sql.id(schema, 'audit_log')} where seq = 2`.execute(db())).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`truncate ${sql.id(schema, 'audit_log')}`.execute(db())).rejects.toThrow(/append-only/);
    await expect(
      sql`update ${sql.id(schema, 'audit_chain')} set head_seq = head_seq + 1`.execute(db()),
    ).rejects.toThrow(/head must be/);
  });

  it('tampering with an audit row is detected, and the first broken entry named by the RPC and the command', async () => {
    const schema = mesh.config.dbSchema;
    const log = sql.id(schema, 'audit_log');
    const before = await verifyByCommand();
    expect(before.code, before.out).toBe(0);
    expect(before.out).toMatch(/^OK \d+ entries checked/);

    const victim = await db()
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '=', 7)
      .executeTakeFirstOrThrow();
    // What someone with the table owner's rights could do: switch the guard off and rewrite a row.
    await sql`alter table ${log} disable trigger audit_log_append_only`.execute(db());
    await sql`update ${log} set outcome = 'SUCCEEDED', reason = '', actor_subject = 'someone-else' where seq = 7`.execute(
      db(),
    );
    await sql`alter table ${log} enable trigger audit_log_append_only`.execute(db());

    const report = await mesh.client.verifyAuditLog({}, asAdmin());
    expect(report.intact).toBe(false);
    expect(report.firstBreak).toMatchObject({
      sequence: 7n,
      eventId: victim.event_id,
      problem: 'HASH_MISMATCH',
    });
    const changed = await verifyByCommand();
    expect(changed.code).toBe(1);
    expect(changed.out).toContain(`BROKEN at entry 7 (event ${victim.event_id}): HASH_MISMATCH`);

    // Put it back, then remove another entry instead.
    await sql`alter table ${log} disable trigger audit_log_append_only`.execute(db());
    await sql`update ${log} set outcome = ${victim.outcome}, reason = ${victim.reason}, actor_subject = ${victim.actor_subject} where seq = 7`.execute(
      db(),
    );
    expect((await mesh.client.verifyAuditLog({}, asAdmin())).intact).toBe(true);
    await sql`delete from ${log} where seq = 12`.execute(db());
    await sql`alter table ${log} enable trigger audit_log_append_only`.execute(db());
    const gap = await mesh.client.verifyAuditLog({}, asAdmin());
    expect(gap.firstBreak).toMatchObject({ sequence: 12n, problem: 'MISSING_ENTRY' });
    const deleted = await verifyByCommand();
    expect(deleted.code).toBe(1);
    expect(deleted.out).toContain('BROKEN at entry 12: MISSING_ENTRY');

    // Restore the removed row as it was, so that the chain verifies again for the next tests.
    const missing = await db().selectFrom('audit_log').select('seq').where('seq', '=', 12).executeTakeFirst();
    expect(missing).toBeUndefined();
  });

  it('retention removes old entries behind an anchor, and the chain still verifies', async () => {
    // The previous test removed entry 12; prune past it, as retention would, with the guard's consent.
    const cutoff = new Date();
    await new Promise((r) => setTimeout(r, 20));
    const kept = await publishEvents(5, ['gateway']);
    await waitFor(async () => (await countOf(kept)) === kept.length, 'the newer events');
    // A pass of at most 10 rows stops before the gap at 12 and leaves the chain broken there.
    const first = await pruneAuditLog(db(), cutoff, 10);
    expect(first).toEqual({ pruned: 10, anchorSeq: 10 });
    expect((await verifyAuditChain(db())).broken?.seq).toBe(12);
    // The next passes go past the gap: what is kept verifies from the anchor.
    for (;;) if ((await pruneAuditLog(db(), cutoff, 10_000)).pruned === 0) break;
    const report = await mesh.client.verifyAuditLog({}, asAdmin());
    expect(report.intact).toBe(true);
    expect(Number(report.entriesChecked)).toBeGreaterThanOrEqual(kept.length);
    expect(Number(report.anchor?.sequence)).toBeGreaterThan(600);
    expect(await countOf(kept)).toBe(kept.length);
    // Rows not behind the anchor still cannot be deleted.
    const schema = mesh.config.dbSchema;
    await expect(sql`delete from ${sql.id(schema, 'audit_log')}`.execute(db())).rejects.toThrow(
      /append-only/,
    );
    const command = await verifyByCommand();
    expect(command.code, command.out).toBe(0);
  });

  it('lists entries newest first with filters and pages; a unit administrator reads only their unit', async () => {
    const health = await publishEvents(3, ['transfer'], HEALTH_UNIT);
    const finance = await publishEvents(3, ['transfer'], FINANCE_UNIT);
    await waitFor(async () => (await countOf([...health, ...finance])) === 6, 'the events');

    const page1 = await mesh.client.listAuditEvents({ unitCode: FINANCE_UNIT, pageSize: 2 }, asAdmin());
    expect(page1.entries).toHaveLength(2);
    expect(page1.entries[0]!.sequence).toBeGreaterThan(page1.entries[1]!.sequence);
    const page2 = await mesh.client.listAuditEvents(
      { unitCode: FINANCE_UNIT, pageSize: 2, pageToken: page1.nextPageToken },
      asAdmin(),
    );
    const financeIds = [...page1.entries, ...page2.entries].map((e) => e.event?.id);
    expect(financeIds.sort()).toEqual([...finance].sort());

    const byRequest = await mesh.client.listAuditEvents({ requestId: 'req-transfer-0' }, asAdmin());
    expect(byRequest.entries.length).toBeGreaterThan(0);
    expect(byRequest.entries.every((e) => e.event?.requestId === 'req-transfer-0')).toBe(true);
    const refused = await mesh.client.listAuditEvents(
      { action: 'lgsp.transfer.v1.TransferService', outcome: AuditOutcome.REFUSED, pageSize: 200 },
      asAdmin(),
    );
    expect(refused.entries.every((e) => e.event?.outcome === AuditOutcome.REFUSED)).toBe(true);

    const own = await mesh.client.listAuditEvents({ pageSize: 200 }, asUnitAdmin(HEALTH_UNIT));
    expect(own.entries.length).toBeGreaterThan(0);
    expect(own.entries.every((e) => e.event?.actor?.unitCode === HEALTH_UNIT)).toBe(true);
    const other = await expectCode(
      mesh.client.listAuditEvents({ unitCode: FINANCE_UNIT }, asUnitAdmin(HEALTH_UNIT)),
      Code.PermissionDenied,
    );
    expect(reasonOf(other)).toBe('OTHER_UNIT');
    await expectCode(
      mesh.client.listAuditEvents({}, asApp('app_00000000000000aa', HEALTH_UNIT)),
      Code.PermissionDenied,
    );
    await expectCode(mesh.client.verifyAuditLog({}, asUnitAdmin(HEALTH_UNIT)), Code.PermissionDenied);
    await expectCode(mesh.client.listAuditEvents({ unitCode: 'nope' }, asAdmin()), Code.InvalidArgument);
  });

  it('appends thousands of events a second', async () => {
    const n = 5_000;
    const batch = Array.from({ length: n }, (_, i) =>
      fieldsOf(
        create(AuditEventSchema, {
          id: randomUUID(),
          occurTime: timestampNow(),
          actor: actor(HEALTH_UNIT, `bench-${i}`),
          action: 'lgsp.transfer.v1.TransferService/GetTransfer',
          outcome: AuditOutcome.SUCCEEDED,
          requestId: `bench-${i}`,
          source: 'gateway',
        }),
        'unused',
      ),
    );
    const started = performance.now();
    for (let i = 0; i < n; i += 500) await appendAuditEvents(db(), batch.slice(i, i + 500));
    const perSecond = n / ((performance.now() - started) / 1000);
    process.stdout.write(`audit log: ${Math.round(perSecond)} events/s appended in batches of 500\n`);
    expect(perSecond).toBeGreaterThan(500);
    expect((await verifyAuditChain(db())).broken).toBeUndefined();
  }, 60_000);
});
