/**
 * CORS for browsers calling the public edge: a request from an allowed
 * origin gets the headers that let the page read the answer (the Connect and
 * gRPC-Web status headers included), and a preflight is answered here with
 * what may be sent. Requests from other origins get no CORS headers, so the
 * browser withholds the answer; clients that are not browsers never send an
 * Origin and are unaffected.
 */
import type http from 'node:http';
import { cors } from '@connectrpc/connect';

export interface CorsPolicy {
  /** Allowed origins, exactly as browsers send them (`https://portal.example.gov.vn`), or `*`. */
  readonly origins: readonly string[];
  /** Request headers beyond Connect's own that clients may send (e.g. the signature headers). */
  readonly extraHeaders?: readonly string[];
  /** Response headers beyond Connect's own that pages may read. */
  readonly extraExposed?: readonly string[];
}

/** How long a browser may reuse a preflight answer. */
const MAX_AGE_SECONDS = 7200;

/** Returns a function that adds CORS headers and answers preflights; it returns true when it answered. */
export function corsHandler(
  policy: CorsPolicy,
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const any = policy.origins.includes('*');
  const origins = new Set(policy.origins);
  const allowHeaders = [...cors.allowedHeaders, ...(policy.extraHeaders ?? [])].join(', ');
  const exposeHeaders = [...cors.exposedHeaders, ...(policy.extraExposed ?? [])].join(', ');
  const allowMethods = [...cors.allowedMethods, 'OPTIONS'].join(', ');
  return (req, res) => {
    const origin = req.headers.origin;
    if (origin === undefined || (!any && !origins.has(origin))) return false;
    res.setHeader('access-control-allow-origin', any ? '*' : origin);
    if (!any) res.setHeader('vary', 'Origin');
    if (req.method !== 'OPTIONS') {
      res.setHeader('access-control-expose-headers', exposeHeaders);
      return false;
    }
    res.writeHead(204, {
      'access-control-allow-methods': allowMethods,
      'access-control-allow-headers': allowHeaders,
      'access-control-max-age': String(MAX_AGE_SECONDS),
    });
    res.end();
    return true;
  };
}
