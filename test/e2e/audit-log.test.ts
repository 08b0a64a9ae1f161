/**
 * The audit log through the whole platform (Art. 14.5): signed calls through
 * the gateway are recorded with their action, object, outcome, request and
 * trace id; a transfer's inline content never enters the log; administrators
 * read and verify it through the gateway. And what recording a call costs
 * the gateway.
 */
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import type { Interceptor } from '@connectrpc/connect';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import { createAuditRecorder } from '#lib/audit.js';
import { silentLogger } from '#lib/logger.js';
import { callerKey } from '#lib/rpc/caller.js';
import { auditCallsInterceptor } from '../../gateway/src/auth/audit-calls.js';
import { TEST_DATABASE_URL } from '../support/env.js';
import {
  type App,
  AUTH,
  call,
  grantSend,
  newApp,
  newUnit,
  ok,
  Platform,
  pendingDelivery,
  REGISTRY,
  sendJson,
  TRANSFER,
  until,
} from './transfers.support.js';

let platform: Platform;
let db: pg.Client;

beforeAll(async () => {
  platform = await Platform.start();
  db = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await db.connect();
}, 90_000);

afterAll(async () => {
  await db?.end();
  await platform?.close();
});

interface Row {
  seq: string;
  event_id: string;
  source: string;
  action: string;
  object: string;
  outcome: string;
  reason: string;
  request_id: string;
  trace_id: string;
  actor_app_id: string;
  actor_unit_code: string;
}

async function rowsOf(requestId: string): Promise<Row[]> {
  const table = `"${platform.schemaPrefix}auth".audit_log`;
  const { rows } = await db.query<Row>(`select * from ${table} where request_id = $1 order by seq`, [
    requestId,
  ]);
  return rows;
}

async function entriesOf(requestId: string, atLeast = 1): Promise<Row[]> {
  await until(async () => (await rowsOf(requestId)).length >= atLeast, 10_000, `audit rows of ${requestId}`);
  return rowsOf(requestId);
}

async function pair(): Promise<{ source: App; destination: App }> {
  const sourceUnit = await newUnit(platform, 'Nguồn');
  const destinationUnit = await newUnit(platform, 'Đích');
  const source = await newApp(platform, sourceUnit, 'QLVB nguồn');
  const destination = await newApp(platform, destinationUnit, 'QLVB đích');
  await grantSend(platform, source, destinationUnit);
  return { source, destination };
}

