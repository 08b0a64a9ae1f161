/**
 * The baseline: a bare connect-node server with nothing of the project in it
 * (no interceptors, no authentication, no upstream call, no database) serving
 * one trivial unsigned RPC, grpc.health.v1 Health/Check, which answers SERVING
 * at once. No bench-only proto is added: the Health service is already part
 * of every LGSP process.
 *
 * The same connect-node handler listens twice: on cleartext HTTP/2 for gRPC
 * (http2.createServer, no TLS) and on HTTP/1.1 for Connect JSON. Cleartext
 * HTTP/2 cannot share a port with HTTP/1.1 without the protocol sniffing the
 * gateway does (lib/rpc/server.ts), and that sniffing is part of what the
 * gateway scenarios measure, not of the baseline.
 *
 * The same handler also serves the gateway suite's baseline, an echo RPC
 * (gateway/echo.ts) whose descriptor exists only in the bench.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { Health, HealthCheckResponse_ServingStatus } from '#gen/grpc/health/v1/health_pb.js';
import { ECHO_METHOD } from './gateway/echo.js';

export interface BaselineServer {
  /** `127.0.0.1:<port>` of the HTTP/2 (gRPC) listener. */
  readonly grpcAddress: string;
  /** `http://127.0.0.1:<port>` of the HTTP/1.1 (Connect JSON) listener. */
  readonly jsonUrl: string;
  close(): Promise<void>;
}

export async function startBaselineServer(host = '127.0.0.1'): Promise<BaselineServer> {
  const handler = connectNodeAdapter({
    routes: (router) => {
      router.service(Health, {
        check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }),
      });
      // Answers the message it was sent, as it was decoded.
      router.rpc(ECHO_METHOD, (request) => request);
    },
  });
  const h2 = http2.createServer(handler);
  const h1 = http.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const h2Port = await listen(h2, host);
  const h1Port = await listen(h1, host);
  return {
    grpcAddress: `${host}:${h2Port}`,
    jsonUrl: `http://${host}:${h1Port}`,
    close: async () => {
      for (const session of sessions) session.destroy();
      h1.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => h2.close(() => resolve())),
        new Promise<void>((resolve) => h1.close(() => resolve())),
      ]);
    },
  };
}

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
