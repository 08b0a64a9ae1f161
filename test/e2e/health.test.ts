/**
 * What probes and monitoring see: liveness, readiness with its checks,
 * Prometheus metrics, and the standard gRPC health service, on the gateway
 * and on every service of the mesh.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callUnary, type E2eMesh, loadGrpcService, postJson, SERVICES, startE2eMesh } from './support.js';

let e2e: E2eMesh;
let Health: grpc.ServiceClientConstructor;
const clients: grpc.Client[] = [];

beforeAll(async () => {
  e2e = await startE2eMesh();
  Health = loadGrpcService('grpc/health/v1/health.proto', 'grpc.health.v1.Health');
});

afterAll(async () => {
  for (const client of clients) client.close();
  await e2e?.close();
});

function healthClient(address: string): grpc.Client {
  const client = new Health(address, grpc.credentials.createInsecure());
  clients.push(client);
  return client;
}

async function get(url: string): Promise<{ status: number; contentType: string | null; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
}

describe('gateway', () => {
  it('is alive', async () => {
    const res = await get(`${e2e.url}/healthz`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ status: 'ok' });
  });

  it('is ready, with a check per upstream and one for the bus', async () => {
    // Each check has 2 s to answer: on a saturated machine one may miss once; it is ready again next time.
    let res = await get(`${e2e.url}/readyz`);
    for (let i = 0; i < 5 && res.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      res = await get(`${e2e.url}/readyz`);
    }
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text);
    expect(body.status).toBe('ready');
    const ok = { ok: true };
    expect(body.checks).toEqual({
      bus: ok,
      ...Object.fromEntries(SERVICES.map((service) => [service, ok])),
    });
  });

  it('exposes lgsp_rpc_server_requests in /metrics once a call was made', async () => {
    const answer = await postJson(e2e.url, 'GetUnit', { code: '000.00.03.H26' });
    expect(answer.status).toBe(200);
    const res = await get(`${e2e.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^text\/plain/);
    const samples = res.text
      .split('\n')
      .filter((line) => line.startsWith('lgsp_rpc_server_requests') && !line.startsWith('#'));
    const gateway = samples.filter(
      (line) =>
        line.includes('method="lgsp.registry.v1.RegistryService/GetUnit"') &&
        line.includes('code="ok"') &&
        line.includes('otel_scope_name="lgsp.gateway"'),
    );
    expect(gateway, samples.join('\n')).toHaveLength(1);
    expect(Number(gateway[0]?.split(' ').at(-1))).toBeGreaterThanOrEqual(1);
    expect(res.text).toContain('lgsp_rpc_server_duration_seconds_bucket');
  });

  it('answers grpc.health.v1 Check with SERVING', async () => {
    const { response, error } = await callUnary(healthClient(e2e.address), 'check', {});
    expect(error).toBeUndefined();
    expect(response.status).toBe('SERVING');
  });
});

describe('each service of the mesh', () => {
  it('answers its own /healthz and /readyz', async () => {
    expect(e2e.mesh.services.map((s) => s.name).sort()).toEqual(
      ['auth', 'notification', 'registry', 'sso', 'storage', 'transfer'].sort(),
    );
    for (const service of e2e.mesh.services) {
      expect((await get(`${service.url}/healthz`)).status, service.name).toBe(200);
      const res = await get(`${service.url}/readyz`);
      expect(res.status, service.name).toBe(200);
      expect(JSON.parse(res.text), service.name).toEqual({
        status: 'ready',
        checks: { postgres: { ok: true }, bus: { ok: true } },
      });
    }
  });

  it('answers grpc.health.v1 Check with SERVING', async () => {
    for (const service of e2e.mesh.services) {
      const { response, error } = await callUnary(healthClient(new URL(service.url).host), 'check', {});
      expect(error, service.name).toBeUndefined();
      expect(response.status, service.name).toBe('SERVING');
    }
  });
});