describe('the audit log through the gateway', () => {
  it('records signed calls with action, object, outcome, request and trace id, and never content', async () => {
    const { source, destination } = await pair();
    const marker = `noi-dung-mat-${randomUUID()}`;
    const content = Buffer.from(JSON.stringify({ noiDung: marker }));
    const transfer = await sendJson(platform, source, {
      recipients: [destination.unitCode],
      content,
      inline: true,
    });
    const delivery = await pendingDelivery(platform, destination, transfer.id);
    const acceptId = `accept-${randomUUID()}`;
    ok(
      await call(
        platform,
        TRANSFER,
        'AcceptDelivery',
        { deliveryId: delivery.id, preferInline: true },
        destination.signer,
        { requestId: acceptId },
      ),
    );

    // A small signed read: recorded by the gateway, with the transfer as its object.
    const readId = `read-${randomUUID()}`;
    ok(
      await call(platform, TRANSFER, 'GetTransfer', { transferId: transfer.id }, source.signer, {
        requestId: readId,
      }),
    );
    const [read] = await entriesOf(readId);
    expect(read).toMatchObject({
      source: 'gateway',
      action: `${TRANSFER}/GetTransfer`,
      object: transfer.id,
      outcome: 'SUCCEEDED',
      actor_app_id: source.id,
      actor_unit_code: source.unitCode,
    });
    expect(read!.trace_id).toMatch(/^[0-9a-f]{32}$/);
    const [accepted] = await entriesOf(acceptId);
    expect(accepted).toMatchObject({ action: `${TRANSFER}/AcceptDelivery`, object: delivery.id });

    // A refusal answered by a service is recorded once, by that service.
    const refusedId = `refused-${randomUUID()}`;
    const answer = await call(platform, TRANSFER, 'GetTransfer', { transferId: 'tr_nope' }, source.signer, {
      requestId: refusedId,
    });
    expect(answer.status).toBeGreaterThanOrEqual(400);
    const refusals = await entriesOf(refusedId);
    await new Promise((r) => setTimeout(r, 300));
    expect((await rowsOf(refusedId)).map((r) => [r.outcome, r.source])).toEqual([['REFUSED', 'transfer']]);
    expect(refusals[0]!.reason).not.toBe('');

    // No row holds the content, raw or in base64.
    const table = `"${platform.schemaPrefix}auth".audit_log`;
    const { rows } = await db.query(`select * from ${table}`);
    expect(rows.length).toBeGreaterThan(5);
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(marker);
    expect(dump).not.toContain(content.toString('base64'));
    expect(dump).not.toContain(content.toString('base64').slice(0, 24));
  });

  it('lets the administrator read and verify the log through the gateway', async () => {
    const requestId = `grants-${randomUUID()}`;
    ok(await call(platform, REGISTRY, 'ListGrants', {}, platform.admin, { requestId }));
    await entriesOf(requestId);
    const listed = ok(await call(platform, AUTH, 'ListAuditEvents', { requestId }, platform.admin));
    expect(listed.entries).toHaveLength(1);
    expect(listed.entries[0].event).toMatchObject({
      action: `${REGISTRY}/ListGrants`,
      outcome: 'AUDIT_OUTCOME_SUCCEEDED',
      source: 'gateway',
    });
    const verified = ok(await call(platform, AUTH, 'VerifyAuditLog', {}, platform.admin));
    expect(verified.intact).toBe(true);
    expect(Number(verified.entriesChecked)).toBeGreaterThan(5);
  });

  it('costs the gateway little per call: recording is not awaited', async () => {
    const audit = createAuditRecorder(platform.mesh.bus, platform.busPrefix, 'bench', silentLogger());
    const caller = create(CallerSchema, {
      kind: CallerKind.APP,
      appId: 'app_0123456789abcdef',
      unitCode: '000.00.03.H26',
      subject: 'LGSPAAAAAAAAAAAAAAAA',
      requestId: 'bench',
    });
    const request = {
      stream: false,
      service: TransferService,
      method: TransferService.method.getTransfer,
      message: { transferId: 'trf_0123456789abcdef' },
      contextValues: { get: (key: unknown) => (key === callerKey ? caller : undefined) },
    };
    const answer = { stream: false, message: {} };
    const next = async () => answer;
    const time = async (interceptor: Interceptor | undefined, n: number) => {
      const handler = (interceptor === undefined ? next : interceptor(next as never)) as (
        r: unknown,
      ) => Promise<unknown>;
      const started = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await handler(request);
      return Number(process.hrtime.bigint() - started) / n / 1000;
    };
    // On the call's path: building the event and handing it to the bus (a bus that only takes it).
    const taking = { ...platform.mesh.bus, publish: async () => ({ seq: 0, duplicate: false }) };
    const onPath = auditCallsInterceptor(
      createAuditRecorder(taking, platform.busPrefix, 'bench', silentLogger()),
    );
    // In all: also the JetStream publish and its ack, which the call does not wait for.
    const interceptor = auditCallsInterceptor(audit);
    await time(interceptor, 1_000);
    const bare = await time(undefined, 5_000);
    const handedOver = await time(onPath, 5_000);
    const recorded = await time(interceptor, 5_000);
    // Let the publishes under way finish before the calls through the gateway.
    await platform.mesh.bus.ping();
    await new Promise((r) => setTimeout(r, 1_000));
    // End to end, for scale: one signed small read through the gateway.
    const n = 100;
    const started = performance.now();
    for (let i = 0; i < n; i++)
      ok(await call(platform, REGISTRY, 'GetUnit', { code: '000.00.03.H26' }, platform.admin));
    const perCallMs = (performance.now() - started) / n;
    process.stdout.write(
      `audit-calls: ${(handedOver - bare).toFixed(1)} µs on the call's path, ` +
        `${(recorded - bare).toFixed(1)} µs of work per call with the publish (${bare.toFixed(2)} µs without); ` +
        `a signed GetUnit through the gateway takes ${perCallMs.toFixed(2)} ms\n`,
    );
    // A loose bound only: timings on a shared machine vary; the numbers are the point.
    expect(handedOver - bare).toBeLessThan(1_000);
  }, 60_000);
});
