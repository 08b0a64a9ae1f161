/**
 * `GET /openapi.json`: the OpenAPI description of the JSON API, and
 * `GET /docs/api`: the same as a page to read. Both are generated from the
 * protos with the code (`npm run proto:generate`, gen/openapi/), read once and
 * kept in memory.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { HttpRoute } from '#lib/rpc/server.js';

const GENERATED = new URL('../../../gen/openapi/', import.meta.url);

/** The page has its style inline and no script; it loads nothing from elsewhere. */
const PAGE_POLICY =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const OPENAPI_PATH = '/openapi.json';
export const API_DOCS_PATH = '/docs/api';

export function openApiRoutes(dir: URL = GENERATED): Record<string, HttpRoute> {
  return {
    [OPENAPI_PATH]: generatedFile(new URL('lgsp.openapi.json', dir), {
      'content-type': 'application/json; charset=utf-8',
    }),
    [API_DOCS_PATH]: generatedFile(new URL('lgsp.html', dir), {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': PAGE_POLICY,
    }),
  };
}

interface Loaded {
  readonly body: Buffer;
  readonly etag: string;
}

function generatedFile(file: URL, headers: Record<string, string>): HttpRoute {
  let loading: Promise<Loaded> | undefined;
  const load = (): Promise<Loaded> => {
    loading ??= readFile(file).then(
      (body) => ({ body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` }),
      (error: unknown) => {
        // Not cached: a file put in place later is served then.
        loading = undefined;
        throw error;
      },
    );
    return loading;
  };
  return (req, res) => {
    load().then(
      ({ body, etag }) => {
        const common = {
          ...headers,
          etag,
          'cache-control': 'public, max-age=300',
          'x-content-type-options': 'nosniff',
        };
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, common);
          res.end();
          return;
        }
        res.writeHead(200, { ...common, 'content-length': String(body.length) });
        if (req.method === 'HEAD') res.end();
        else res.end(body);
      },
      () => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            code: 'unavailable',
            message: 'the API description is not generated: run npm run proto:generate',
          }),
        );
      },
    );
  };
}
