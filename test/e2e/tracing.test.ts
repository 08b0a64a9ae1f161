/**
 * Observability (Art. 13): one transfer's trace, from the gateway through the
 * services and across JetStream to the consumer that turns its event into a
 * notice, collected with an in-memory span exporter; and the platform's own
 * metrics on the Prometheus endpoint.
 */
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initTelemetry } from '#lib/telemetry.js';
import { call, grantSend, newApp, newUnit, ok, Platform, sendJson, until } from './transfers.support.js';

const NOTIFICATION = 'lgsp.notification.v1.NotificationService';
const exporter = new InMemorySpanExporter();
let platform: Platform;

beforeAll(async () => {
  // Before the mesh starts: the process-wide tracer provider is set up once.
  initTelemetry('e2e', {}, [new SimpleSpanProcessor(exporter)]);
  platform = await Platform.start();
});

afterAll(async () => {
  await platform?.close();
});

it('follows one transfer from the gateway through every service and across JetStream to its notice', async () => {
  const source = await newApp(platform, await newUnit(platform, 'Nguồn vết'), 'QLVB nguồn vết');
  const destination = await newApp(platform, await newUnit(platform, 'Đích vết'), 'QLVB đích vết');
  await grantSend(platform, source, destination.id);
  exporter.reset();

  const transfer = await sendJson(platform, source, {
    recipients: [destination.id],
    content: Buffer.from('{"trichYeu":"theo dấu một gói tin"}'),
    inline: true,
  });
  await until(
    async () => {
      const { notices } = ok(await call(platform, NOTIFICATION, 'ListNotices', {}, destination.signer));
      return (notices ?? []).some(
        (n: { newDelivery?: { delivery?: { transferId?: string } } }) =>
          n.newDelivery?.delivery?.transferId === transfer.id,
      );
    },
    10_000,
    'the NEW_DELIVERY notice',
  );

  const spans = exporter.getFinishedSpans();
  const root = spans.find(
    (s) =>
      s.instrumentationScope.name === 'lgsp.gateway' && s.name.endsWith('TransferService/CreateTransfer'),
  );
  expect(root, 'the gateway span of CreateTransfer').toBeDefined();
  const traceId = root!.spanContext().traceId;
  const offered = (s: ReadableSpan) =>
    s.instrumentationScope.name === 'lgsp.bus' &&
    s.name.startsWith('notification') &&
    /\.transfer\.offered\./.test(String(s.attributes['messaging.destination.name']));
  const inTrace = await waitForSpans(traceId, (found) => found.some(offered));
  const scopes = new Set(inTrace.map((s) => s.instrumentationScope.name));
  expect([...scopes].sort()).toEqual(
    expect.arrayContaining(['lgsp.bus', 'lgsp.gateway', 'lgsp.registry', 'lgsp.transfer']),
  );
  // The service's span is a child of the gateway's; the consumer's continues the same trace.
  const service = inTrace.find(
    (s) =>
      s.instrumentationScope.name === 'lgsp.transfer' && s.name.endsWith('TransferService/CreateTransfer'),
  );
  expect(service?.parentSpanContext?.spanId).toBeDefined();
  expect(inTrace.filter(offered).length).toBeGreaterThanOrEqual(1);
});

it('exposes transfers by state, the delivery backlog, online apps and webhook calls on /metrics', async () => {
  const text = await (await fetch(`${platform.url}/metrics`)).text();
  for (const metric of [
    'lgsp_rpc_server_requests_total',
    'lgsp_transfer_state_changes_total',
    'lgsp_delivery_backlog',
    'lgsp_presence_online_apps',
  ]) {
    expect(text, metric).toContain(metric);
  }
});

async function waitForSpans(
  traceId: string,
  done: (spans: ReadableSpan[]) => boolean,
): Promise<ReadableSpan[]> {
  let found: ReadableSpan[] = [];
  await until(
    async () => {
      found = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      return done(found);
    },
    10_000,
    'the consumer span in the same trace',
  );
  return found;
}
