/**
 * Presence across replicas (Art. 5.9), kept in the NATS KV bucket
 * `<prefix>_PRESENCE` that every notification replica shares:
 *
 * - `app.<app id>`: the app's record (domain/presence.ts): state, channel,
 *   since, last seen, clock skew, client version, the heartbeat that holds it
 *   and one lease per open Subscribe stream, naming the replica holding it.
 * - `replica.<replica id>`: each replica's proof of life, renewed every
 *   heartbeat interval; its leases count while it runs (and a new lease for
 *   one timeout in any case).
 *
 * Every write is a compare-and-set on the key's revision: when replicas race
 * (two sweeps noticing the same timeout, a stream closing on one replica
 * while another opens), one write wins and the others read again and
 * re-decide, so each transition is made exactly once. Its connection-history
 * row and PresenceChanged event follow (db/connection-events.ts); the record
 * keeps the transition as `pending` until then, so whoever touches the
 * record next (or the sweep) writes a row a crashed replica left unwritten,
 * and the row's key (app, transition number) keeps it single.
 *
 * Each replica mirrors the bucket in memory through a KV watch: the sweep
 * (every tenth of an interval) and ListPresence read the mirror, writes use
 * the mirrored revision and read the key again only when they lose a race.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Bus, BusConflictError, type KvChange, type KvStore, type Subscription } from '#lib/bus/bus.js';
import { AbortedError } from '#lib/errors.js';
import type { Logger } from '#lib/logger.js';
import { type PeriodicTask, startPeriodic } from '#lib/periodic.js';
import { recordTransition } from '../db/connection-events.js';
import type { NotificationDatabase } from '../db/schema.js';
import {
  appKey,
  blankRecord,
  type ClientFacts,
  type Clock,
  decodePresence,
  decodeReplica,
  encodeRecord,
  heartbeatNeedsWrite,
  liveStreams,
  onDeferredHeartbeat,
  onHeartbeat,
  onRecorded,
  onStreamClose,
  onStreamOpen,
  onSweep,
  onWebhookAnswer,
  onWebhookDisabled,
  type PresenceRecord,
  parseKey,
  type ReplicaRecord,
  replicaKey,
  type StreamEnd,
  skewOf,
  startsTransition,
  type Transition,
} from './presence.js';

/** A write that loses this many races in a row gives up (something is badly wrong). */
const MAX_ATTEMPTS = 20;
/** Writes the sweep and the proof-of-life pass make at once. */
const CONCURRENCY = 16;
/** A replica's proof of life is deleted once it has been dead this many timeouts. */
const FORGET_REPLICA_TIMEOUTS = 10;

export const presenceBucket = (prefix: string) => `${prefix}_PRESENCE`;

export interface PresenceTrackerOptions {
  readonly bus: Bus;
  readonly db: Kysely<NotificationDatabase>;
  readonly logger: Logger;
  readonly prefix: string;
  /** This replica's name in records and history; unique per process start. */
  readonly replicaId: string;
  /** The heartbeat interval apps are asked to keep; the timeout is three of them. */
  readonly intervalMs: number;
  /** Copies of the bucket in a NATS cluster. */
  readonly kvReplicas: number;
  /** Called after history rows were written, so that their events go out now. */
  readonly onRecorded: () => void;
}

/** An open Subscribe stream's hold on its app. */
export interface StreamHold {
  readonly leaseId: string;
  /** Ends the hold; the app goes offline unless something else holds it. Idempotent. */
  release(end: StreamEnd): Promise<void>;
}

/** What ListPresence and GetPresence show of a record. */
export interface PresenceView {
  readonly record: PresenceRecord;
  readonly openStreams: number;
  /** Now for an app a stream holds, else when it was last heard from. */
  readonly lastSeen: number | null;
}

interface Entry<T> {
  /** Null for a value this version cannot read. */
  readonly value: T | null;
  readonly revision: number;
}

type Rule = (current: PresenceRecord | null, clock: Clock) => PresenceRecord | null;

type HeldStream = Omit<ClientFacts, 'clientTime'>;

/** A heartbeat received here and not yet written to the bucket. */
interface DeferredBeat {
  readonly at: number;
  readonly skewMs: number | null;
  readonly unitCode: string;
}

/** What a heartbeat did: the record as it stands, and the server time of the heartbeat. */
export interface HeartbeatOutcome {
  readonly record: PresenceRecord;
  readonly at: number;
}

