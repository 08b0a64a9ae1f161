/**
 * Notification replicas against the real Postgres and NATS: one or more
 * processes' worth of the service (each with its own database pool and NATS
 * connection, as separate pods would have) on one schema and one bus prefix
 * of the suite's own; a publisher of the events other services emit; and a
 * Subscribe client that records what a stream brought.
 */
import { randomBytes } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { create, toBinary } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { type Client, ConnectError, createClient } from '@connectrpc/connect';
import { CredentialEventKind, CredentialEventSchema } from '#gen/lgsp/auth/v1/resources_pb.js';
import { Priority } from '#gen/lgsp/common/v1/common_pb.js';
import {
  NotificationService,
  type SubscribeRequestSchema,
} from '#gen/lgsp/notification/v1/notification_service_pb.js';
import type { Heartbeat, Notice } from '#gen/lgsp/notification/v1/resources_pb.js';
import { DeliveryOfferedSchema, StatusChangedSchema } from '#gen/lgsp/transfer/v1/events_pb.js';
import { DeliveryState, TransferState } from '#gen/lgsp/transfer/v1/resources_pb.js';
import type { Bus } from '#lib/bus/bus.js';
import { connectNatsBus } from '#lib/bus/nats.js';
import { silentLogger } from '#lib/logger.js';
import { createGrpcTransport, type GrpcTransport } from '#lib/rpc/grpc-transport.js';
import { type RunningService, startService } from '#lib/service.js';
import { asApp, asService } from '../../../test/support/callers.js';
import { deleteStreams, dropSchemas } from '../../../test/support/cleanup.js';
import { TEST_DATABASE_URL, TEST_NATS_URL, uniqueName } from '../../../test/support/env.js';
import { loadNotificationConfig, type NotificationConfig } from '../src/config.js';
import type { NotificationContext } from '../src/context.js';
import { notificationModule } from '../src/main.js';

export { asApp, asService };

export const UNIT = '000.00.03.H26';

/** One master key for every replica of a suite, as pods share one Secret. */
const TEST_MASTER_KEY = new Uint8Array(randomBytes(32));

export type SubscribeInit = MessageInitShape<typeof SubscribeRequestSchema>;

