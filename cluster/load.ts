/**
 * A steady load of transfers through the gateways of a cluster, with the
 * bookkeeping the fault tests and the cluster bench need: signed Connect
 * JSON calls that fail over from one gateway to another and retry what did
 * not get an answer; sources sending small inline transfers (each with an
 * idempotency key, so a retried send is one transfer) to one or two
 * destination units; destinations listing, accepting and confirming what
 * waits for them and checking it was meant for them; and the longest time a
 * call had to wait for the platform to answer again.
 */
import { createHash, randomUUID } from 'node:crypto';
import { signRequest } from '#lib/auth/signing.js';

export const REGISTRY = 'lgsp.registry.v1.RegistryService';
export const AUTH = 'lgsp.auth.v1.AuthService';
export const TRANSFER = 'lgsp.transfer.v1.TransferService';
export const STORAGE = 'lgsp.storage.v1.StorageService';

export interface Signer {
  readonly accessKeyId: string;
  readonly key: { readonly kind: 'hmac'; readonly secret: string };
}

export function hmacSigner(accessKeyId: string, secret: string): Signer {
  return { accessKeyId, key: { kind: 'hmac', secret } };
}

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field.
export type Json = any;

export interface Answer {
  readonly status: number;
  readonly body: Json;
}

export class CallFailed extends Error {
  override name = 'CallFailed';
}

