/**
 * One listening port for everything a process serves: gRPC over HTTP/2, and
 * Connect/gRPC-Web over HTTP/1.1 (legacy JSON clients) or HTTP/2 — plus plain
 * HTTP routes such as /healthz and /metrics. With TLS, ALPN picks the protocol
 * of each connection (`h2` or `http/1.1`). In cleartext there is no ALPN, so
 * the first bytes pick it: every HTTP/2 connection opens with the fixed client
 * preface "PRI * HTTP/2.0".
 */

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { ConnectRouter, ContextValues, Interceptor } from '@connectrpc/connect';
import { createContextValues } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Logger } from '../logger.js';
import { type BodyCheck, refuseBody } from './body-check.js';
import { bodyDigestKey, bufferBody, bufferedBodyOf, digestOf } from './body-digest.js';
import { CALLER_HEADER, callerKey, decodeCaller, REQUEST_ID_HEADER } from './caller.js';
import { type CorsPolicy, corsHandler } from './cors.js';
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
   * Plain HTTP handlers by path prefix (e.g. `/oidc/`), any method: what a
   * web protocol other than Connect serves on the same port (the SSO
   * provider's pages and endpoints).
   */
  readonly prefixRoutes?: Readonly<Record<string, HttpRoute>>;
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
  /** Serve TLS with this certificate and key (PEM); cleartext when unset. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** Let browsers from these origins call (CORS); none when unset. */
  readonly cors?: CorsPolicy | undefined;
  /**
   * Slow clients: how long an HTTP/1.1 request's headers, and a body read
   * whole before decoding (`digestBody`), may take to arrive. Defaults 20 s
   * and 30 s. Streams are not limited: an upload or a notice stream may last.
   */
  readonly headersTimeoutMs?: number;
  readonly bodyTimeoutMs?: number;
  /**
   * Checks a body read whole (`digestBody`) before Connect decodes it; one
   * that does not decode is answered `invalid_argument` and reported to
   * `onBodyRefused` (the gateway audits it).
   */
  readonly checkBody?: BodyCheck;
  readonly onBodyRefused?: (headers: http.IncomingHttpHeaders, path: string, message: string) => void;
}

export interface RpcServer {
  readonly port: number;
  /** `http://host:port`, or `https://` with TLS */
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
  const prefixRoutes = Object.entries(options.prefixRoutes ?? {});
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
      const prefixed = prefixRoutes.find(([prefix]) => path.startsWith(prefix));
      if (prefixed !== undefined) {
        prefixed[1](req, res);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'not_found', message: `no route for ${req.method} ${path}` }));
    },
  });

  const digestBody = options.digestBody;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 30_000;
  const checkBody = (req: Parameters<typeof handler>[0]) => {
    const body = bufferedBodyOf(req);
    if (options.checkBody === undefined || body === undefined) return undefined;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const message = options.checkBody(path, String(req.headers['content-type'] ?? ''), body);
    return message === undefined ? undefined : { path, message };
  };
  const digesting: typeof handler =
    digestBody === undefined
      ? handler
      : (req, res) => {
          if (!digestBody(req.headers)) {
            handler(req, res);
            return;
          }
          const timer = setTimeout(() => {
            tooSlow(req.httpVersionMajor >= 2, res as http.ServerResponse, bodyTimeoutMs);
            req.destroy();
          }, bodyTimeoutMs);
          bufferBody(req, options.readMaxBytes).then(
            () => {
              clearTimeout(timer);
              if (res.headersSent) return;
              const refusal = checkBody(req);
              if (refusal === undefined) {
                handler(req, res);
                return;
              }
              options.onBodyRefused?.(req.headers, refusal.path, refusal.message);
              refuseBody(req as http.IncomingMessage, res as http.ServerResponse, refusal.message);
            },
            () => {
              clearTimeout(timer);
              req.destroy();
            },
          );
        };
  const answerCors =
    options.cors === undefined || options.cors.origins.length === 0 ? undefined : corsHandler(options.cors);
  const serve: typeof handler =
    answerCors === undefined
      ? digesting
      : (req, res) => {
          if (!answerCors(req as http.IncomingMessage, res as http.ServerResponse)) digesting(req, res);
        };
  const h1 = http.createServer(
    {
      headersTimeout: options.headersTimeoutMs ?? 20_000,
      // Streams (uploads, notice streams) may last: only headers and read-whole bodies are timed.
      requestTimeout: 0,
      connectionsCheckingInterval: Math.min(1_000, options.headersTimeoutMs ?? 1_000),
    },
    (req, res) => {
      // A body refused for its size is left unread on the connection; one more
      // request there would be read from its middle. Close the connection instead.
      if (Number(req.headers['content-length'] ?? 0) > options.readMaxBytes) res.shouldKeepAlive = false;
      serve(req, res);
    },
  );
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
  h1.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    logger.debug({ err }, 'http/1.1 client error');
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\n\r\n`);
    else socket.destroy();
  });

  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const tcp: net.Server =
    options.tls === undefined
      ? net.createServer((socket) => {
          track(socket);
          socket.once('readable', () => routeConnection(socket, h1, h2));
        })
      : tls.createServer(
          { cert: options.tls.cert, key: options.tls.key, ALPNProtocols: ['h2', 'http/1.1'] },
          (socket) => {
            track(socket);
            (socket.alpnProtocol === 'h2' ? h2 : h1).emit('connection', socket);
          },
        );
  if (options.tls !== undefined) {
    tcp.on('tlsClientError', (err) => logger.debug({ err }, 'TLS handshake failed'));
  }

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
    url: `${options.tls === undefined ? 'http' : 'https'}://${host}:${address.port}`,
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

/** A body that did not arrive in time: a Connect error a legacy client can read. */
function tooSlow(http2: boolean, res: http.ServerResponse, timeoutMs: number): void {
  if (res.headersSent) return;
  // HTTP/2 forbids the connection header; its stream ends alone.
  if (!http2) res.shouldKeepAlive = false;
  res.writeHead(
    408,
    http2
      ? { 'content-type': 'application/json' }
      : { 'content-type': 'application/json', connection: 'close' },
  );
  res.end(
    JSON.stringify({
      code: 'deadline_exceeded',
      message: `the request body did not arrive within ${timeoutMs / 1000} s; send it whole, faster`,
    }),
  );
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
