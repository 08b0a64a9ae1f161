/**
 * The public edge's transport: TLS with ALPN choosing HTTP/2 or HTTP/1.1 on
 * one port, CORS for browsers, and a client whose request trickles in.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Health, HealthCheckResponse_ServingStatus } from '#gen/grpc/health/v1/health_pb.js';
import { silentLogger } from '#lib/logger.js';
import { type RpcServer, startRpcServer } from '#lib/rpc/server.js';

const run = promisify(execFile);

function healthServer(extra: Partial<Parameters<typeof startRpcServer>[0]> = {}) {
  return startRpcServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    domain: 'test.lgsp',
    readMaxBytes: 64 * 1024,
    routes: (router) =>
      router.service(Health, { check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }) }),
    ...extra,
  });
}

describe('TLS', () => {
  let dir: string;
  let cert: Buffer;
  let server: RpcServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lgsp-tls-'));
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    cert = readFileSync(join(dir, 'cert.pem'));
    server = await healthServer({ tls: { cert, key: readFileSync(join(dir, 'key.pem')) } });
  });
  afterAll(async () => {
    await server?.close(100);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves https and offers h2 and http/1.1 by ALPN', async () => {
    expect(server.url).toMatch(/^https:\/\//);
    for (const protocol of ['h2', 'http/1.1']) {
      const chosen = await new Promise<string | false>((resolve, reject) => {
        const socket = tls.connect(
          {
            host: '127.0.0.1',
            port: server.port,
            ca: cert,
            servername: 'localhost',
            ALPNProtocols: [protocol],
          },
          () => {
            resolve(socket.alpnProtocol ?? false);
            socket.end();
          },
        );
        socket.on('error', reject);
      });
      expect(chosen).toBe(protocol);
    }
  });

  it('answers Connect JSON over HTTP/1.1 and over HTTP/2 on the same port', async () => {
    const viaH1 = await new Promise<string>((resolve, reject) => {
      const req = https.request(
        `${server.url}/grpc.health.v1.Health/Check`,
        { method: 'POST', ca: cert, headers: { 'content-type': 'application/json' } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString();
          });
          res.on('end', () => resolve(`${res.httpVersion} ${body}`));
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    expect(viaH1).toBe('1.1 {"status":"SERVING"}');

    const session = http2.connect(server.url, { ca: cert });
    try {
      const viaH2 = await new Promise<string>((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/grpc.health.v1.Health/Check',
          'content-type': 'application/json',
        });
        let body = '';
        stream.on('data', (c: Buffer) => {
          body += c.toString();
        });
        stream.on('end', () => resolve(body));
        stream.on('error', reject);
        stream.end('{}');
      });
      expect(viaH2).toBe('{"status":"SERVING"}');
    } finally {
      session.close();
    }
  });

  it('refuses a cleartext request on the TLS port without harm to others', async () => {
    const reply = await new Promise<string>((resolve) => {
      const socket = net.connect(server.port, '127.0.0.1', () =>
        socket.write('GET /healthz HTTP/1.1\r\n\r\n'),
      );
      let data = '';
      socket.on('data', (c: Buffer) => {
        data += c.toString('latin1');
      });
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
    });
    expect(reply).not.toMatch(/^HTTP\/1\.1 200/);
    const session = http2.connect(server.url, { ca: cert });
    session.on('error', () => undefined);
    const status = await new Promise((resolve) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/grpc.health.v1.Health/Check',
        'content-type': 'application/json',
      });
      stream.on('response', (headers) => resolve(headers[':status']));
      stream.end('{}');
    });
    session.close();
    expect(status).toBe(200);
  });
});

describe('CORS', () => {
  let server: RpcServer;
  beforeAll(async () => {
    server = await healthServer({
      cors: {
        origins: ['https://portal.example.gov.vn'],
        extraHeaders: ['lgsp-signature'],
        extraExposed: ['retry-after'],
      },
    });
  });
  afterAll(async () => {
    await server?.close(100);
  });

  it('answers a preflight from an allowed origin with what may be sent', async () => {
    const res = await fetch(`${server.url}/grpc.health.v1.Health/Check`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://portal.example.gov.vn',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, lgsp-signature',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://portal.example.gov.vn');
    expect(res.headers.get('access-control-allow-headers')).toContain('lgsp-signature');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
  });

  it('lets an allowed page read the answer and its status headers', async () => {
    const res = await fetch(`${server.url}/grpc.health.v1.Health/Check`, {
      method: 'POST',
      headers: { origin: 'https://portal.example.gov.vn', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(await res.json()).toEqual({ status: 'SERVING' });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://portal.example.gov.vn');
    expect(res.headers.get('access-control-expose-headers')).toContain('retry-after');
  });

  it('gives another origin no CORS headers, and its preflight no answer of its own', async () => {
    const res = await fetch(`${server.url}/grpc.health.v1.Health/Check`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
    });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.status).not.toBe(204);
  });
});

describe('a slow client', () => {
  it('whose headers trickle in is cut off with 408, while other clients are served', async () => {
    const server = await healthServer({ headersTimeoutMs: 1_000 });
    try {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        'POST /grpc.health.v1.Health/Check HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n',
      );
      const ended = new Promise<string>((resolve) => {
        let data = '';
        socket.on('data', (c: Buffer) => {
          data += c.toString('latin1');
        });
        socket.on('close', () => resolve(data));
      });
      // Meanwhile another client is answered at once.
      const other = await fetch(`${server.url}/grpc.health.v1.Health/Check`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(other.status).toBe(200);
      expect(await ended).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await server.close(100);
    }
  });

  it('whose signed body trickles in is answered deadline_exceeded, readable as JSON', async () => {
    const server = await healthServer({ digestBody: () => true, bodyTimeoutMs: 500 });
    try {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        'POST /grpc.health.v1.Health/Check HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{',
      );
      const reply = await new Promise<string>((resolve) => {
        let data = '';
        socket.on('data', (c: Buffer) => {
          data += c.toString('utf8');
        });
        socket.on('close', () => resolve(data));
      });
      expect(reply).toMatch(/^HTTP\/1\.1 408/);
      expect(reply).toContain('"code":"deadline_exceeded"');
    } finally {
      await server.close(100);
    }
  });
});

describe('a body that does not decode', () => {
  it('is answered invalid_argument in the protocol the client spoke, and reported', async () => {
    const refused: string[] = [];
    const server = await healthServer({
      digestBody: () => true,
      checkBody: (path, contentType) => `${path} cannot take this ${contentType}`,
      onBodyRefused: (_headers, path) => refused.push(path),
    });
    const post = (contentType: string) =>
      fetch(`${server.url}/grpc.health.v1.Health/Check`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: 'garbage',
      });
    try {
      const unary = await post('application/json');
      expect(unary.status).toBe(400);
      expect(await unary.json()).toEqual({
        code: 'invalid_argument',
        message: '/grpc.health.v1.Health/Check cannot take this application/json',
      });

      const streaming = Buffer.from(await (await post('application/connect+json')).arrayBuffer());
      expect(streaming[0]).toBe(0b10);
      expect(JSON.parse(streaming.subarray(5).toString())).toMatchObject({
        error: { code: 'invalid_argument' },
      });

      const web = await post('application/grpc-web+proto');
      expect(web.headers.get('grpc-status')).toBe('3');
      const trailer = Buffer.from(await web.arrayBuffer());
      expect(trailer[0]).toBe(0x80);
      expect(trailer.subarray(5).toString()).toContain('grpc-status:3');
      expect(refused).toHaveLength(3);
    } finally {
      await server.close(100);
    }
  });
});