let appCounter = 0;
/** A fresh app id (the registry's shape) and the call options of that app. */
export function newApp(unitCode = UNIT): { appId: string; as: ReturnType<typeof asApp> } {
  const appId = `app_${(++appCounter).toString(16).padStart(4, '0')}${randomBytes(6).toString('hex')}`;
  return { appId, as: asApp(appId, unitCode) };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Replica {
  readonly running: RunningService<NotificationContext>;
  readonly ctx: NotificationContext;
  readonly client: Client<typeof NotificationService>;
  /** Stops the replica (its streams end with UNAVAILABLE); the schema and streams stay. */
  close(): Promise<void>;
}

/**
 * Replicas of the notification service sharing one schema and one bus
 * prefix, and a bus connection of the test's own to publish other services'
 * events.
 */
export class NotificationCluster {
  readonly schema = uniqueName('notification');
  readonly busPrefix = uniqueName('T').toUpperCase();
  readonly replicas: Replica[] = [];
  #bus: Bus | undefined;
  readonly #transports: GrpcTransport[] = [];

  constructor(private readonly overrides: Partial<NotificationConfig> = {}) {}

  config(): NotificationConfig {
    return {
      ...loadNotificationConfig({}),
      service: 'notification',
      host: '127.0.0.1',
      port: 0,
      logLevel: process.env['TEST_LOG_LEVEL'] ?? 'silent',
      databaseUrl: TEST_DATABASE_URL,
      dbSchema: this.schema,
      dataDir: '',
      natsUrl: TEST_NATS_URL,
      busPrefix: this.busPrefix,
      readMaxBytes: 1024 * 1024,
      // No registry unless a suite starts one: SendNotice then answers UNAVAILABLE.
      registryAddr: '127.0.0.1:9',
      masterKey: TEST_MASTER_KEY,
      // The suites' webhook receivers listen on loopback.
      webhookAllowLoopback: true,
      ...this.overrides,
    };
  }

  /** Starts one more replica. */
  async start(overrides: Partial<NotificationConfig> = {}): Promise<Replica> {
    const running = await startService(
      notificationModule,
      { ...this.config(), ...overrides },
      process.env['TEST_LOG_LEVEL'] ? {} : { logger: silentLogger() },
    );
    const transport = createGrpcTransport({ address: new URL(running.url).host });
    this.#transports.push(transport);
    let closing: Promise<void> | undefined;
    const replica: Replica = {
      running,
      ctx: running.context,
      client: createClient(NotificationService, transport),
      close: () => {
        closing ??= running.close();
        return closing;
      },
    };
    this.replicas.push(replica);
    return replica;
  }

  /** The test's own connection to the bus, as another service would publish. */
  async bus(): Promise<Bus> {
    this.#bus ??= await connectNatsBus({ servers: TEST_NATS_URL, name: 'notification-test' });
    return this.#bus;
  }

  async publishOffer(offer: OfferFields): Promise<void> {
    const bus = await this.bus();
    await bus.publish(`${this.busPrefix}.transfer.offered.${offer.appId}`, offerEvent(offer), {
      msgId: randomBytes(8).toString('hex'),
    });
  }

  async publishStatus(status: StatusFields): Promise<void> {
    const bus = await this.bus();
    await bus.publish(`${this.busPrefix}.transfer.status.${status.sourceAppId}`, statusEvent(status), {
      msgId: randomBytes(8).toString('hex'),
    });
  }

  async publishCredentialExpiring(fields: CredentialFields): Promise<void> {
    const bus = await this.bus();
    await bus.publish(`${this.busPrefix}.auth.credential.expiring`, credentialEvent(fields), {
      msgId: randomBytes(8).toString('hex'),
    });
  }

  /** Stops every replica and removes the schema and the streams. */
  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.close().catch(() => undefined)));
    for (const t of this.#transports) t.close();
    await this.#bus?.close();
    await dropSchemas([this.schema]);
    await deleteStreams(this.busPrefix);
  }
}

export interface OfferFields {
  readonly appId: string;
  readonly deliveryId?: string;
  readonly transferId?: string;
  readonly attempts?: number;
  readonly priority?: Priority;
  readonly inline?: Uint8Array;
  readonly deadline?: Date;
}

export function offerEvent(fields: OfferFields): Uint8Array {
  return toBinary(
    DeliveryOfferedSchema,
    create(DeliveryOfferedSchema, {
      delivery: {
        id: fields.deliveryId ?? `dlv_${randomBytes(8).toString('hex')}`,
        transferId: fields.transferId ?? `trf_${randomBytes(8).toString('hex')}`,
        destinationAppId: fields.appId,
        destinationUnitCode: UNIT,
        sourceAppId: 'app_00000000000000aa',
        sourceUnitCode: '000.00.02.H26',
        subject: 'Công văn thử nghiệm',
        priority: fields.priority ?? Priority.NORMAL,
        contentType: 'application/json',
        sizeBytes: BigInt(fields.inline?.length ?? 100),
        state: DeliveryState.NOTIFIED,
        attempts: fields.attempts ?? 1,
        ...(fields.deadline === undefined ? {} : { deadline: timestampFromDate(fields.deadline) }),
      },
      ...(fields.inline === undefined ? {} : { inlineContent: fields.inline }),
    }),
  );
}

export interface StatusFields {
  readonly sourceAppId: string;
  readonly cursor: string;
  readonly notifySource: boolean;
  readonly deliveryState?: DeliveryState;
}

export function statusEvent(fields: StatusFields): Uint8Array {
  return toBinary(
    StatusChangedSchema,
    create(StatusChangedSchema, {
      sourceAppId: fields.sourceAppId,
      notifySource: fields.notifySource,
      change: {
        cursor: fields.cursor,
        transferId: `trf_${randomBytes(8).toString('hex')}`,
        deliveryId: `dlv_${randomBytes(8).toString('hex')}`,
        transferState: TransferState.DELIVERED,
        deliveryState: fields.deliveryState ?? DeliveryState.DELIVERED,
        destinationAppId: 'app_00000000000000bb',
        actor: 'app_00000000000000bb',
        occurTime: timestampFromDate(new Date()),
      },
    }),
  );
}

