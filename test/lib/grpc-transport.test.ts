import { Code, createClient } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Health, HealthCheckResponse_ServingStatus } from '#gen/grpc/health/v1/health_pb.js';
import { InvalidArgumentError } from '#lib/errors.js';
import { silentLogger } from '#lib/logger.js';
import { createGrpcTransport } from '#lib/rpc/grpc-transport.js';
import { type RpcServer, startRpcServer } from '#lib/rpc/server.js';
import { expectCode, violatedFields } from '../support/errors.js';

/** A replica that counts the calls it serves and fails on request, to see where calls land. */
async function replica(hits: { count: number }): Promise<RpcServer> {
  return startRpcServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    domain: 'test.lgsp',
    readMaxBytes: 1024 * 1024,
    routes: (router) =>
      router.service(Health, {
        check(req, ctx) {
          hits.count++;
          if (req.service === 'invalid')
            throw new InvalidArgumentError([{ field: 'service', description: 'bad' }]);
          if (req.service === 'slow') {
            return new Promise((resolve) =>
              setTimeout(() => resolve({ status: ctx.timeoutMs() ?? -1 }), 200),
            );
          }
          return { status: HealthCheckResponse_ServingStatus.SERVING };
        },
        async *watch(_req, ctx) {
          for (let i = 0; i < 3 && !ctx.signal.aborted; i++)
            yield { status: HealthCheckResponse_ServingStatus.SERVING };
        },
      }),
  });
}

const hitsA = { count: 0 };
const hitsB = { count: 0 };
let a: RpcServer;
let b: RpcServer;

beforeAll(async () => {
  a = await replica(hitsA);
  b = await replica(hitsB);
});
afterAll(async () => {
  await a?.close(100);
  await b?.close(100);
});

describe('the internal gRPC transport', () => {
  it('spreads calls over every replica of the callee', async () => {
    const transport = createGrpcTransport({ address: `ipv4:127.0.0.1:${a.port},127.0.0.1:${b.port}` });
    const client = createClient(Health, transport);
    hitsA.count = 0;
    hitsB.count = 0;
    for (let i = 0; i < 20; i++) await client.check({});
    transport.close();
    expect(hitsA.count + hitsB.count).toBe(20);
    expect(hitsA.count).toBeGreaterThanOrEqual(5);
    expect(hitsB.count).toBeGreaterThanOrEqual(5);
  });

  it('brings back the status code and typed error details', async () => {
    const transport = createGrpcTransport({ address: `127.0.0.1:${a.port}` });
    const error = await expectCode(
      createClient(Health, transport).check({ service: 'invalid' }),
      Code.InvalidArgument,
    );
    expect(violatedFields(error)).toEqual(['service']);
    transport.close();
  });

  it('passes the deadline to the server and enforces it', async () => {
    const transport = createGrpcTransport({ address: `127.0.0.1:${a.port}` });
    const client = createClient(Health, transport);
    const { status } = await client.check({ service: 'slow' }, { timeoutMs: 5_000 });
    expect(status).toBeGreaterThan(4_000);
    await expectCode(client.check({ service: 'slow' }, { timeoutMs: 50 }), Code.DeadlineExceeded);
    transport.close();
  });

  it('streams server responses', async () => {
    const transport = createGrpcTransport({ address: `127.0.0.1:${b.port}` });
    const statuses = [];
    for await (const res of createClient(Health, transport).watch({})) statuses.push(res.status);
    expect(statuses).toHaveLength(3);
    transport.close();
  });

  it('keeps answering through the live replica when one goes away', async () => {
    const hitsC = { count: 0 };
    const c = await replica(hitsC);
    const transport = createGrpcTransport({ address: `ipv4:127.0.0.1:${a.port},127.0.0.1:${c.port}` });
    const client = createClient(Health, transport);
    await client.check({});
    await c.close(0);
    for (let i = 0; i < 10; i++)
      expect((await client.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    transport.close();
  });
});
