/**
 * The SSO suites start the embedded mesh (every service and the gateway)
 * against the real Postgres and NATS, in schemas and streams of their own,
 * and act as three parties: administrators calling the sso service's API
 * (directly, with the caller entry the gateway would pass), a browser with a
 * cookie jar that submits the login pages as a person would (no script),
 * and relying parties built on openid-client that know the platform only
 * by its discovery URL.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { type Client, createClient } from '@connectrpc/connect';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { SsoService } from '#gen/lgsp/sso/v1/sso_service_pb.js';
import { UNIT_ADMIN_ROLE } from '#lib/rpc/access.js';
import { CALLER_HEADER, encodeCaller } from '#lib/rpc/caller.js';
import { createGrpcTransport, type GrpcTransport } from '#lib/rpc/grpc-transport.js';
import type { RunningService } from '#lib/service.js';
import { type E2eMesh, startE2eMesh } from '../../../test/e2e/support.js';
import type { SsoContext } from '../src/context.js';

export { asAdmin } from '../../../test/support/callers.js';

/** Sở Tài chính and Sở Y tế of the demo tree. */
export const FINANCE = '000.00.03.H26';
export const HEALTH = '000.00.06.H26';

export interface SsoMesh {
  readonly e2e: E2eMesh;
  readonly sso: RunningService<SsoContext>;
  readonly client: Client<typeof SsoService>;
  readonly issuer: string;
  close(): Promise<void>;
}

export async function startSsoMesh(): Promise<SsoMesh> {
  const e2e = await startE2eMesh();
  const sso = e2e.mesh.services.find((s) => s.name === 'sso') as RunningService<SsoContext>;
  const transport: GrpcTransport = createGrpcTransport({ address: new URL(sso.url).host });
  return {
    e2e,
    sso,
    client: createClient(SsoService, transport),
    issuer: `${e2e.url}/oidc`,
    close: async () => {
      transport.close();
      await e2e.close();
    },
  };
}

export function asUnitAdmin(unitCode: string): { headers: Record<string, string> } {
  const caller = create(CallerSchema, {
    kind: CallerKind.OPERATOR,
    unitCode,
    subject: `operator:unit-admin-${unitCode}`,
    roles: [UNIT_ADMIN_ROLE],
  });
  return { headers: { [CALLER_HEADER]: encodeCaller(caller) } };
}

/** A browser: a cookie jar, redirects followed by hand, forms submitted as they are written. */
export class Browser {
  readonly #cookies = new Map<string, string>();
  /** Every URL visited, in order. */
  readonly visited: string[] = [];

  #cookieHeader(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  #store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  cookieNames(): string[] {
    return [...this.#cookies.keys()];
  }

  /** One request, no redirect followed. */
  async request(
    url: string,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ) {
    this.visited.push(url);
    const res = await fetch(url, {
      method: init.method ?? (init.form === undefined ? 'GET' : 'POST'),
      redirect: 'manual',
      headers: {
        cookie: this.#cookieHeader(),
        ...(init.form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
        ...init.headers,
      },
      ...(init.form === undefined ? {} : { body: new URLSearchParams(init.form).toString() }),
    });
    this.#store(res);
    return res;
  }

  /**
   * Follows redirects from `url` until a page is shown or the browser is sent
   * to `stopAt` (an application's callback), whose URL is returned instead.
   */
  async follow(
    url: string,
    stopAt: string,
    init: { form?: Record<string, string> } = {},
  ): Promise<{ page?: Page; callback?: URL; status: number }> {
    let res = await this.request(url, init);
    let current = url;
    for (let hops = 0; hops < 20; hops++) {
      if (res.status >= 300 && res.status < 400) {
        const location = new URL(res.headers.get('location') ?? '', current).href;
        if (location.startsWith(stopAt)) return { callback: new URL(location), status: res.status };
        current = location;
        res = await this.request(current);
        continue;
      }
      return { page: new Page(current, await res.text(), res.headers), status: res.status };
    }
    throw new Error('too many redirects');
  }
}

/** A page as the browser shows it: its forms, readable without any script. */
export class Page {
  constructor(
    readonly url: string,
    readonly html: string,
    readonly headers: Headers,
  ) {}

  /** The form whose action ends with `suffix`: its absolute action and its fields' values. */
  form(suffix: string): { action: string; fields: Record<string, string> } {
    const forms = [...this.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)];
    for (const [, attrs = '', body = ''] of forms) {
      const action = /action="([^"]*)"/.exec(attrs)?.[1]?.replace(/&amp;/g, '&') ?? '';
      if (!action.endsWith(suffix)) continue;
      const fields: Record<string, string> = {};
      for (const [, input = ''] of body.matchAll(/<input\b([^>]*)>/g)) {
        const name = /name="([^"]*)"/.exec(input)?.[1];
        const value = /value="([^"]*)"/.exec(input)?.[1] ?? '';
        if (name !== undefined) fields[name] = unescapeHtml(value);
      }
      return { action: new URL(action, this.url).href, fields };
    }
    throw new Error(`no form ending in ${suffix} on ${this.url}:\n${this.html.slice(0, 2000)}`);
  }

  /** The text of the alert, if the page shows one. */
  alert(): string | undefined {
    return /role="alert"[^>]*>([^<]*)</.exec(this.html)?.[1];
  }
}

function unescapeHtml(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The login form filled in and submitted; follows on to wherever the provider sends the browser. */
export async function submitLogin(
  browser: Browser,
  page: Page,
  username: string,
  password: string,
  stopAt: string,
) {
  const { action, fields } = page.form('/login');
  return browser.follow(action, stopAt, { form: { ...fields, username, password } });
}

/** A relying party's back-channel logout endpoint: records every logout token it is sent. */
export class BackchannelReceiver {
  readonly tokens: string[] = [];
  #server: http.Server | undefined;

  async start(): Promise<string> {
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('logout_token');
        if (req.method === 'POST' && token !== null) this.tokens.push(token);
        res.writeHead(200, { 'cache-control': 'no-store' });
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/backchannel-logout`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.#server === undefined ? resolve() : this.#server.close(() => resolve()),
    );
  }
}
