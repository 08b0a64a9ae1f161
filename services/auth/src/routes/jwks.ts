/**
 * `GET /.well-known/jwks.json`: the public keys of session tokens, so that
 * anyone can check a token offline (RFC 7517). Keys of the last signing
 * periods stay listed until every token they signed has expired.
 */
import type { HttpRoute } from '#lib/rpc/server.js';
import type { AuthContext } from '../context.js';

export const JWKS_PATH = '/.well-known/jwks.json';

export function jwksRoute(ctx: AuthContext): HttpRoute {
  return (req, res) => {
    ctx.sessionKeys.jwks().then(
      (document) => {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=60' });
        if (req.method === 'HEAD') res.end();
        else res.end(JSON.stringify(document));
      },
      (err: unknown) => {
        ctx.logger.error({ err }, 'JWKS not served');
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'unavailable', message: 'the keys cannot be read now; try again' }));
      },
    );
  };
}