export class PresenceTracker {
  readonly replicaId: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly sweepMs: number;
  readonly #options: PresenceTrackerOptions;
  readonly #kv: KvStore;
  readonly #log: Logger;
  readonly #apps = new Map<string, Entry<PresenceRecord>>();
  readonly #replicas = new Map<string, Entry<ReplicaRecord>>();
  /** The streams this replica holds, by lease id. */
  readonly #holds = new Map<string, HeldStream>();
  /** Heartbeats received here that the bucket does not show yet, by app. */
  readonly #deferred = new Map<string, DeferredBeat>();
  readonly #startedAt = Date.now();
  #watch: Subscription | undefined;
  /** The highest revision the watch delivered. */
  #watched = 0;
  /** Revisions of this replica's last two proofs of life, which the watch must deliver. */
  #renewals: [number, number] = [0, 0];
  #proofOfLife: PeriodicTask | undefined;
  #sweep: PeriodicTask | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: PresenceTrackerOptions, kv: KvStore) {
    this.#options = options;
    this.#kv = kv;
    this.#log = options.logger.child({ component: 'presence', replica: options.replicaId });
    this.replicaId = options.replicaId;
    this.intervalMs = options.intervalMs;
    this.timeoutMs = 3 * options.intervalMs;
    this.sweepMs = Math.min(5_000, Math.max(20, Math.round(options.intervalMs / 10)));
  }

  /** Opens the bucket, mirrors it, announces this replica and starts the sweep. */
  static async start(options: PresenceTrackerOptions): Promise<PresenceTracker> {
    const kv = await options.bus.kv({ bucket: presenceBucket(options.prefix), replicas: options.kvReplicas });
    const tracker = new PresenceTracker(options, kv);
    try {
      await tracker.#begin();
    } catch (error) {
      await tracker.close();
      throw error;
    }
    return tracker;
  }

  async #begin(): Promise<void> {
    await this.#mirror();
    await this.#renewProofOfLife();
    this.#proofOfLife = startPeriodic({
      name: 'presence proof of life',
      intervalMs: this.intervalMs,
      firstDelayMs: this.intervalMs,
      logger: this.#log,
      pass: () => this.#proofOfLifePass(),
    });
    this.#sweep = startPeriodic({
      name: 'presence sweep',
      intervalMs: this.sweepMs,
      firstDelayMs: this.sweepMs,
      logger: this.#log,
      pass: () => this.sweep(),
    });
  }

  /**
   * Watches the bucket, then reads everything: a change between the two is
   * seen by the watch, and the revision decides which copy is newer.
   */
  async #mirror(): Promise<void> {
    this.#watch = await this.#kv.watch((change) => {
      this.#watched = Math.max(this.#watched, change.op === 'put' ? change.entry.revision : change.revision);
      this.#onChange(change);
    });
    const keys = await this.#kv.keys();
    await eachLimited(keys, CONCURRENCY, async (key) => {
      const entry = await this.#kv.get(key);
      if (entry !== null) this.#onChange({ op: 'put', entry });
    });
  }

  // -------------------------------------------------------------------------
  // What apps do

  /**
   * A heartbeat of a polling app: it is online for one timeout from now. A
   * heartbeat that changes nothing but the hold, while half the timeout is
   * left, is written later by the sweep (heartbeatNeedsWrite).
   */
  async heartbeat(facts: ClientFacts): Promise<HeartbeatOutcome> {
    const clock = this.#clock();
    const mirrored = this.#apps.get(facts.appId)?.value ?? null;
    if (mirrored !== null && !heartbeatNeedsWrite(mirrored, facts, clock)) {
      this.#deferred.set(facts.appId, {
        at: clock.now,
        skewMs: skewOf(facts.clientTime, clock.now),
        unitCode: facts.unitCode,
      });
      return { record: mirrored, at: clock.now };
    }
    this.#deferred.delete(facts.appId);
    const record = await this.#mutate(facts.appId, facts.unitCode, (current, c) =>
      onHeartbeat(current, facts, c),
    );
    // onHeartbeat always writes, so there is a record.
    return { record: record!, at: record!.lastSeen ?? clock.now };
  }

  /**
   * A Subscribe stream opened on this replica: the app is online until the
   * hold is released. A hold that could not be written (KV unavailable) is
   * written by the next proof-of-life pass.
   */
  async openStream(facts: ClientFacts): Promise<StreamHold> {
    const leaseId = randomBytes(8).toString('hex');
    const held: HeldStream = {
      appId: facts.appId,
      unitCode: facts.unitCode,
      clientVersion: facts.clientVersion,
      clientAddress: facts.clientAddress,
    };
    // Known locally first: the proof-of-life pass re-asserts it if the write below fails.
    this.#holds.set(leaseId, held);
    try {
      await this.#mutate(facts.appId, facts.unitCode, (current, clock) =>
        onStreamOpen(current, leaseId, facts, clock),
      );
    } catch (err) {
      this.#log.warn({ err, appId: facts.appId }, 'stream not yet in presence; the next pass writes it');
    }
    let released = false;
    return {
      leaseId,
      release: async (end) => {
        if (released) return;
        released = true;
        this.#holds.delete(leaseId);
        await this.#mutate(facts.appId, facts.unitCode, (current, clock) =>
          onStreamClose(current, leaseId, end, clock),
        );
      },
    };
  }

  // -------------------------------------------------------------------------
  // What readers see

  /** The app's record as the bucket has it now; null for an app never seen. */
  async get(appId: string): Promise<PresenceRecord | null> {
    const entry = await this.#load(appId);
    return entry?.value ?? null;
  }

  /** Whether the app holds a Subscribe stream on any replica, as this replica's mirror has it. */
  holdsStream(appId: string): boolean {
    const record = this.mirrored(appId);
    return record !== null && record.state === 'online' && this.view(record).openStreams > 0;
  }

  /** A webhook of the app answered 2xx (Art. 5.9: a webhook that answers keeps its app online). */
  async webhookAnswered(appId: string): Promise<void> {
    await this.#mutate(appId, '', (current, clock) =>
      onWebhookAnswer(current, { appId, unitCode: '' }, clock),
    );
  }

  /** A webhook of the app was disabled by the platform. */
  async webhookDisabled(appId: string): Promise<void> {
    await this.#mutate(appId, '', (current, clock) => onWebhookDisabled(current, clock));
  }

  /** Every record this replica mirrors. */
  records(): PresenceRecord[] {
    const out: PresenceRecord[] = [];
    for (const entry of this.#apps.values()) if (entry.value !== null) out.push(entry.value);
    return out;
  }

  /** The record from the mirror, without asking the bucket; null for an app not (yet) seen here. */
  mirrored(appId: string): PresenceRecord | null {
    return this.#apps.get(appId)?.value ?? null;
  }

  view(record: PresenceRecord, now = Date.now()): PresenceView {
    const clock = this.#clock(now);
    const openStreams = liveStreams(record, clock).length;
    const byStream = record.state === 'online' && openStreams > 0;
    return { record, openStreams, lastSeen: byStream ? now : record.lastSeen };
  }

  // -------------------------------------------------------------------------
  // Background work

  /**
   * One pass over the mirror, on every replica: online apps nothing holds go
   * offline (TIMEOUT), dead leases are dropped, history rows a crashed
   * replica left unwritten are written, long-dead replicas are forgotten.
   */
  async sweep(): Promise<void> {
    const clock = this.#clock();
    const settleAfter = Math.max(1_000, this.sweepMs);
    const work: Array<() => Promise<unknown>> = [];
    for (const [appId, entry] of this.#apps) {
      const record = entry.value;
      if (record === null) continue;
      if (record.pending !== null && clock.now - record.pending.at > settleAfter) {
        const pending = record.pending;
        work.push(() => this.#settle(record, pending));
      }
      if (onSweep(record, clock) !== null) {
        work.push(() =>
          this.#mutate(appId, record.unitCode, (current, c) =>
            current === null ? null : onSweep(current, c),
          ),
        );
      }
    }
    // Heartbeats kept back here are written once the hold left is under a sixth of the timeout.
    for (const [appId, beat] of this.#deferred) {
      const record = this.#apps.get(appId)?.value;
      if (record == null || onDeferredHeartbeat(record, beat.at, beat.skewMs, clock) === null) {
        this.#deferred.delete(appId);
      } else if (record.heartbeatUntil - clock.now <= this.timeoutMs / 6) {
        work.push(() => this.#writeDeferred(appId, beat));
      }
    }
    for (const [id, entry] of this.#replicas) {
      const expiresAt = entry.value?.expiresAt ?? 0;
      if (id !== this.replicaId && expiresAt < clock.now - FORGET_REPLICA_TIMEOUTS * this.timeoutMs) {
        work.push(() => this.#kv.delete(replicaKey(id)));
      }
    }
    await eachLimited(work, CONCURRENCY, (fn) =>
      fn().catch((err: unknown) => this.#log.warn({ err }, 'presence sweep step failed; retried next pass')),
    );
  }

  /**
   * Every interval: renew this replica's proof of life, re-assert the streams
   * it holds that the bucket does not show (a failed write, or a stall long
   * enough for other replicas to judge it dead), and drop leases naming it
   * that it no longer holds (a release whose write failed).
   */
  async #proofOfLifePass(): Promise<void> {
    // The watch delivers every change, this replica's own too: a proof of life written two
    // intervals ago and still not seen means the watch stopped (a NATS outage it did not survive).
    if (this.#watched < this.#renewals[0]) {
      this.#log.warn(
        { watched: this.#watched, expected: this.#renewals[0] },
        'presence watch fell silent; watching and reading the bucket again',
      );
      await this.#watch?.stop();
      await this.#mirror();
    }
    await this.#renewProofOfLife();
    const work: Array<() => Promise<unknown>> = [];
    for (const [leaseId, held] of this.#holds) {
      const record = this.#apps.get(held.appId)?.value;
      if (record?.state === 'online' && Object.hasOwn(record.streams, leaseId)) continue;
      work.push(() =>
        this.#mutate(held.appId, held.unitCode, (current, clock) =>
          this.#holds.has(leaseId) ? onStreamOpen(current, leaseId, held, clock) : null,
        ),
      );
    }
    for (const [appId, entry] of this.#apps) {
      const record = entry.value;
      if (record === null) continue;
      for (const [leaseId, lease] of Object.entries(record.streams)) {
        if (lease.replica !== this.replicaId || this.#holds.has(leaseId)) continue;
        work.push(() =>
          this.#mutate(appId, record.unitCode, (current, clock) =>
            this.#holds.has(leaseId) ? null : onStreamClose(current, leaseId, 'client', clock),
          ),
        );
      }
    }
    await eachLimited(work, CONCURRENCY, (fn) =>
      fn().catch((err: unknown) =>
        this.#log.warn({ err }, 'presence re-assertion failed; retried next pass'),
      ),
    );
  }

  async #writeDeferred(appId: string, beat: DeferredBeat): Promise<void> {
    await this.#mutate(appId, beat.unitCode, (current, clock) =>
      onDeferredHeartbeat(current, beat.at, beat.skewMs, clock),
    );
    if (this.#deferred.get(appId) === beat) this.#deferred.delete(appId);
  }

  async #renewProofOfLife(): Promise<void> {
    const now = Date.now();
    const record: ReplicaRecord = {
      v: 1,
      id: this.replicaId,
      startedAt: this.#startedAt,
      expiresAt: now + this.timeoutMs,
    };
    const revision = await this.#kv.put(replicaKey(this.replicaId), encodeRecord(record));
    remember(this.#replicas, this.replicaId, record, revision);
    this.#renewals = [this.#renewals[1], revision];
  }

  /**
   * Stops the background work, releases the streams still held here
   * (SERVER_CLOSED) and withdraws this replica's proof of life.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#proofOfLife?.stop();
      await this.#sweep?.stop();
      const deferred = [...this.#deferred];
      this.#deferred.clear();
      await eachLimited(deferred, CONCURRENCY, ([appId, beat]) =>
        this.#writeDeferred(appId, beat).catch((err: unknown) =>
          this.#log.warn({ err, appId }, 'heartbeat not written at shutdown'),
        ),
      );
      const held = [...this.#holds];
      this.#holds.clear();
      await eachLimited(held, CONCURRENCY, ([leaseId, stream]) =>
        this.#mutate(stream.appId, stream.unitCode, (current, clock) =>
          onStreamClose(current, leaseId, 'server', clock),
        ).catch((err: unknown) => this.#log.warn({ err, appId: stream.appId }, 'stream not released')),
      );
      if (this.#watch !== undefined) {
        await this.#kv
          .delete(replicaKey(this.replicaId))
          .catch((err: unknown) => this.#log.warn({ err }, 'proof of life not withdrawn'));
        await this.#watch.stop();
      }
    })();
    return this.#closing;
  }

  // -------------------------------------------------------------------------
  // Reading and writing records

  #clock(now = Date.now()): Clock {
    return {
      now,
      replica: this.replicaId,
      timeoutMs: this.timeoutMs,
      replicaExpiry: (id) => this.#replicas.get(id)?.value?.expiresAt,
    };
  }

  #onChange(change: KvChange): void {
    const key = change.op === 'put' ? change.entry.key : change.key;
    const parsed = parseKey(key);
    if (parsed === undefined) return;
    const map: Map<string, Entry<PresenceRecord | ReplicaRecord>> = parsed.kind === 'app'
      ? this.#apps
      : this.#replicas;
    const known = map.get(parsed.id);
    if (change.op === 'delete') {
      if (known !== undefined && known.revision < change.revision) map.delete(parsed.id);
      return;
    }
    if (known !== undefined && known.revision >= change.entry.revision) return;
    const value =
      parsed.kind === 'app'
        ? (decodePresence(change.entry.value) ?? null)
        : (decodeReplica(change.entry.value) ?? null);
    if (value === null)
      this.#log.warn({ key }, 'unreadable presence entry; it is rewritten on its next change');
    map.set(parsed.id, { value, revision: change.entry.revision });
  }

  /** Reads the app's key from the bucket (not the mirror) and mirrors it. */
  async #load(appId: string): Promise<Entry<PresenceRecord> | undefined> {
    const entry = await this.#kv.get(appKey(appId));
    if (entry === null) {
      // Deleted or never written; the mirror may still hold an older copy.
      this.#apps.delete(appId);
      return undefined;
    }
    this.#onChange({ op: 'put', entry });
    const known = this.#apps.get(appId);
    return known !== undefined && known.revision >= entry.revision
      ? known
      : { value: decodePresence(entry.value) ?? null, revision: entry.revision };
  }

  /**
   * Applies `rule` to the app's record with compare-and-set until it wins;
   * returns the record written (or the current one when the rule changes
   * nothing). A transition is written to the history right after.
   */
  async #mutate(appId: string, unitCode: string, rule: Rule): Promise<PresenceRecord | null> {
    const key = appKey(appId);
    let entry = this.#apps.get(appId) ?? (await this.#load(appId));
    for (let attempt = 1; ; attempt++) {
      // A record lost from the bucket (or unreadable) starts again after the app's last
      // recorded transition, so its numbers never collide with the history's.
      const current = entry?.value ?? (await this.#restartedRecord(appId, unitCode));
      const next = rule(current, this.#clock());
      if (next === null) return entry?.value ?? null;
      const transits = startsTransition(current, next);
      // The record is about to forget its pending transition: write its row first.
      if (transits && current?.pending != null) await this.#writeHistory(current, current.pending);
      try {
        const value = encodeRecord(next);
        const revision =
          entry === undefined
            ? await this.#kv.create(key, value)
            : await this.#kv.update(key, value, entry.revision);
        remember(this.#apps, appId, next, revision);
        if (transits && next.pending !== null) await this.#settle(next, next.pending);
        return next;
      } catch (error) {
        if (!(error instanceof BusConflictError)) throw error;
        if (attempt >= MAX_ATTEMPTS) {
          throw new AbortedError(
            'PRESENCE_CONTENDED',
            `presence of ${appId} changed too often to update; retry`,
            {
              app_id: appId,
            },
          );
        }
        entry = await this.#load(appId);
      }
    }
  }

  async #restartedRecord(appId: string, unitCode: string): Promise<PresenceRecord | null> {
    const row = await this.#options.db
      .selectFrom('connection_events')
      .select((eb) => eb.fn.max('transition').as('last'))
      .where('app_id', '=', appId)
      .executeTakeFirst();
    const last = Number(row?.last ?? 0);
    if (last === 0) return null;
    return { ...blankRecord({ appId, unitCode }, this.#clock()), transition: last };
  }

  /** Writes the transition's row, then clears it from the record; a failure is left to the sweep. */
  async #settle(record: PresenceRecord, transition: Transition): Promise<void> {
    try {
      await this.#writeHistory(record, transition);
    } catch (err) {
      this.#log.warn(
        { err, appId: record.appId, transition: transition.n },
        'history not written yet; the sweep retries',
      );
      return;
    }
    await this.#mutate(record.appId, record.unitCode, (current) =>
      current === null ? null : onRecorded(current, transition.n),
    ).catch((err: unknown) =>
      this.#log.debug({ err, appId: record.appId }, 'recorded transition not cleared; the sweep clears it'),
    );
  }

  async #writeHistory(record: PresenceRecord, transition: Transition): Promise<void> {
    const wrote = await recordTransition(
      this.#options.db,
      this.#options.prefix,
      record.appId,
      record.unitCode,
      transition,
    );
    if (wrote) {
      this.#log.info(
        { appId: record.appId, state: transition.state, reason: transition.reason, transition: transition.n },
        `app ${transition.state}`,
      );
      this.#options.onRecorded();
    }
  }
}

function remember<T>(map: Map<string, Entry<T>>, id: string, value: T, revision: number): void {
  const known = map.get(id);
  if (known === undefined || known.revision < revision) map.set(id, { value, revision });
}

/** Runs `fn` over `items`, at most `limit` at once. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
