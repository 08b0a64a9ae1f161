/**
 * In-process bus adapter for the embedded mode when no nats-server is at hand.
 *
 * It reproduces the JetStream semantics the services rely on — subject
 * wildcards, `msgId` de-duplication, durable consumers shared by name, ack wait,
 * redelivery with backoff, `maxDeliver`, KV revisions and compare-and-set — so
 * the contract suite passes unchanged. It lives in one process and keeps
 * nothing on disk: a restart loses every stream, which is acceptable only
 * because the embedded mode relays from the Postgres outbox again.
 */
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
import { assertSubject, subjectIsSubsetOf, subjectMatches, subjectsOverlap } from './subjects.js';
import { tracedHandler } from './tracing.js';

export interface MemoryBusOptions {
  readonly logger?: Logger;
}

export function createMemoryBus(options: MemoryBusOptions = {}): Bus {
  return new MemoryBus(options.logger ?? pino({ level: 'silent' }));
}

const NAME = /^[-\w]+$/;
const KV_KEY = /^[-/=.\w]+$/;

function assertName(kind: string, name: string): void {
  if (!NAME.test(name)) throw new Error(`invalid ${kind} name "${name}"`);
}

function assertKey(key: string): void {
  if (!KV_KEY.test(key) || key.startsWith('.') || key.endsWith('.')) {
    throw new Error(`invalid key "${key}"`);
  }
}

/** Like the NATS adapter, keep only the application's headers: `Nats-*` ones belong to the broker. */
function userHeaders(
  headers: Readonly<Record<string, string>> | undefined,
): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (!k.toLowerCase().startsWith('nats-')) out[k] = v;
  }
  return Object.freeze(out);
}

/** Timers of the in-process bus must never hold the process open on their own. */
function later(ms: number, fn: () => void): NodeJS.Timeout {
  const t = setTimeout(fn, ms);
  t.unref();
  return t;
}

interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly at: number;
}

class MemStream {
  subjects: readonly string[];
  maxAgeMs: number;
  duplicateWindowMs: number;
  /** Contiguous by sequence: limits only ever drop from the front. */
  readonly messages: StoredMessage[] = [];
  lastSeq = 0;
  readonly msgIds = new Map<string, { seq: number; at: number }>();
  readonly consumers = new Map<string, MemConsumer>();
  /** Tails of this stream: each gets every message stored after it began. */
  readonly tails = new Set<{ filters: readonly string[]; fn: (msg: BusMessage) => void }>();

  constructor(
    readonly name: string,
    spec: StreamSpec,
  ) {
    this.subjects = [...spec.subjects];
    this.maxAgeMs = spec.maxAgeMs ?? 0;
    this.duplicateWindowMs = effectiveDuplicateWindowMs(spec.duplicateWindowMs, spec.maxAgeMs);
  }

  captures(subject: string): boolean {
    return this.subjects.some((p) => subjectMatches(p, subject));
  }

  prune(now: number): void {
    if (this.maxAgeMs > 0) {
      let drop = 0;
      while (drop < this.messages.length && this.messages[drop]!.at <= now - this.maxAgeMs) drop++;
      if (drop > 0) this.messages.splice(0, drop);
    }
    for (const [id, rec] of this.msgIds) {
      // Insertion order is publish order, so the first live entry ends the scan.
      if (rec.at > now - this.duplicateWindowMs) break;
      this.msgIds.delete(id);
    }
  }

  get(seq: number): StoredMessage | undefined {
    const first = this.messages[0];
    if (first === undefined) return undefined;
    return this.messages[seq - first.seq];
  }
}

