/**
 * `/oidc/*`: the single sign-on provider (login pages, tokens, logout, key
 * set) under the platform's public origin. Every method is passed through to
 * the sso service over HTTP/1.1, streamed both ways, with the public host and
 * scheme in `x-forwarded-host` / `x-forwarded-proto` (the provider builds its
 * URLs and secure cookies from them). Only this path prefix is forwarded.
 */
import http from 'node:http';
import type { HttpRoute } from '#lib/rpc/server.js';

export const SSO_PREFIX = '/oidc/';

/** Per-connection headers that must not be forwarded (RFC 9110 §7.6.1), and HTTP/2 pseudo-headers. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
]);

function forwardable(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || HOP_BY_HOP.has(name)) continue;
    if (name.startsWith('x-forwarded-')) continue;
    out[name] = value;
  }
  return out;
}

export function ssoProxyRoutes(
  upstream: string,
  tls: boolean,
  timeoutMs = 30_000,
): Record<string, HttpRoute> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const route: HttpRoute = (req, res) => {
    const incoming = req as http.IncomingMessage;
    const reply = res as http.ServerResponse;
    const host = String(incoming.headers.host ?? incoming.headers[':authority'] ?? '');
    const headers = forwardable(incoming.headers);
    headers['x-forwarded-host'] = host;
    headers['x-forwarded-proto'] = tls ? 'https' : 'http';
    headers['x-forwarded-for'] = incoming.socket.remoteAddress ?? '';
    const [hostname, port] = splitHostPort(upstream);
    const upstreamReq = http.request(
      {
        host: hostname,
        port,
        method: incoming.method,
        path: incoming.url,
        headers,
        agent,
        timeout: timeoutMs,
      },
      (upstreamRes) => {
        const answer: http.OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(upstreamRes.headers)) {
          if (value !== undefined && !HOP_BY_HOP.has(name)) answer[name] = value;
        }
        reply.writeHead(upstreamRes.statusCode ?? 502, answer);
        upstreamRes.pipe(reply);
      },
    );
    upstreamReq.on('timeout', () => upstreamReq.destroy(new Error('sso upstream timed out')));
    upstreamReq.on('error', () => {
      if (!reply.headersSent) {
        reply.writeHead(502, { 'content-type': 'application/json' });
        reply.end(
          JSON.stringify({ code: 'unavailable', message: 'the single sign-on service is not reachable' }),
        );
      } else reply.destroy();
    });
    incoming.pipe(upstreamReq);
  };
  return { [SSO_PREFIX]: route };
}

function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '');
  return [host, Number(address.slice(at + 1))];
}