/** Connect codes that mean "the call may not have been served; another try may succeed". */
const RETRYABLE_CODES = new Set(['unavailable', 'internal', 'unknown', 'deadline_exceeded', 'aborted']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Outage {
  readonly startedAt: number;
  readonly ms: number;
  readonly what: string;
}

/** Signed Connect JSON calls over several gateways, failing over and retrying until `retryForMs`. */
export class GatewayPool {
  #next = 0;
  calls = 0;
  retries = 0;
  /** Each call that had to wait for an answer: from its first failed attempt to its answer. */
  readonly outages: Outage[] = [];

  constructor(
    readonly urls: readonly string[],
    readonly retryForMs = 120_000,
  ) {}

  get longestOutage(): Outage | undefined {
    return this.outages.reduce<Outage | undefined>(
      (a, b) => (a === undefined || b.ms > a.ms ? b : a),
      undefined,
    );
  }

  async call(service: string, method: string, body: unknown, signer?: Signer): Promise<Answer> {
    this.calls++;
    const path = `/${service}/${method}`;
    const text = JSON.stringify(body);
    const began = Date.now();
    let firstFailure: number | undefined;
    let lastProblem = '';
    for (let attempt = 0; ; attempt++) {
      const url = this.urls[this.#next++ % this.urls.length]!;
      try {
        // Signed afresh for each attempt: a nonce is good once.
        const headers =
          signer === undefined ? {} : signRequest({ method: 'POST', url: path, body: text, ...signer });
        const res = await fetch(`${url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: text,
          signal: AbortSignal.timeout(15_000),
        });
        const raw = await res.text();
        const parsed: Json = raw === '' ? undefined : JSON.parse(raw);
        const code: string | undefined = res.status === 200 ? undefined : parsed?.code;
        if (res.status === 200 || (code !== undefined && !RETRYABLE_CODES.has(code) && res.status < 500)) {
          if (firstFailure !== undefined) {
            this.outages.push({ startedAt: firstFailure, ms: Date.now() - firstFailure, what: method });
          }
          return { status: res.status, body: parsed };
        }
        lastProblem = `${res.status} ${code ?? ''} ${parsed?.message ?? ''}`;
      } catch (error) {
        lastProblem = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      firstFailure ??= Date.now();
      if (Date.now() - began > this.retryForMs) {
        throw new CallFailed(`${method} got no answer within ${this.retryForMs} ms: ${lastProblem}`);
      }
      this.retries++;
      await sleep(Math.min(100 * 2 ** Math.min(attempt, 4), 1_000));
    }
  }

  /** A call that must succeed. */
  async ok(service: string, method: string, body: unknown, signer?: Signer): Promise<Json> {
    const answer = await this.call(service, method, body, signer);
    if (answer.status !== 200)
      throw new CallFailed(`${method}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }
}

export interface App {
  readonly id: string;
  readonly unitCode: string;
  readonly signer: Signer;
}

export interface Tenants {
  readonly sources: readonly App[];
  readonly destinations: readonly App[];
}

/** Units and apps under the demo province, each with a credential, and SEND grants from every source to every destination unit. */
export async function createTenants(
  pool: GatewayPool,
  admin: Signer,
  counts: { sources: number; destinations: number },
): Promise<Tenants> {
  const make = async (group: number, n: number, label: string): Promise<App> => {
    const code = `000.${group}.${String(n).padStart(2, '0')}.H26`;
    await pool.ok(
      REGISTRY,
      'CreateUnit',
      { code, name: `${label} ${code}`, parentCode: '000.00.00.H26', kind: 'UNIT_KIND_OTHER' },
      admin,
    );
    const { app } = await pool.ok(
      REGISTRY,
      'RegisterApp',
      {
        unitCode: code,
        name: `${label} app ${code}`,
        kind: 'APP_KIND_DOCUMENT_SYSTEM',
        acceptedContentTypes: ['application/json'],
      },
      admin,
    );
    const credential = await pool.ok(
      AUTH,
      'CreateCredential',
      { owner: { appId: app.id }, label: 'load' },
      admin,
    );
    return {
      id: app.id,
      unitCode: code,
      signer: hmacSigner(credential.credential.accessKeyId, credential.secretKey),
    };
  };
  const sources: App[] = [];
  for (let i = 0; i < counts.sources; i++) sources.push(await make(70, i, 'Nguồn'));
  const destinations: App[] = [];
  for (let i = 0; i < counts.destinations; i++) destinations.push(await make(71, i, 'Đích'));
  for (const source of sources) {
    for (const destination of destinations) {
      await pool.ok(
        REGISTRY,
        'CreateGrant',
        {
          subject: { appId: source.id },
          object: { unitCode: destination.unitCode },
          action: 'GRANT_ACTION_SEND',
          note: 'load',
        },
        admin,
      );
    }
  }
  return { sources, destinations };
}

export interface SentTransfer {
  readonly id: string;
  readonly source: App;
  /** Destination app ids. */
  readonly recipients: readonly string[];
  readonly committedAt: number;
}

export interface LoadOptions {
  /** Sending loops at once. Default 4. */
  readonly senders?: number;
  /** Pause of each sending loop between two transfers, ms. Default 0. */
  readonly pauseMs?: number;
  /** Deliveries each destination handles at once (accept, confirm). Default 1. */
  readonly receiverConcurrency?: number;
}

export interface LoadReport {
  /** Transfers whose CreateTransfer was answered OK: committed. */
  readonly sent: number;
  /** Sends that never got an answer (not counted as committed). */
  readonly sendFailures: number;
  /** Transfers confirmed by every recipient. */
  readonly delivered: number;
  /** Committed transfers some recipient never confirmed. */
  readonly lost: number;
  /** A transfer received again by a recipient that had received it already. */
  readonly duplicates: number;
  /** Deliveries whose content named another recipient. */
  readonly misdelivered: number;
  readonly longestUnavailabilityMs: number;
  readonly longestUnavailabilityAt: string;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

/**
 * Sources sending and destinations receiving until `stop()`; `drain()` then
 * waits until every committed transfer is confirmed by each recipient.
 */
export class TransferLoad {
  readonly sent = new Map<string, SentTransfer>();
  /** transferId → destination app ids that confirmed it. */
  readonly confirmed = new Map<string, Set<string>>();
  /** transferId → when its last recipient confirmed it. */
  readonly deliveredAt = new Map<string, number>();
  /** How long each successful CreateTransfer took, with when it was answered: [answeredAt, ms]. */
  readonly commitLatencies: Array<readonly [number, number]> = [];
  /** `${appId} ${transferId}` received (content fetched) at least once. */
  readonly #received = new Set<string>();
  sendFailures = 0;
  duplicates = 0;
  misdelivered = 0;
  readonly problems: string[] = [];
  #sending = true;
  #receiving = true;
  readonly #loops: Promise<void>[] = [];
  #sequence = 0;

  constructor(
    readonly pool: GatewayPool,
    readonly tenants: Tenants,
    readonly options: LoadOptions = {},
  ) {}

  start(): void {
    for (let i = 0; i < (this.options.senders ?? 4); i++) this.#loops.push(this.#sendLoop(i));
    for (const destination of this.tenants.destinations) this.#loops.push(this.#receiveLoop(destination));
  }

  /** Stops sending; receiving goes on. */
  stopSending(): void {
    this.#sending = false;
  }

  /** Waits until every committed transfer is confirmed by each recipient, or `timeoutMs`; then stops everything. */
  async drain(timeoutMs: number): Promise<void> {
    this.stopSending();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.missing().length > 0) await sleep(200);
    this.#receiving = false;
    await Promise.all(this.#loops);
  }

  /** Committed transfers not yet confirmed by all their recipients. */
  missing(): SentTransfer[] {
    return [...this.sent.values()].filter((t) => {
      const got = this.confirmed.get(t.id);
      return t.recipients.some((r) => !got?.has(r));
    });
  }

  report(): LoadReport {
    const longest = this.pool.longestOutage;
    return {
      sent: this.sent.size,
      sendFailures: this.sendFailures,
      delivered: this.sent.size - this.missing().length,
      lost: this.missing().length,
      duplicates: this.duplicates,
      misdelivered: this.misdelivered,
      longestUnavailabilityMs: longest?.ms ?? 0,
      longestUnavailabilityAt:
        longest === undefined ? '' : `${longest.what} at ${new Date(longest.startedAt).toISOString()}`,
    };
  }

  async #sendLoop(loop: number): Promise<void> {
    const { sources, destinations } = this.tenants;
    while (this.#sending) {
      const n = this.#sequence++;
      const source = sources[(loop + n) % sources.length]!;
      // One recipient, or two: a transfer's fan-out must reach each.
      const first = destinations[n % destinations.length]!;
      const second = destinations[(n + 1) % destinations.length]!;
      const recipients = n % 3 === 0 && first !== second ? [first, second] : [first];
      const content = Buffer.from(
        JSON.stringify({
          n,
          to: recipients.map((r) => r.unitCode),
          from: source.unitCode,
          pad: randomUUID(),
        }),
      );
      const body = {
        recipients: recipients.map((r) => ({ unitCode: r.unitCode })),
        subject: `Công văn thử tải ${n}`,
        contentType: 'application/json',
        protocol: 'TRANSFER_PROTOCOL_PLAIN_DATA',
        sizeBytes: String(content.length),
        sha256: sha256(content).toString('base64'),
        idempotencyKey: randomUUID(),
        inlineContent: content.toString('base64'),
      };
      try {
        const began = Date.now();
        const answer = await this.pool.call(TRANSFER, 'CreateTransfer', body, source.signer);
        if (answer.status === 200) this.commitLatencies.push([Date.now(), Date.now() - began]);
        if (answer.status !== 200) {
          this.sendFailures++;
          this.problems.push(`CreateTransfer refused: ${JSON.stringify(answer.body)}`);
        } else {
          const id: string = answer.body.transfer.id;
          this.sent.set(id, { id, source, recipients: recipients.map((r) => r.id), committedAt: Date.now() });
        }
      } catch (error) {
        this.sendFailures++;
        this.problems.push(String(error));
      }
      if (this.options.pauseMs) await sleep(this.options.pauseMs);
    }
  }

  async #receiveLoop(app: App): Promise<void> {
    while (this.#receiving) {
      let pending: Json[] = [];
      try {
        const answer = await this.pool.call(TRANSFER, 'ListPendingDeliveries', { pageSize: 100 }, app.signer);
        pending = answer.status === 200 ? (answer.body?.deliveries ?? []) : [];
      } catch (error) {
        this.problems.push(`ListPendingDeliveries: ${String(error)}`);
      }
      if (pending.length === 0) {
        await sleep(100);
        continue;
      }
      const width = this.options.receiverConcurrency ?? 1;
      for (let i = 0; i < pending.length && this.#receiving; i += width) {
        await Promise.all(
          pending.slice(i, i + width).map((delivery) =>
            this.#receive(app, delivery).catch((error: unknown) => {
              this.problems.push(`receive ${delivery.id}: ${String(error)}`);
            }),
          ),
        );
      }
    }
  }

  async #receive(app: App, delivery: Json): Promise<void> {
    const accepted = await this.pool.call(
      TRANSFER,
      'AcceptDelivery',
      { deliveryId: delivery.id, preferInline: true },
      app.signer,
    );
    // Not acceptable now (e.g. confirmed meanwhile through a retried call): it shows up again if still due.
    if (accepted.status !== 200) return;
    const inline: string | undefined = accepted.body.inlineContent;
    if (inline === undefined) {
      this.problems.push(`delivery ${delivery.id} came without inline content`);
      return;
    }
    const content = Buffer.from(inline, 'base64');
    const key = `${app.id} ${delivery.transferId}`;
    if (this.#received.has(key)) this.duplicates++;
    this.#received.add(key);
    const meant = JSON.parse(content.toString('utf8')) as { to: string[] };
    if (!meant.to.includes(app.unitCode)) this.misdelivered++;
    const confirmed = await this.pool.call(
      TRANSFER,
      'ConfirmDelivery',
      {
        deliveryId: delivery.id,
        sha256: sha256(content).toString('base64'),
        sizeBytes: String(content.length),
      },
      app.signer,
    );
    if (confirmed.status !== 200) {
      this.problems.push(`ConfirmDelivery ${delivery.id}: ${JSON.stringify(confirmed.body)}`);
      return;
    }
    const set = this.confirmed.get(delivery.transferId) ?? new Set<string>();
    set.add(app.id);
    this.confirmed.set(delivery.transferId, set);
    const sent = this.sent.get(delivery.transferId);
    if (sent?.recipients.every((r) => set.has(r))) {
      this.deliveredAt.set(delivery.transferId, Date.now());
    }
  }
}