class Session {
  inFlight = 0;
  stopping = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly handler: MessageHandler,
    readonly concurrency: number,
  ) {}

  get hasRoom(): boolean {
    return !this.stopping && this.inFlight < this.concurrency;
  }

  settled(): void {
    this.inFlight--;
    if (this.inFlight === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

interface ConsumerConfig {
  filters: readonly string[];
  ackWaitMs: number;
  maxDeliver: number;
}

class MemConsumer {
  /** Next stream sequence never delivered to this durable. */
  nextSeq: number;
  /** Deliveries so far of every message not yet acked or given up. */
  private readonly deliveries = new Map<number, number>();
  /** Delivered and awaiting an ack; the timer is the ack wait. */
  private readonly pending = new Map<number, NodeJS.Timeout>();
  /** Naked, waiting out their backoff. */
  private readonly delayed = new Map<number, NodeJS.Timeout>();
  /** Due for redelivery, lowest sequence first, served before new messages as JetStream does. */
  private ready: number[] = [];
  private readonly sessions: Session[] = [];
  private turn = 0;

  constructor(
    private readonly stream: MemStream,
    readonly durable: string,
    public config: ConsumerConfig,
    startSeq: number,
    private readonly log: Logger,
  ) {
    this.nextSeq = startSeq;
  }

  addSession(s: Session): void {
    this.sessions.push(s);
    this.pump();
  }

  removeSession(s: Session): void {
    const i = this.sessions.indexOf(s);
    if (i >= 0) this.sessions.splice(i, 1);
  }

  clearTimers(): void {
    for (const t of this.pending.values()) clearTimeout(t);
    for (const t of this.delayed.values()) clearTimeout(t);
    this.pending.clear();
    this.delayed.clear();
  }

  pump(): void {
    this.stream.prune(Date.now());
    for (;;) {
      const session = this.pickSession();
      if (session === undefined) return;
      const msg = this.nextMessage();
      if (msg === undefined) return;
      this.deliver(session, msg);
    }
  }

  private pickSession(): Session | undefined {
    // Round robin, so that processes sharing a durable share the work.
    for (let i = 0; i < this.sessions.length; i++) {
      const s = this.sessions[(this.turn + i) % this.sessions.length]!;
      if (s.hasRoom) {
        this.turn = (this.turn + i + 1) % this.sessions.length;
        return s;
      }
    }
    return undefined;
  }

  private nextMessage(): StoredMessage | undefined {
    while (this.ready.length > 0) {
      const seq = this.ready.shift()!;
      const msg = this.stream.get(seq);
      if (msg !== undefined) return msg;
      this.deliveries.delete(seq);
    }
    const first = this.stream.messages[0];
    if (first !== undefined && this.nextSeq < first.seq) this.nextSeq = first.seq;
    while (this.nextSeq <= this.stream.lastSeq) {
      const msg = this.stream.get(this.nextSeq);
      this.nextSeq++;
      if (msg !== undefined && this.wants(msg.subject)) return msg;
    }
    return undefined;
  }

  private wants(subject: string): boolean {
    const { filters } = this.config;
    return filters.length === 0 || filters.some((f) => subjectMatches(f, subject));
  }

  private deliver(session: Session, stored: StoredMessage): void {
    const { seq } = stored;
    const deliveryCount = (this.deliveries.get(seq) ?? 0) + 1;
    this.deliveries.set(seq, deliveryCount);
    this.pending.set(
      seq,
      later(this.config.ackWaitMs, () => this.ackWaitExpired(seq)),
    );
    session.inFlight++;
    const msg: BusMessage = {
      subject: stored.subject,
      data: stored.data.slice(),
      headers: stored.headers,
      seq,
      deliveryCount,
    };
    // The handler always runs on a later tick, as it would behind a socket.
    Promise.resolve()
      .then(() => session.handler(msg))
      .then(
        () => this.ack(seq),
        (err: unknown) => this.nak(msg, err),
      )
      .finally(() => {
        session.settled();
        this.pump();
      });
  }

  private ack(seq: number): void {
    // A late ack from an earlier delivery still settles the message, as in JetStream.
    this.forget(seq);
  }

  private forget(seq: number): void {
    const p = this.pending.get(seq);
    if (p !== undefined) clearTimeout(p);
    this.pending.delete(seq);
    const d = this.delayed.get(seq);
    if (d !== undefined) clearTimeout(d);
    this.delayed.delete(seq);
    this.ready = this.ready.filter((s) => s !== seq);
    this.deliveries.delete(seq);
  }

  private nak(msg: BusMessage, err: unknown): void {
    const { seq } = msg;
    const count = this.deliveries.get(seq);
    // Already settled by another delivery, or already queued again after its ack wait.
    if (count === undefined || !this.pending.has(seq)) return;
    if (count >= this.config.maxDeliver) {
      this.forget(seq);
      this.log.error(
        {
          err,
          stream: this.stream.name,
          durable: this.durable,
          subject: msg.subject,
          seq,
          deliveries: count,
        },
        'bus: message handler failed on its last delivery; message terminated',
      );
      return;
    }
    const delay = retryDelayMs(count);
    this.log.warn(
      {
        err,
        stream: this.stream.name,
        durable: this.durable,
        subject: msg.subject,
        seq,
        deliveries: count,
        retryInMs: delay,
      },
      'bus: message handler failed; will redeliver',
    );
    clearTimeout(this.pending.get(seq));
    this.pending.delete(seq);
    this.delayed.set(
      seq,
      later(delay, () => {
        this.delayed.delete(seq);
        this.requeue(seq);
      }),
    );
  }

  private ackWaitExpired(seq: number): void {
    this.pending.delete(seq);
    const count = this.deliveries.get(seq) ?? 0;
    if (count >= this.config.maxDeliver) {
      this.deliveries.delete(seq);
      this.log.error(
        { stream: this.stream.name, durable: this.durable, seq, deliveries: count },
        'bus: message not acked within ack wait on its last delivery; giving up',
      );
      return;
    }
    this.requeue(seq);
  }

  private requeue(seq: number): void {
    let i = 0;
    while (i < this.ready.length && this.ready[i]! < seq) i++;
    if (this.ready[i] !== seq) this.ready.splice(i, 0, seq);
    this.pump();
  }
}

interface KvRecord {
  /** `null` marks a delete, kept so that CAS on its revision works as in NATS KV. */
  readonly value: Uint8Array | null;
  readonly revision: number;
  readonly at: number;
}

class MemBucket implements KvStore {
  private revision = 0;
  private readonly records = new Map<string, KvRecord>();
  private readonly watchers = new Set<(change: KvChange) => void>();

  constructor(
    readonly name: string,
    private readonly ttlMs: number,
    private readonly bus: MemoryBus,
  ) {}

  private record(key: string): KvRecord | undefined {
    const r = this.records.get(key);
    if (r !== undefined && this.ttlMs > 0 && r.at <= Date.now() - this.ttlMs) {
      // Expiry removes the entry outright, as max age does on the KV stream.
      this.records.delete(key);
      return undefined;
    }
    return r;
  }

  private write(key: string, value: Uint8Array | null): number {
    this.revision++;
    const revision = this.revision;
    // Re-inserting keeps map order equal to revision order, which keys() reports.
    this.records.delete(key);
    this.records.set(key, { value: value?.slice() ?? null, revision, at: Date.now() });
    const change: KvChange =
      value === null
        ? { op: 'delete', key, revision }
        : { op: 'put', entry: { key, value: value.slice(), revision } };
    for (const w of this.watchers) {
      queueMicrotask(() => {
        try {
          w(change);
        } catch (err) {
          this.bus.log.error({ err, bucket: this.name, key }, 'bus: kv watcher threw');
        }
      });
    }
    return revision;
  }

  async get(key: string): Promise<KvEntry | null> {
    this.bus.assertOpen();
    assertKey(key);
    const r = this.record(key);
    if (r === undefined || r.value === null) return null;
    return { key, value: r.value.slice(), revision: r.revision };
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.bus.assertOpen();
    assertKey(key);
    return this.write(key, value);
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    this.bus.assertOpen();
    assertKey(key);
    const r = this.record(key);
    if (r !== undefined && r.value !== null) {
      throw new BusConflictError(
        `key "${key}" already exists in bucket ${this.name} (revision ${r.revision})`,
      );
    }
    return this.write(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    this.bus.assertOpen();
    assertKey(key);
    const r = this.record(key);
    if (r === undefined || r.revision !== revision) {
      throw new BusConflictError(
        `key "${key}" in bucket ${this.name} is at revision ${r?.revision ?? 0}, not ${revision}`,
      );
    }
    return this.write(key, value);
  }

  async delete(key: string): Promise<void> {
    this.bus.assertOpen();
    assertKey(key);
    this.write(key, null);
  }

  async keys(): Promise<string[]> {
    this.bus.assertOpen();
    const out: string[] = [];
    for (const key of [...this.records.keys()]) {
      const r = this.record(key);
      if (r !== undefined && r.value !== null) out.push(key);
    }
    return out;
  }

  async watch(onChange: (change: KvChange) => void): Promise<Subscription> {
    this.bus.assertOpen();
    this.watchers.add(onChange);
    const sub: Subscription = {
      stop: async () => {
        this.watchers.delete(onChange);
        this.bus.forget(sub);
      },
    };
    this.bus.track(sub);
    return sub;
  }

  closeWatchers(): void {
    this.watchers.clear();
  }
}

class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private closed = false;
  private readonly streams = new Map<string, MemStream>();
  private readonly buckets = new Map<string, MemBucket>();
  private readonly listeners = new Set<{
    pattern: string;
    fn: (subject: string, data: Uint8Array) => void;
  }>();
  private readonly subscriptions = new Set<Subscription>();

  constructor(readonly log: Logger) {}

  assertOpen(): void {
    if (this.closed) throw new Error('bus is closed');
  }

  track(sub: Subscription): void {
    this.subscriptions.add(sub);
  }

  forget(sub: Subscription): void {
    this.subscriptions.delete(sub);
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    this.assertOpen();
    assertName('stream', spec.name);
    if (spec.subjects.length === 0) throw new Error(`stream ${spec.name} needs at least one subject`);
    for (const s of spec.subjects) assertSubject(s, true);
    for (const other of this.streams.values()) {
      if (other.name === spec.name) continue;
      const clash = spec.subjects.find((s) => other.subjects.some((o) => subjectsOverlap(s, o)));
      if (clash !== undefined) {
        throw new Error(`stream ${spec.name}: subject "${clash}" overlaps with stream ${other.name}`);
      }
    }
    const existing = this.streams.get(spec.name);
    if (existing === undefined) {
      this.streams.set(spec.name, new MemStream(spec.name, spec));
      return;
    }
    existing.subjects = [...spec.subjects];
    existing.maxAgeMs = spec.maxAgeMs ?? 0;
    existing.duplicateWindowMs = effectiveDuplicateWindowMs(spec.duplicateWindowMs, spec.maxAgeMs);
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<PublishAck> {
    this.assertOpen();
    assertSubject(subject, false);
    const stream = [...this.streams.values()].find((s) => s.captures(subject));
    if (stream === undefined) throw new Error(`no stream captures subject "${subject}"`);
    const now = Date.now();
    stream.prune(now);
    if (options.msgId !== undefined) {
      const seen = stream.msgIds.get(options.msgId);
      if (seen !== undefined) return { seq: seen.seq, duplicate: true };
    }
    stream.lastSeq++;
    const seq = stream.lastSeq;
    stream.messages.push({
      seq,
      subject,
      data: data.slice(),
      headers: userHeaders(options.headers),
      at: now,
    });
    if (options.msgId !== undefined) stream.msgIds.set(options.msgId, { seq, at: now });
    for (const c of stream.consumers.values()) c.pump();
    const stored = stream.messages[stream.messages.length - 1]!;
    for (const t of stream.tails) {
      if (t.filters.length > 0 && !t.filters.some((f) => subjectMatches(f, subject))) continue;
      const msg: BusMessage = {
        subject,
        data: stored.data.slice(),
        headers: stored.headers,
        seq,
        deliveryCount: 1,
      };
      // Microtasks run in the order they were queued: stream order, as an ordered consumer delivers.
      queueMicrotask(() => {
        if (!stream.tails.has(t)) return;
        try {
          t.fn(msg);
        } catch (err) {
          this.log.error({ err, stream: stream.name, subject, seq }, 'bus: tail listener threw');
        }
      });
    }
    return { seq, duplicate: false };
  }

  async consume(
    spec: ConsumerSpec,
    handler: MessageHandler,
    options: ConsumeOptions = {},
  ): Promise<Subscription> {
    this.assertOpen();
    assertName('durable', spec.durable);
    const stream = this.streams.get(spec.stream);
    if (stream === undefined) throw new Error(`stream ${spec.stream} not found`);
    const filters = [...(spec.filterSubjects ?? [])];
    for (const f of filters) {
      assertSubject(f, true);
      if (!stream.subjects.some((s) => subjectIsSubsetOf(f, s))) {
        throw new Error(`filter subject "${f}" is not within the subjects of stream ${stream.name}`);
      }
    }
    const concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
    const config: ConsumerConfig = {
      filters,
      ackWaitMs: spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
      maxDeliver: spec.maxDeliver ?? DEFAULT_MAX_DELIVER,
    };
    let consumer = stream.consumers.get(spec.durable);
    if (consumer === undefined) {
      const start = spec.deliverFrom === 'new' ? stream.lastSeq + 1 : 1;
      consumer = new MemConsumer(stream, spec.durable, config, start, this.log);
      stream.consumers.set(spec.durable, consumer);
    } else {
      // Like a durable's config update on the server: where it starts is fixed at creation.
      consumer.config = config;
    }
    const session = new Session(tracedHandler(spec.durable, handler), concurrency);
    const owner = consumer;
    const sub: Subscription = {
      stop: async () => {
        session.stopping = true;
        owner.removeSession(session);
        await session.idle();
        this.forget(sub);
      },
    };
    this.track(sub);
    consumer.addSession(session);
    return sub;
  }

  async tail(spec: TailSpec, onMessage: (msg: BusMessage) => void): Promise<Subscription> {
    this.assertOpen();
    const stream = this.streams.get(spec.stream);
    if (stream === undefined) throw new Error(`stream ${spec.stream} not found`);
    const filters = [...(spec.filterSubjects ?? [])];
    for (const f of filters) {
      assertSubject(f, true);
      if (!stream.subjects.some((s) => subjectIsSubsetOf(f, s))) {
        throw new Error(`filter subject "${f}" is not within the subjects of stream ${stream.name}`);
      }
    }
    const entry = { filters, fn: onMessage };
    stream.tails.add(entry);
    const sub: Subscription = {
      stop: async () => {
        stream.tails.delete(entry);
        this.forget(sub);
      },
    };
    this.track(sub);
    return sub;
  }

  async broadcast(subject: string, data: Uint8Array): Promise<void> {
    this.assertOpen();
    assertSubject(subject, false);
    for (const l of this.listeners) {
      if (!subjectMatches(l.pattern, subject)) continue;
      const copy = data.slice();
      queueMicrotask(() => {
        try {
          l.fn(subject, copy);
        } catch (err) {
          this.log.error({ err, subject }, 'bus: broadcast listener threw');
        }
      });
    }
  }

  /** An in-process bus never loses its connection. */
  onReconnect(_listener: () => void): () => void {
    return () => undefined;
  }

  async listen(
    subject: string,
    onMessage: (subject: string, data: Uint8Array) => void,
  ): Promise<Subscription> {
    this.assertOpen();
    assertSubject(subject, true);
    const entry = { pattern: subject, fn: onMessage };
    this.listeners.add(entry);
    const sub: Subscription = {
      stop: async () => {
        this.listeners.delete(entry);
        this.forget(sub);
      },
    };
    this.track(sub);
    return sub;
  }

  async kv(spec: KvSpec): Promise<KvStore> {
    this.assertOpen();
    assertName('bucket', spec.bucket);
    let bucket = this.buckets.get(spec.bucket);
    if (bucket === undefined) {
      // As with NATS KV, an existing bucket keeps the ttl it was created with.
      bucket = new MemBucket(spec.bucket, spec.ttlMs ?? 0, this);
      this.buckets.set(spec.bucket, bucket);
    }
    return bucket;
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    for (const stream of this.streams.values()) {
      for (const c of stream.consumers.values()) c.clearTimers();
    }
    for (const b of this.buckets.values()) b.closeWatchers();
    this.listeners.clear();
  }
}
