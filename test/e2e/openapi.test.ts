/**
 * The API description at the edge: the gateway serves the generated OpenAPI
 * document at /openapi.json and the page rendered from it at /docs/api; the
 * page describes every RPC of the document, and its shell examples work
 * against the gateway as written.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, Platform } from './transfers.support.js';

const GENERATED = new URL('../../gen/openapi/', import.meta.url);
const specBytes = readFileSync(new URL('lgsp.openapi.json', GENERATED));
const spec: Json = JSON.parse(specBytes.toString('utf8'));

let platform: Platform;
let workDir: string;

beforeAll(async () => {
  platform = await Platform.start();
  workDir = mkdtempSync(join(tmpdir(), 'lgsp-openapi-'));
});

afterAll(async () => {
  await platform?.close();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

const get = (path: string, init: RequestInit = {}) => fetch(`${platform.url}${path}`, init);

function unescapeHtml(text: string): string {
  return text
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&amp;', '&');
}

/** The page's articles by operation id (`package.Service.Method`), and the shell helpers. */
function readPage(html: string) {
  const articles = new Map<string, string>();
  for (const match of html.matchAll(/<article class="rpc" id="rpc-([^"]+)">([\s\S]*?)<\/article>/g)) {
    articles.set(match[1]!, match[2]!);
  }
  const calling = /<section id="calling">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
  const helpers = unescapeHtml(/<pre><code>([\s\S]*?)<\/code><\/pre>/.exec(calling)?.[1] ?? '');
  return { articles, helpers };
}

function exampleOf(article: string): string {
  const code = /<h4>Example<\/h4>\s*<pre><code>([\s\S]*?)<\/code><\/pre>/.exec(article)?.[1];
  if (code === undefined) throw new Error('no example');
  return unescapeHtml(code);
}

/**
 * Runs a page example after the page's helpers in bash, in a scratch
 * directory; `until` ends it early (a stream) once its output matches.
 */
function runExample(
  script: string,
  env: Record<string, string>,
  until?: RegExp,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: workDir,
      env: { ...process.env, ...env, LGSP_URL: platform.url },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const stop = () => {
      if (child.pid === undefined || child.exitCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // It ended on its own meanwhile.
      }
    };
    const timer = setTimeout(stop, 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (until?.test(out)) stop();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe('GET /openapi.json', () => {
  it('answers the generated document, as JSON, cacheable', async () => {
    const res = await get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(specBytes)).toBe(true);
    expect(JSON.parse(body.toString('utf8')).openapi).toMatch(/^3\.1\./);

    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await get('/openapi.json', { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('answers HEAD without a body', async () => {
    const res = await get('/openapi.json', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(specBytes.length));
    expect(await res.text()).toBe('');
  });
});

describe('GET /docs/api', () => {
  let html: string;
  beforeAll(async () => {
    const res = await get('/docs/api');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    html = await res.text();
  });

  it('describes every RPC of the document: access level, description, request, response, example', () => {
    const { articles } = readPage(html);
    const rpcs = Object.values(spec.paths).map((item: Json) => item.post);
    expect(articles.size).toBe(rpcs.length);
    for (const op of rpcs) {
      const article = articles.get(op.operationId);
      expect(article, op['x-lgsp-rpc']).toBeDefined();
      expect(article).toContain(`<span class="badge access-${op['x-lgsp-access']}">`);
      expect(article).toContain(`POST /${op['x-lgsp-rpc']}`);
      const [media] = Object.values(op.requestBody.content) as Json[];
      const [answer] = Object.values(op.responses['200'].content) as Json[];
      for (const ref of [media.schema.$ref, answer.schema.$ref]) {
        const name = ref.slice('#/components/schemas/'.length);
        expect(article).toContain(`<code>${name}</code>`);
        for (const field of Object.keys(spec.components.schemas[name].properties)) {
          expect(article, `${name}.${field}`).toContain(`<td><code>${field}</code>`);
        }
      }
      expect(exampleOf(article!)).toContain(`/${op['x-lgsp-rpc']}`);
      // The first sentence of the RPC's comment is on the page.
      expect(unescapeHtml(article!.replace(/\s+/g, ' '))).toContain(op.summary.replace(/\s+/g, ' '));
    }
    expect(html).not.toContain('VerifyRequestSignature');
    expect(html).not.toContain('/lgsp.storage.v1.StorageService/PutBlob');
  });

  it('links only within itself, and loads nothing from elsewhere', () => {
    const ids = new Set([...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));
    const links = [...html.matchAll(/ href="([^"]+)"/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(500);
    for (const link of links) {
      if (link === '/openapi.json') continue;
      expect(link.startsWith('#'), link).toBe(true);
      expect(ids.has(link.slice(1)), link).toBe(true);
    }
    expect(html).not.toMatch(/<script|<link|<img|<iframe| src=/i);
  });

  it('has shell examples that work as written', async () => {
    const { articles, helpers } = readPage(html);
    expect(helpers).toContain('sign()');

    // A public RPC, unsigned.
    const time = await runExample(
      `${helpers}\n${exampleOf(articles.get('lgsp.auth.v1.AuthService.GetServerTime')!)}`,
      {},
    );
    expect(time.code, time.err).toBe(0);
    expect(JSON.parse(time.out).serverTime).toMatch(/^\d{4}-\d\d-\d\dT/);

    // A signed RPC: the signature is accepted with the right secret, refused with another.
    const admin = platform.mesh.firstAdmin!;
    expect(exampleOf(articles.get('lgsp.registry.v1.RegistryService.ListZones')!)).not.toContain('lgsp-');
    const adminCall = `${helpers}\n${exampleOf(
      articles.get('lgsp.auth.v1.AuthService.ListCredentials')!,
    ).split('\n# or')[0]!}`;
    expect(adminCall).toContain('lgsp-signature: $SIGNATURE');
    const credentials = { LGSP_ACCESS_KEY_ID: admin.accessKeyId, LGSP_SECRET_KEY: admin.secret };
    const signed = await runExample(adminCall, credentials);
    expect(signed.code, signed.err).toBe(0);
    expect(JSON.parse(signed.out).code).not.toBe('unauthenticated');
    const forged = await runExample(adminCall, { ...credentials, LGSP_SECRET_KEY: 'not-the-secret' });
    expect(JSON.parse(forged.out)).toMatchObject({ code: 'unauthenticated' });

    // A server stream: the health of the platform as enveloped messages.
    const watch = await runExample(
      `${helpers}\n${exampleOf(articles.get('grpc.health.v1.Health.Watch')!)}`,
      {},
      /SERVING/,
    );
    expect(watch.out.split('\n')[0], watch.err).toBe('{"status":"SERVING"}');
  });
});

describe('the other paths', () => {
  it('are still unknown', async () => {
    for (const path of [
      '/openapi.yaml',
      '/openapi.json/x',
      '/docs',
      '/docs/api/',
      '/docs/api/x',
      '/docs/API',
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as Json).code).toBe('not_found');
    }
    const post = await get('/openapi.json', { method: 'POST', body: '{}' });
    expect(post.status).toBe(404);
    await post.body?.cancel();
  });
});
