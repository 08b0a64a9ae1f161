/**
 * `GET /.well-known/jwks.json`: the public keys that sign session tokens, so
 * a destination can check a token offline (Art. 10). Fetched from the auth
 * service and kept for a minute.
 */
import type { HttpRoute } from '#lib/rpc/server.js';

const CACHE_MS = 60_000;

export function jwksRoute(authAddress: string): HttpRoute {
  let cached: { at: number; body: string } | undefined;
  const load = async (): Promise<string> => {
    if (cached !== undefined && Date.now() - cached.at < CACHE_MS) return cached.body;
    const res = await fetch(`http://${authAddress}/.well-known/jwks.json`, {
      signal: AbortSignal.timeout(3_000),
    });
    if (!res.ok) throw new Error(`auth service answered ${res.status}`);
    const body = await res.text();
    cached = { at: Date.now(), body };
    return body;
  };
  return (_req, res) => {
    load().then(
      (body) => {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=60' });
        res.end(body);
      },
      () => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'unavailable', message: 'the key set cannot be read right now' }));
      },
    );
  };
}
