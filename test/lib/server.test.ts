import http from 'node:http';
import net from 'node:net';
import { createClient } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { Health, HealthCheckResponse_ServingStatus } from '#gen/grpc/health/v1/health_pb.js';
import { silentLogger } from '#lib/logger.js';
import { createGrpcTransport } from '#lib/rpc/grpc-transport.js';
import { startRpcServer } from '#lib/rpc/server.js';

function slowServer(delayMs: number) {
  return startRpcServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    domain: 'test.lgsp',
    readMaxBytes: 1024,
    routes: (router) =>
      router.service(Health, {
        check: () =>
          new Promise((resolve) =>
            setTimeout(() => resolve({ status: HealthCheckResponse_ServingStatus.SERVING }), delayMs),
          ),
      }),
    httpRoutes: { '/hello': (_req, res) => res.end('hello') },
  });
}

describe('one port for HTTP/2 and HTTP/1.1', () => {
  it('serves gRPC over h2c and JSON and plain routes over HTTP/1.1', async () => {
    const server = await slowServer(0);
    try {
      const transport = createGrpcTransport({ address: `127.0.0.1:${server.port}` });
      expect((await createClient(Health, transport).check({})).status).toBe(
        HealthCheckResponse_ServingStatus.SERVING,
      );
      transport.close();
      const json = await fetch(`${server.url}/grpc.health.v1.Health/Check`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(await json.json()).toEqual({ status: 'SERVING' });
      expect(await (await fetch(`${server.url}/hello`)).text()).toBe('hello');
      expect((await fetch(`${server.url}/nowhere`)).status).toBe(404);
    } finally {
      await server.close(100);
    }
  });

  it('answers a garbage request line with 400 and keeps serving', async () => {
    const server = await slowServer(0);
    try {
      const reply = await new Promise<string>((resolve) => {
        const socket = net.connect(server.port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
        let data = '';
        socket.on('data', (chunk: Buffer) => {
          data += chunk.toString();
        });
        socket.on('close', () => resolve(data));
      });
      expect(reply).toMatch(/^HTTP\/1\.1 400/);
      expect((await fetch(`${server.url}/hello`)).status).toBe(200);
    } finally {
      await server.close(100);
    }
  });
});

describe('graceful shutdown', () => {
  it('lets in-flight calls finish and refuses new connections', async () => {
    const server = await slowServer(300);
    const transport = createGrpcTransport({ address: `127.0.0.1:${server.port}` });
    const inFlight = createClient(Health, transport).check({});
    await new Promise((r) => setTimeout(r, 50));
    const closed = server.close(5_000);
    expect((await inFlight).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await closed;
    transport.close();
    await expect(
      new Promise((resolve, reject) => http.get(`${server.url}/hello`, resolve).on('error', reject)),
    ).rejects.toThrow(/ECONNREFUSED/);
  });
});