export interface CredentialFields {
  readonly accessKeyId: string;
  readonly version: bigint;
  readonly owner: { appId: string } | { operatorName: string };
  readonly expireTime: Date;
}

export function credentialEvent(fields: CredentialFields): Uint8Array {
  const owner =
    'appId' in fields.owner
      ? { case: 'appId' as const, value: fields.owner.appId }
      : { case: 'operatorName' as const, value: fields.owner.operatorName };
  return toBinary(
    CredentialEventSchema,
    create(CredentialEventSchema, {
      kind: CredentialEventKind.EXPIRING,
      accessKeyId: fields.accessKeyId,
      owner: { owner },
      version: fields.version,
      expireTime: timestampFromDate(fields.expireTime),
      occurTime: timestampFromDate(new Date()),
    }),
  );
}

/** A Subscribe stream that records what it brought, until it ends or is closed. */
export class Subscriber {
  readonly notices: Notice[] = [];
  readonly heartbeats: Heartbeat[] = [];
  /** Notices and heartbeats in arrival order, as `n<seq>` and `hb`. */
  readonly trace: string[] = [];
  #error: ConnectError | undefined;
  #ended = false;
  readonly #abort = new AbortController();
  readonly #done: Promise<void>;

  constructor(
    client: Client<typeof NotificationService>,
    options: { headers: Record<string, string> },
    request: SubscribeInit = {},
  ) {
    this.#done = (async () => {
      try {
        for await (const message of client.subscribe(request, {
          headers: options.headers,
          signal: this.#abort.signal,
        })) {
          const event = message.event;
          if (event.case === 'notice') {
            this.notices.push(event.value);
            this.trace.push(`n${event.value.sequence}`);
          } else if (event.case === 'heartbeat') {
            this.heartbeats.push(event.value);
            this.trace.push('hb');
          }
        }
      } catch (error) {
        if (!this.#abort.signal.aborted) this.#error = ConnectError.from(error);
      } finally {
        this.#ended = true;
      }
    })();
  }

  get error(): ConnectError | undefined {
    return this.#error;
  }

  get ended(): boolean {
    return this.#ended;
  }

  sequences(): bigint[] {
    return this.notices.map((n) => n.sequence);
  }

  /** The highest sequence seen, 0 before any. */
  last(): bigint {
    let max = 0n;
    for (const n of this.notices) if (n.sequence > max) max = n.sequence;
    return max;
  }

  /** Resolves once the stream sent its first heartbeat (it is registered by then). */
  async ready(timeoutMs = 10_000): Promise<void> {
    await until(() => this.heartbeats.length > 0 || this.#ended, timeoutMs, 'the first heartbeat');
    if (this.#error !== undefined) throw this.#error;
  }

  async waitForNotices(count: number, timeoutMs = 10_000): Promise<Notice[]> {
    await until(() => this.notices.length >= count || this.#ended, timeoutMs, `${count} notices`);
    if (this.notices.length < count) {
      throw new Error(
        `the stream ended after ${this.notices.length} notices: ${this.#error?.message ?? 'ok'}`,
      );
    }
    return this.notices;
  }

  /** Waits for the stream to end by itself (not closed by the test). */
  async waitForEnd(timeoutMs = 10_000): Promise<ConnectError | undefined> {
    await until(() => this.#ended, timeoutMs, 'the stream to end');
    return this.#error;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }
}

export function subscribe(
  replica: Replica,
  app: { as: { headers: Record<string, string> } },
  request: SubscribeInit = {},
): Subscriber {
  return new Subscriber(replica.client, app.as, request);
}

export const seconds = (s: number) => durationFromMs(s * 1000);

export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Reads until `done` holds for what was read; returns it. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
