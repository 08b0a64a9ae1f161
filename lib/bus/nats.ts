/**
 * NATS JetStream adapter of the bus port, for every real deployment.
 *
 * Written against nats-server 2.9 (the oldest server we run): nothing here
 * needs per-message TTL, and several filter subjects on one consumer, which
 * needs 2.10, falls back to filtering in the client (see `ensureConsumer`).
 */
import {
  AckPolicy,
  type Consumer,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  type ConsumerUpdateConfig,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamPublishOptions,
  type JsMsg,
  jetstream,
  jetstreamManager,
  type OrderedConsumerOptions,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { type KV, Kvm, type KvOptions, KvWatchInclude } from '@nats-io/kv';
import {
  connect,
  type MsgHdrs,
  millis,
  type NatsConnection,
  type NodeConnectionOptions,
  nanos,
  headers as natsHeaders,
} from '@nats-io/transport-node';
import { type Logger, pino } from 'pino';
import {
  type Bus,
  BusConflictError,
  type BusMessage,
  type ConsumeOptions,
  type ConsumerSpec,
  type KvChange,
  type KvEntry,
  type KvSpec,
  type KvStore,
  type MessageHandler,
  type PublishAck,
  type PublishOptions,
  type StreamSpec,
  type Subscription,
  type TailSpec,
} from './bus.js';
import {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_MAX_DELIVER,
  effectiveDuplicateWindowMs,
  retryDelayMs,
} from './policy.js';
import { subjectIsSubsetOf, subjectMatches } from './subjects.js';
import { tracedHandler } from './tracing.js';

export interface NatsBusOptions {
  readonly servers: string | string[];
  /** Connection name shown by the server's monitoring (`connz`). */
  readonly name?: string;
  readonly logger?: Logger;
  /**
   * Copies JetStream keeps of a stream or KV bucket whose spec names none
   * (`LGSP_NATS_REPLICAS`; 3 in a three-node cluster). Default 1.
   */
  readonly replicas?: number;
}

/** How long a pull waits on the server; a stop cancels it sooner by unsubscribing its inbox. */
const PULL_EXPIRES_MS = 15_000;
/** How long each pull of a tail waits on the server (its idle heartbeat is half of it). */
const TAIL_PULL_EXPIRES_MS = 10_000;
/** What a tail reports worth an operator's eye: its messages may come late (never lost). */
const TAIL_NOTES: ReadonlySet<string> = new Set([
  'heartbeats_missed',
  'reset',
  'ordered_consumer_recreated',
  'consumer_deleted',
  'consumer_not_found',
  'stream_not_found',
  'no_responders',
  'exceeded_limits',
]);
const PING_TIMEOUT_MS = 2_000;
const ACK_TIMEOUT_MS = 5_000;

export async function connectNatsBus(options: NatsBusOptions): Promise<Bus> {
  const log = options.logger ?? pino({ level: 'silent' });
  const connectOptions: NodeConnectionOptions = {
    // `nats://a:4222,nats://b:4222`: every server of a cluster, any of which may be down at start.
    servers:
      typeof options.servers === 'string'
        ? options.servers.split(',').map((server) => server.trim())
        : options.servers,
    // A broker outage must not end the process: keep reconnecting until close().
    maxReconnectAttempts: -1,
  };
  if (options.name !== undefined) connectOptions.name = options.name;
  let nc: NatsConnection;
  try {
    nc = await connect(connectOptions);
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${String(options.servers)}: ${messageOf(err)}`, {
      cause: err,
    });
  }
  try {
    const jsm = await jetstreamManager(nc);
    return new NatsBus(nc, jetstream(nc), jsm, log, options.replicas ?? 1);
  } catch (err) {
    await nc.close().catch(() => {});
    throw new Error(`NATS at ${String(options.servers)} has no usable JetStream: ${messageOf(err)}`, {
      cause: err,
    });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isApiError(err: unknown, ...codes: number[]): boolean {
  return err instanceof JetStreamApiError && codes.includes(err.code);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Broker-internal headers (`Nats-Msg-Id`, `Nats-Expected-*`, ...) are not the application's. */
function readHeaders(h: MsgHdrs | undefined): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  if (h === undefined) return out;
  for (const key of h.keys()) {
    if (key.toLowerCase().startsWith('nats-')) continue;
    out[key] = h.get(key);
  }
  return out;
}

class NatsBus implements Bus {
  readonly kind = 'nats' as const;
  private readonly kvm: Kvm;
  private readonly subscriptions = new Set<Subscription>();
  private readonly statusLoop: Promise<void>;
  private readonly reconnectListeners = new Set<() => void>();
  private closing: Promise<void> | null = null;

  constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly log: Logger,
    private readonly defaultReplicas = 1,
  ) {
    this.kvm = new Kvm(js);
    this.statusLoop = this.watchStatus();
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.log.warn({ server: s.server }, 'bus: disconnected from NATS');
          break;
        case 'reconnect':
          this.log.info({ server: s.server }, 'bus: reconnected to NATS');
          for (const listener of this.reconnectListeners) listener();
          break;
        case 'error':
          this.log.error({ err: s.error }, 'bus: NATS error');
          break;
        case 'slowConsumer':
          this.log.warn({ subject: s.sub.getSubject(), pending: s.pending }, 'bus: slow consumer');
          break;
        default:
          this.log.debug({ status: s.type }, 'bus: NATS status');
      }
    }
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  assertOpen(): void {
    if (this.closing !== null || this.nc.isClosed()) throw new Error('bus is closed');
  }

  track(sub: Subscription): void {
    this.subscriptions.add(sub);
  }

  forget(sub: Subscription): void {
    this.subscriptions.delete(sub);
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    this.assertOpen();
    const maxAge = nanos(spec.maxAgeMs ?? 0);
    const duplicateWindow = nanos(effectiveDuplicateWindowMs(spec.duplicateWindowMs, spec.maxAgeMs));
    const replicas = spec.replicas ?? this.defaultReplicas;
    const wanted = {
      subjects: [...spec.subjects],
      max_age: maxAge,
      duplicate_window: duplicateWindow,
      num_replicas: replicas,
    };
    const update = async (): Promise<void> => {
      const info = await this.jsm.streams.info(spec.name);
      const c = info.config;
      if (
        sameSet(c.subjects, wanted.subjects) &&
        c.max_age === maxAge &&
        c.duplicate_window === duplicateWindow &&
        c.num_replicas === replicas
      ) {
        return;
      }
      await this.jsm.streams.update(spec.name, wanted);
      this.log.info({ stream: spec.name, subjects: wanted.subjects }, 'bus: stream updated');
    };
    try {
      await update();
      return;
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
    }
    const config: Partial<StreamConfig> & { name: string } = {
      name: spec.name,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      ...wanted,
    };
    try {
      await this.jsm.streams.add(config);
      this.log.info({ stream: spec.name, subjects: wanted.subjects }, 'bus: stream created');
      await this.awaitStreamLeader(spec.name, replicas);
    } catch (err) {
      // Another process created it between our lookup and our add.
      if (err instanceof JetStreamApiError && /already in use/i.test(err.message)) {
        await update();
        return;
      }
      throw err;
    }
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<PublishAck> {
    this.assertOpen();
    const opts: Partial<JetStreamPublishOptions> = {};
    if (options.msgId !== undefined) opts.msgID = options.msgId;
    if (options.headers !== undefined && Object.keys(options.headers).length > 0) {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(options.headers)) h.set(k, v);
      opts.headers = h;
    }
    try {
      const ack = await this.js.publish(subject, data, opts);
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      // The client reports "no responders" to a publish as JetStream being disabled,
      // which in practice means that no stream captures the subject.
      if (/no responders|not enabled/i.test(messageOf(err))) {
        throw new Error(`no stream captures subject "${subject}"`, { cause: err });
      }
      throw err;
    }
  }

  async consume(
    spec: ConsumerSpec,
    handler: MessageHandler,
    options: ConsumeOptions = {},
  ): Promise<Subscription> {
    this.assertOpen();
    const { info, clientFilters } = await this.ensureConsumer(spec);
    const consumer = await this.js.consumers.get(spec.stream, info.name);
    const run = new Consumption(this, consumer, tracedHandler(spec.durable, handler), {
      stream: spec.stream,
      durable: spec.durable,
      concurrency: Math.max(1, Math.floor(options.concurrency ?? 1)),
      maxDeliver: info.config.max_deliver ?? DEFAULT_MAX_DELIVER,
      clientFilters,
    });
    this.track(run);
    run.start();
    return run;
  }

  async tail(spec: TailSpec, onMessage: (msg: BusMessage) => void): Promise<Subscription> {
    this.assertOpen();
    const filters = [...(spec.filterSubjects ?? [])];
    const multiOnServer = filters.length > 1 && this.serverAtLeast(2, 10);
    const clientFilters = filters.length > 1 && !multiOnServer ? filters : null;
    const stream = await this.jsm.streams.info(spec.stream);
    for (const f of filters) {
      if (!stream.config.subjects.some((s) => subjectIsSubsetOf(f, s))) {
        throw new Error(`filter subject "${f}" is not within the subjects of stream ${spec.stream}`);
      }
    }
    // Start right after what is stored now. DeliverPolicy.New would do the same until the
    // ordered consumer is recreated (reconnect, missed heartbeats) before its first message:
    // it then restarts from its cursor, which would be the start of the stream.
    const options: Partial<OrderedConsumerOptions> = {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: stream.state.last_seq + 1,
    };
    if (filters.length === 1) options.filter_subjects = filters[0]!;
    if (multiOnServer) options.filter_subjects = filters;
    const consumer = await this.js.consumers.get(spec.stream, options);
    // Shorter pulls than the default: a pull the server stops answering is noticed after two
    // missed idle heartbeats (half the pull each), and the ordered consumer recreated from where it was.
    const messages = await consumer.consume({ max_messages: 256, expires: TAIL_PULL_EXPIRES_MS });
    const log = this.log;
    void (async () => {
      for await (const note of messages.status()) {
        if (TAIL_NOTES.has(note.type)) log.warn({ stream: spec.stream, note }, 'bus: tail interrupted');
      }
    })().catch(() => {});
    const loop = (async () => {
      for await (const m of messages) {
        if (clientFilters !== null && !clientFilters.some((f) => subjectMatches(f, m.subject))) continue;
        try {
          onMessage({
            subject: m.subject,
            data: m.data,
            headers: readHeaders(m.headers),
            seq: m.seq,
            deliveryCount: 1,
          });
        } catch (err) {
          log.error({ err, stream: spec.stream, subject: m.subject, seq: m.seq }, 'bus: tail listener threw');
        }
      }
    })().catch((err: unknown) => log.warn({ err, stream: spec.stream }, 'bus: tail ended with an error'));
    let stopping: Promise<void> | undefined;
    const handle: Subscription = {
      stop: () => {
        stopping ??= (async () => {
          this.forget(handle);
          await messages.close().catch(() => {});
          await loop;
        })();
        return stopping;
      },
    };
    this.track(handle);
    return handle;
  }

  private serverAtLeast(major: number, minor: number): boolean {
    const [ma = 0, mi = 0] = (this.nc.info?.version ?? '0.0.0').split('.').map((n) => Number.parseInt(n, 10));
    return ma > major || (ma === major && mi >= minor);
  }

  /**
   * Creates the durable or brings its limits and filter to the spec. Where it
   * starts (`deliverFrom`) is fixed at creation, as JetStream requires.
   *
   * Several filter subjects need nats-server 2.10; on an older server the
   * durable takes the whole stream and the client acks what the filters reject
   * without calling the handler, which costs traffic but keeps the semantics.
   */
  private async ensureConsumer(
    spec: ConsumerSpec,
  ): Promise<{ info: ConsumerInfo; clientFilters: readonly string[] | null }> {
    const filters = [...(spec.filterSubjects ?? [])];
    const multiOnServer = filters.length > 1 && this.serverAtLeast(2, 10);
    const clientFilters = filters.length > 1 && !multiOnServer ? filters : null;
    if (clientFilters !== null) {
      // The server cannot vouch for these filters, so check them as it would.
      const stream = await this.jsm.streams.info(spec.stream);
      for (const f of clientFilters) {
        if (!stream.config.subjects.some((s) => subjectIsSubsetOf(f, s))) {
          throw new Error(`filter subject "${f}" is not within the subjects of stream ${spec.stream}`);
        }
      }
    }
    const single = filters.length === 1 ? filters[0] : undefined;
    const ackWait = nanos(spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS);
    const maxDeliver = spec.maxDeliver ?? DEFAULT_MAX_DELIVER;
    const limits: Partial<ConsumerConfig> = { ack_wait: ackWait, max_deliver: maxDeliver };
    // An empty filter would end up as a trailing token of the create subject, so leave it out.
    if (single !== undefined) limits.filter_subject = single;
    if (multiOnServer) limits.filter_subjects = filters;

    let existing: ConsumerInfo | null = null;
    try {
      existing = await this.jsm.consumers.info(spec.stream, spec.durable);
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
    if (existing === null) {
      const info = await this.jsm.consumers.add(spec.stream, {
        ...limits,
        durable_name: spec.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: spec.deliverFrom === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
      });
      this.log.info({ stream: spec.stream, durable: spec.durable }, 'bus: consumer created');
      return { info, clientFilters };
    }
    const c = existing.config;
    const unchanged =
      c.ack_wait === ackWait &&
      c.max_deliver === maxDeliver &&
      (c.filter_subject ?? '') === (limits.filter_subject ?? '') &&
      sameSet(c.filter_subjects ?? [], limits.filter_subjects ?? []);
    if (unchanged) return { info: existing, clientFilters };
    // update() merges into the current config: an own `undefined` is what clears a filter
    // that the spec no longer has (JSON drops it), hence the widened type.
    const change: { [K in keyof ConsumerUpdateConfig]?: ConsumerUpdateConfig[K] | undefined } = {
      ...limits,
      filter_subject: limits.filter_subject,
      filter_subjects: limits.filter_subjects,
    };
    const info = await this.jsm.consumers.update(
      spec.stream,
      spec.durable,
      change as Partial<ConsumerUpdateConfig>,
    );
    this.log.info(
      { stream: spec.stream, durable: spec.durable, ackWaitMs: millis(ackWait), maxDeliver },
      'bus: consumer updated',
    );
    return { info, clientFilters };
  }

  async broadcast(subject: string, data: Uint8Array): Promise<void> {
    this.assertOpen();
    this.nc.publish(subject, data);
  }

  async listen(
    subject: string,
    onMessage: (subject: string, data: Uint8Array) => void,
  ): Promise<Subscription> {
    this.assertOpen();
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err !== null) {
          this.log.warn({ err, subject }, 'bus: listen subscription error');
          return;
        }
        try {
          onMessage(msg.subject, msg.data);
        } catch (e) {
          this.log.error({ err: e, subject: msg.subject }, 'bus: broadcast listener threw');
        }
      },
    });
    // Once listen() resolves, broadcasts from any other connection must reach us.
    await this.nc.flush();
    const handle: Subscription = {
      stop: async () => {
        this.forget(handle);
        if (sub.isClosed() || this.nc.isClosed()) return;
        await sub.drain().catch((err: unknown) => this.log.debug({ err, subject }, 'bus: drain failed'));
      },
    };
    this.track(handle);
    return handle;
  }

  async kv(spec: KvSpec): Promise<KvStore> {
    this.assertOpen();
    const opts: Partial<KvOptions> = { history: 1, replicas: spec.replicas ?? this.defaultReplicas };
    if (spec.ttlMs !== undefined) opts.ttl = spec.ttlMs;
    const kv = await this.kvm.create(spec.bucket, opts);
    await this.awaitStreamLeader(`KV_${spec.bucket}`, opts.replicas ?? 1);
    return new NatsKv(spec.bucket, kv, this);
  }

  /**
   * A stream kept on several nodes takes a moment after its creation to elect
   * the leader that answers writes; until then a publish finds no responders.
   * Waits (at most 10 s) until it has one; a single copy has one at once.
   */
  private async awaitStreamLeader(stream: string, replicas: number): Promise<void> {
    if (replicas <= 1) return;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        if ((await this.jsm.streams.info(stream)).cluster?.leader) return;
      } catch (err) {
        this.log.debug({ err, stream }, 'bus: stream info failed while waiting for its leader');
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    this.log.warn({ stream, replicas }, 'bus: no stream leader elected within 10 s');
  }

  async ping(): Promise<void> {
    this.assertOpen();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`NATS did not answer within ${PING_TIMEOUT_MS} ms`)),
        PING_TIMEOUT_MS,
      );
      timer.unref();
    });
    try {
      await Promise.race([this.nc.rtt(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    if (!this.nc.isClosed()) {
      await this.nc.drain().catch((err: unknown) => this.log.warn({ err }, 'bus: drain failed'));
    }
    await this.statusLoop;
  }
}

interface ConsumptionSettings {
  readonly stream: string;
  readonly durable: string;
  readonly concurrency: number;
  readonly maxDeliver: number;
  readonly clientFilters: readonly string[] | null;
}

/**
 * One `consume()`: a pull loop that never asks the server for more than it has
 * free handler slots, so that messages do not wait in a client buffer while
 * their ack wait runs, and so that processes sharing a durable share the work.
 */
class Consumption implements Subscription {
  private stopping = false;
  private inFlight = 0;
  private current: ConsumerMessages | null = null;
  private loop: Promise<void> = Promise.resolve();
  private wakeOnStop: (() => void) | null = null;
  private wakeOnRoom: (() => void) | null = null;
  private idleWaiters: (() => void)[] = [];
  private stopped: Promise<void> | null = null;

  constructor(
    private readonly bus: NatsBus,
    private readonly consumer: Consumer,
    private readonly handler: MessageHandler,
    private readonly settings: ConsumptionSettings,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  private get log(): Logger {
    return this.bus.log;
  }

  /** Resolves after `ms`, on stop, and — when `onRoom` — as soon as a handler slot frees up. */
  private pause(ms: number, onRoom: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wakeOnStop = null;
        this.wakeOnRoom = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      t.unref();
      this.wakeOnStop = done;
      if (onRoom) this.wakeOnRoom = done;
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const room = this.settings.concurrency - this.inFlight;
      if (room <= 0) {
        await this.pause(PULL_EXPIRES_MS, true);
        continue;
      }
      try {
        const batch = await this.consumer.fetch({ max_messages: room, expires: PULL_EXPIRES_MS });
        this.current = batch;
        // Not awaited: close() settles only once the loop below has drained the batch.
        if (this.stopping) void batch.close();
        for await (const m of batch) {
          if (this.stopping) {
            // Arrived after stop: hand it straight back for another process.
            m.nak();
            continue;
          }
          this.dispatch(m);
        }
        failures = 0;
      } catch (err) {
        if (this.stopping) break;
        failures++;
        const delay = Math.min(500 * 2 ** Math.min(failures - 1, 5), 15_000);
        this.log.warn(
          { err, stream: this.settings.stream, durable: this.settings.durable, retryInMs: delay },
          'bus: pull failed; retrying',
        );
        await this.pause(delay, false);
      } finally {
        this.current = null;
      }
    }
  }

  private dispatch(m: JsMsg): void {
    this.inFlight++;
    void this.handle(m).finally(() => {
      this.inFlight--;
      this.wakeOnRoom?.();
      if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private async handle(m: JsMsg): Promise<void> {
    const { stream, durable, maxDeliver, clientFilters } = this.settings;
    if (clientFilters !== null && !clientFilters.some((f) => subjectMatches(f, m.subject))) {
      await this.ack(m);
      return;
    }
    const deliveryCount = m.info.deliveryCount;
    const msg: BusMessage = {
      subject: m.subject,
      data: m.data,
      headers: readHeaders(m.headers),
      seq: m.seq,
      deliveryCount,
    };
    try {
      await this.handler(msg);
    } catch (err) {
      const ctx = { err, stream, durable, subject: m.subject, seq: m.seq, deliveries: deliveryCount };
      try {
        if (maxDeliver > 0 && deliveryCount >= maxDeliver) {
          m.term();
          this.log.error(ctx, 'bus: message handler failed on its last delivery; message terminated');
        } else {
          const delay = retryDelayMs(deliveryCount);
          m.nak(delay);
          this.log.warn({ ...ctx, retryInMs: delay }, 'bus: message handler failed; will redeliver');
        }
      } catch (e) {
        this.log.warn({ err: e, stream, durable, seq: m.seq }, 'bus: could not nak; ack wait will redeliver');
      }
      return;
    }
    await this.ack(m);
  }

  private async ack(m: JsMsg): Promise<void> {
    // A confirmed ack means a stop() followed by a restart cannot see the message again.
    try {
      await m.ackAck({ timeout: ACK_TIMEOUT_MS });
    } catch (err) {
      this.log.warn(
        { err, stream: this.settings.stream, durable: this.settings.durable, seq: m.seq },
        'bus: ack not confirmed; the message may be delivered again',
      );
    }
  }

  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.wakeOnStop?.();
    // Unsubscribing the pull's inbox makes the server skip that pull request.
    void this.current?.close();
    await this.loop;
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (!this.bus.nc.isClosed()) await this.bus.nc.flush().catch(() => {});
    this.bus.forget(this);
  }
}

class NatsKv implements KvStore {
  constructor(
    private readonly bucket: string,
    private readonly kv: KV,
    private readonly bus: NatsBus,
  ) {}

  private conflict(err: unknown, key: string): unknown {
    if (
      isApiError(
        err,
        JetStreamApiCodes.StreamWrongLastSequence,
        JetStreamApiCodes.StreamWrongLastSequenceUnknown,
      )
    ) {
      return new BusConflictError(`key "${key}" in bucket ${this.bucket}: ${messageOf(err)}`, { cause: err });
    }
    return err;
  }

  async get(key: string): Promise<KvEntry | null> {
    const e = await this.kv.get(key);
    if (e === null || e.operation !== 'PUT') return null;
    return { key, value: e.value, revision: e.revision };
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.kv.put(key, value);
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    try {
      return await this.kv.create(key, value);
    } catch (err) {
      throw this.conflict(err, key);
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    // No stored entry has revision 0; the client would reject it as an argument error.
    if (revision <= 0)
      throw new BusConflictError(`key "${key}" in bucket ${this.bucket} is not at revision ${revision}`);
    try {
      return await this.kv.update(key, value, revision);
    } catch (err) {
      throw this.conflict(err, key);
    }
  }

  delete(key: string): Promise<void> {
    return this.kv.delete(key);
  }

  async keys(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys()) out.push(k);
    return out;
  }

  async watch(onChange: (change: KvChange) => void): Promise<Subscription> {
    this.bus.assertOpen();
    const iter = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
    const log = this.bus.log;
    const bucket = this.bucket;
    const loop = (async () => {
      for await (const e of iter) {
        const change: KvChange =
          e.operation === 'PUT'
            ? { op: 'put', entry: { key: e.key, value: e.value, revision: e.revision } }
            : { op: 'delete', key: e.key, revision: e.revision };
        try {
          onChange(change);
        } catch (err) {
          log.error({ err, bucket, key: e.key }, 'bus: kv watcher threw');
        }
      }
    })().catch((err: unknown) => log.warn({ err, bucket }, 'bus: kv watch ended with an error'));
    const sub: Subscription = {
      stop: async () => {
        this.bus.forget(sub);
        iter.stop();
        await loop;
      },
    };
    this.bus.track(sub);
    return sub;
  }
}
