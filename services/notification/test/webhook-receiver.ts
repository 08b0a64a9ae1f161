/**
 * A webhook receiver for the tests, written as an agency's system would from
 * docs/notifications.md: it checks each call's signature with node:crypto
 * (not with the service's own code), records what came, and answers as the
 * test scripts it: a status, a Retry-After, or no answer at all.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedCall {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
  /** Whether the signature checked out with the secret registered for the path. */
  readonly signatureValid: boolean;
}

export type Answer = { status: number; retryAfter?: string } | 'hang';

/** Checks a call as the docs tell receivers to. */
export function verifySignature(
  secret: string,
  headers: IncomingHttpHeaders,
  body: string,
  maxAgeMs = 5 * 60_000,
): boolean {
  const id = headers['lgsp-webhook-id'];
  const timestamp = headers['lgsp-webhook-timestamp'];
  const signature = headers['lgsp-webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  const sentAt = Date.parse(timestamp);
  if (Number.isNaN(sentAt) || Math.abs(Date.now() - sentAt) > maxAgeMs) return false;
  const expected = createHmac('sha256', Buffer.from(secret, 'base64url'))
    .update(`${id}.${timestamp}.${body}`)
    .digest();
  const given = Buffer.from(signature, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export class WebhookReceiver {
  readonly calls: ReceivedCall[] = [];
  readonly #secrets = new Map<string, string>();
  readonly #scripts = new Map<string, Answer[]>();
  readonly #server: Server;
  readonly #hanging = new Set<() => void>();

  private constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const body = Buffer.concat(chunks).toString('utf8');
        const secret = this.#secrets.get(path);
        this.calls.push({
          path,
          headers: req.headers,
          body,
          at: Date.now(),
          signatureValid: secret !== undefined && verifySignature(secret, req.headers, body),
        });
        const answer = this.#scripts.get(path)?.shift() ?? { status: 204 };
        if (answer === 'hang') {
          const release = () => res.destroy();
          this.#hanging.add(release);
          return;
        }
        res.writeHead(
          answer.status,
          answer.retryAfter === undefined ? {} : { 'retry-after': answer.retryAfter },
        );
        res.end();
      });
    });
  }

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The secret RegisterWebhook returned for the webhook at `path`. */
  trust(path: string, secret: string): void {
    this.#secrets.set(path, secret);
  }

  /** The next answers at `path`, in order; 204 once they run out. */
  script(path: string, ...answers: Answer[]): void {
    this.#scripts.set(path, [...(this.#scripts.get(path) ?? []), ...answers]);
  }

  /** Drops what is left of the script at `path`: 204 from now on. */
  reset(path: string): void {
    this.#scripts.delete(path);
  }

  callsTo(path: string): ReceivedCall[] {
    return this.calls.filter((c) => c.path === path);
  }

  async close(): Promise<void> {
    for (const release of this.#hanging) release();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
