/**
 * The bus port: everything the services need from a message broker.
 *
 * Two adapters implement it — NATS JetStream (`nats.ts`, for every real
 * deployment) and an in-process bus (`memory.ts`, for the embedded mode when no
 * nats-server is available). Both pass the same contract suite
 * (`test/bus/bus.contract.ts`), so a service cannot tell them apart.
 */

/** A durable, replayable log of messages on a set of subjects. */
export interface StreamSpec {
  /** Stream name; tests prefix it so that suites sharing a server do not collide. */
  readonly name: string;
  /** Subjects captured, NATS wildcards allowed (`lgsp.transfer.>`). */
  readonly subjects: readonly string[];
  /** Messages older than this are dropped. Default: kept until limits. */
  readonly maxAgeMs?: number;
  /** Window in which a repeated `msgId` is dropped as a duplicate. Default 2 minutes. */
  readonly duplicateWindowMs?: number;
  /** Copies kept in a NATS cluster (ignored in-process). Default 1. */
  readonly replicas?: number;
}

export interface PublishOptions {
  /** De-duplication id (`Nats-Msg-Id`): a second publish with the same id inside the window is dropped. */
  readonly msgId?: string;
  /** Headers carried with the message (W3C `traceparent`, event type, ...). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface PublishAck {
  /** Sequence of the message in its stream. */
  readonly seq: number;
  /** True when the message was dropped as a duplicate of an earlier `msgId`. */
  readonly duplicate: boolean;
}

/** A named, durable consumer: its position survives restarts and is shared by every process using the name. */
export interface ConsumerSpec {
  readonly stream: string;
  /** Durable name; processes consuming under one name share the work (queue semantics). */
  readonly durable: string;
  /** Only messages on these subjects. Default: the whole stream. */
  readonly filterSubjects?: readonly string[];
  /** A message not acked within this time is delivered again. Default 30 s. */
  readonly ackWaitMs?: number;
  /** Deliveries before a message is given up (terminated and logged). Default 10. */
  readonly maxDeliver?: number;
  /** Where a brand-new durable starts. Default `all`. */
  readonly deliverFrom?: 'all' | 'new';
}

/** A tail: this process alone reads what a stream stores from now on (see `Bus.tail`). */
export interface TailSpec {
  readonly stream: string;
  /** Only messages on these subjects. Default: the whole stream. */
  readonly filterSubjects?: readonly string[];
}

export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  /** Stream sequence: stable across redeliveries, usable as an idempotency key. */
  readonly seq: number;
  /** 1 on first delivery, 2 on the first redelivery, ... */
  readonly deliveryCount: number;
}

/**
 * Handles one message. Resolving acks it; throwing makes it come back later
 * (with backoff) until `maxDeliver`, so handlers must be idempotent.
 */
export type MessageHandler = (msg: BusMessage) => Promise<void>;

export interface ConsumeOptions {
  /** Messages handled at once by this process. Default 1 (in order). */
  readonly concurrency?: number;
}

/** A running consumption or subscription. */
export interface Subscription {
  /** Stops taking new messages and waits for the ones in hand to finish. */
  stop(): Promise<void>;
}

export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** Revision for compare-and-set updates. */
  readonly revision: number;
}

export interface KvSpec {
  /** Bucket name; tests prefix it. */
  readonly bucket: string;
  /** Entries older than this disappear. Default: never. */
  readonly ttlMs?: number;
  /** Copies kept in a NATS cluster (ignored in-process). Default 1. */
  readonly replicas?: number;
}

export type KvChange =
  | { readonly op: 'put'; readonly entry: KvEntry }
  | { readonly op: 'delete'; readonly key: string; readonly revision: number };

/** A key-value bucket shared by every process (NATS KV). Keys: `[A-Za-z0-9_=.-]+`. */
export interface KvStore {
  get(key: string): Promise<KvEntry | null>;
  /** Writes unconditionally; returns the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Writes only if the key does not exist; throws `BusConflictError` otherwise. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Writes only if the key is at `revision`; throws `BusConflictError` otherwise. */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
  /** Calls `onChange` for every later change (not the current values). */
  watch(onChange: (change: KvChange) => void): Promise<Subscription>;
}

export interface Bus {
  /** Which adapter this is, for logs and `/readyz`. */
  readonly kind: 'nats' | 'memory';
  /** Creates the stream or updates its subjects; idempotent. */
  ensureStream(spec: StreamSpec): Promise<void>;
  /** Publishes durably: resolves once the stream has stored the message. */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<PublishAck>;
  /** Starts consuming under a durable name until `stop()`. */
  consume(spec: ConsumerSpec, handler: MessageHandler, options?: ConsumeOptions): Promise<Subscription>;
  /**
   * Delivers to this process every message the stream stores after the call
   * resolves, in stream order, without acks or any state on the broker that
   * outlives it (a JetStream ordered consumer): each process that tails gets
   * every message, which is how an event reaches every replica. Messages
   * stored while a process does not tail are never delivered to it, so what
   * it must not miss has to be readable elsewhere (the database). The
   * listener runs synchronously per message; what it throws is logged.
   */
  tail(spec: TailSpec, onMessage: (msg: BusMessage) => void): Promise<Subscription>;
  /**
   * Fire-and-forget broadcast to every live listener (core NATS, not stored):
   * cache invalidations that must reach every replica quickly.
   */
  broadcast(subject: string, data: Uint8Array): Promise<void>;
  /**
   * Calls `listener` each time the connection to the broker comes back after
   * a loss: broadcasts sent meanwhile were missed, so caches they keep fresh
   * must be dropped. Returns what removes the listener.
   */
  onReconnect(listener: () => void): () => void;
  /** Receives broadcasts on a subject (wildcards allowed) while subscribed. */
  listen(subject: string, onMessage: (subject: string, data: Uint8Array) => void): Promise<Subscription>;
  /** Opens (creating if needed) a key-value bucket. */
  kv(spec: KvSpec): Promise<KvStore>;
  /** Resolves when the broker answers; rejects otherwise. Used by readiness. */
  ping(): Promise<void>;
  /** Stops every consumption and closes the connection. */
  close(): Promise<void>;
}

/** A compare-and-set write lost the race. */
export class BusConflictError extends Error {
  override name = 'BusConflictError';
}
