/**
 * One listening port for everything a process serves: gRPC over cleartext
 * HTTP/2, and Connect/gRPC-Web over HTTP/1.1 (legacy JSON clients) — plus plain
 * HTTP routes such as /healthz and /metrics. Cleartext HTTP/2 and HTTP/1.1
 * cannot share a port through ALPN (there is no TLS), so the first bytes of
 * each connection pick the protocol: every HTTP/2 connection opens with the
 * fixed client preface "PRI * HTTP/2.0".
 */

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { ConnectRouter, ContextValues, Interceptor } from '@connectrpc/connect';
import { createContextValues } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Logger } from '../logger.js';
import { bodyDigestKey, bufferBody, digestOf } from './body-digest.js';
import { CALLER_HEADER, callerKey, decodeCaller, REQUEST_ID_HEADER } from './caller.js';
import { errorInterceptor } from './error-interceptor.js';

const H2_SESSION_MEMORY_MB = 128;

type NodeHandler = Parameters<typeof connectNodeAdapter>[0]['fallback'] & {};
export type HttpRoute = (req: Parameters<NodeHandler>[0], res: Parameters<NodeHandler>[1]) => void;

export interface RpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  /** Error domain in ErrorInfo details, e.g. `registry.lgsp`. */
  readonly domain: string;
  readonly routes: (router: ConnectRouter) => void;
  readonly readMaxBytes: number;
  /** Run outside the error interceptor, so they see the final status (metrics, tracing). */
  readonly interceptors?: readonly Interceptor[];
  /** Run inside the error interceptor, so their refusals are mapped and logged (authorization). */
  readonly guards?: readonly Interceptor[];
  /**
   * Refuse JSON fields the schema does not know. The public edge sets it, so that a legacy client's
   * misspelt field is an error instead of a silently missing value. Default false.
   */
  readonly rejectUnknownJsonFields?: boolean;
  /** Plain HTTP endpoints by exact path (GET). */
  readonly httpRoutes?: Readonly<Record<string, HttpRoute>>;
  /**
   * Builds the per-request context values. Default: the caller from internal
   * metadata, which only the gateway and peer services can set.
   */
  readonly contextValues?: (headers: http.IncomingHttpHeaders) => ContextValues;
  /**
   * Requests for which the raw body is read and hashed before Connect decodes it (signed
   * requests); the digest is in the `bodyDigestKey` context value.
   */
  readonly digestBody?: (headers: http.IncomingHttpHeaders) => boolean;
}

export interface RpcServer {
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  /** Stops accepting, lets in-flight calls finish for up to `graceMs`, then cuts what is left. */
  close(graceMs?: number): Promise<void>;
}

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0');

export function internalContextValues(headers: http.IncomingHttpHeaders): ContextValues {
  const values = createContextValues();
  const caller = decodeCaller(headerValue(headers[CALLER_HEADER]));
  const requestId = headerValue(headers[REQUEST_ID_HEADER]);
  if (caller.requestId === '') caller.requestId = requestId ?? randomUUID();
  values.set(callerKey, caller);
  return values;
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const { logger } = options;
  const contextValues = options.contextValues ?? internalContextValues;
  const httpRoutes = options.httpRoutes ?? {};
  const handler = connectNodeAdapter({
    routes: options.routes,
    readMaxBytes: options.readMaxBytes,
    // Answers are never gzipped: what travels is mostly encrypted or already
    // compressed content, where gzip costs CPU (downloads ran 7 times slower) for nothing.
    acceptCompression: [],
    jsonOptions: { ignoreUnknownFields: !(options.rejectUnknownJsonFields ?? false) },
    interceptors: [
      ...(options.interceptors ?? []),
      errorInterceptor(logger, options.domain),
      ...(options.guards ?? []),
    ],
    contextValues: (req) => {
      const values = contextValues(req.headers);
      const digest = digestOf(req);
      if (digest !== undefined) values.set(bodyDigestKey, digest);
      return values;
    },
    fallback: (req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = httpRoutes[path];
      if (route !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
        route(req, res);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'not_found', message: `no route for ${req.method} ${path}` }));
    },
  });

  const digestBody = options.digestBody;
  const serve: typeof handler =
    digestBody === undefined
      ? handler
      : (req, res) => {
          if (!digestBody(req.headers)) {
            handler(req, res);
            return;
          }
          bufferBody(req, options.readMaxBytes).then(
            () => handler(req, res),
            () => req.destroy(),
          );
        };
  const h1 = http.createServer((req, res) => {
    // A body refused for its size is left unread on the connection; one more
    // request there would be read from its middle. Close the connection instead.
    if (Number(req.headers['content-length'] ?? 0) > options.readMaxBytes) res.shouldKeepAlive = false;
    serve(req, res);
  });
  // Node's default of 10 MB of buffered frames per session refuses streams
  // (RESOURCE_EXHAUSTED "Bandwidth exhausted") once a client multiplexes a
  // handful of 1 MiB uploads over one connection, as the gateway does.
  const h2 = http2.createServer({ maxSessionMemory: H2_SESSION_MEMORY_MB }, serve);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  h2.on('sessionError', (err) => logger.debug({ err }, 'http/2 session error'));
  h1.on('clientError', (err, socket) => {
    logger.debug({ err }, 'http/1.1 client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('readable', () => routeConnection(socket, h1, h2));
    socket.on('error', () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(options.port, options.host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  // h1 never listens itself; this starts its connection tracking, which idle-connection closing
  // and the header and request timeouts (slow clients) depend on.
  h1.emit('listening');
  const address = tcp.address() as net.AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;

  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    url: `http://${host}:${address.port}`,
    close: (graceMs = 10_000) => {
      closing ??= shutdown(graceMs);
      return closing;
    },
  };

  async function shutdown(graceMs: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => tcp.close(() => resolve()));
    for (const session of sessions) session.close();
    h1.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (sockets.size > 0 && Date.now() < deadline) {
      h1.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const session of sessions) session.destroy();
    for (const socket of sockets) socket.destroy();
    await stopped;
  }
}

/** Reads the first bytes without consuming them and hands the socket to the right server. */
function routeConnection(socket: net.Socket, h1: http.Server, h2: http2.Http2Server): void {
  const head: Buffer | null = socket.read();
  if (head === null) {
    socket.once('readable', () => routeConnection(socket, h1, h2));
    return;
  }
  socket.unshift(head);
  if (head.length < HTTP2_PREFACE.length && HTTP2_PREFACE.subarray(0, head.length).equals(head)) {
    socket.once('readable', () => routeConnection(socket, h1, h2));
    return;
  }
  const isHttp2 =
    head.length >= HTTP2_PREFACE.length && head.subarray(0, HTTP2_PREFACE.length).equals(HTTP2_PREFACE);
  (isHttp2 ? h2 : h1).emit('connection', socket);
}
