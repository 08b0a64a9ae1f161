/**
 * The in-process hub of one notification replica: the Subscribe streams it
 * holds, by app. The replica's tail of the fan-out events hands every notice
 * to the hub, which passes it to that app's streams here (there may be
 * several: one per replica of the app). Other replicas do the same with
 * their own streams, so an app gets its notices whichever replica it is
 * connected to.
 */
import type { Notice } from '#gen/lgsp/notification/v1/resources_pb.js';
import type { Subscription } from '#lib/bus/bus.js';
import { PermissionDeniedError, UnavailableError } from '#lib/errors.js';

export interface NoticeListener {
  /** A notice of the listener's app came on the bus. Must not block. */
  onNotice(notice: Notice): void;
  /** The replica is shutting down: the stream must end. */
  onClose(): void;
  /** The app was suspended or retired, or its unit is no longer active: the stream must end. */
  onDisabled(): void;
}

export class NoticeHub implements Subscription {
  readonly #byApp = new Map<string, Set<NoticeListener>>();
  /** The unit of each app holding streams here, for a unit that stops being active. */
  readonly #unitOf = new Map<string, string>();
  #closed = false;

  /** Adds a stream of `appId` (of `unitCode`); returns what removes it. Refused once the replica is shutting down. */
  register(appId: string, unitCode: string, listener: NoticeListener): () => void {
    if (this.#closed) throw shuttingDown();
    let set = this.#byApp.get(appId);
    if (set === undefined) {
      set = new Set();
      this.#byApp.set(appId, set);
    }
    set.add(listener);
    this.#unitOf.set(appId, unitCode);
    return () => {
      const current = this.#byApp.get(appId);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) {
        this.#byApp.delete(appId);
        this.#unitOf.delete(appId);
      }
    };
  }

  /** Ends the streams of an app that may no longer receive notices. */
  disableApp(appId: string): number {
    const set = this.#byApp.get(appId);
    if (set === undefined) return 0;
    for (const listener of set) listener.onDisabled();
    return set.size;
  }

  /** Ends the streams of every app of a unit that is no longer active. */
  disableUnit(unitCode: string): number {
    let n = 0;
    for (const [appId, unit] of this.#unitOf) if (unit === unitCode) n += this.disableApp(appId);
    return n;
  }

  /** Hands a notice to its app's streams on this replica. */
  dispatch(notice: Notice): void {
    const set = this.#byApp.get(notice.appId);
    if (set === undefined) return;
    for (const listener of set) listener.onNotice(notice);
  }

  /** Open streams on this replica, all apps together. */
  get streamCount(): number {
    let n = 0;
    for (const set of this.#byApp.values()) n += set.size;
    return n;
  }

  /** Streams of one app on this replica. */
  streamsOf(appId: string): number {
    return this.#byApp.get(appId)?.size ?? 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Ends every stream (they tell their clients to reconnect) and refuses new ones. */
  async stop(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const set of this.#byApp.values()) for (const listener of set) listener.onClose();
  }
}

export function appDisabled(): PermissionDeniedError {
  return new PermissionDeniedError(
    'APP_DISABLED',
    'this app was suspended or retired in the registry, or its unit is no longer active: its notice stream ends',
  );
}

export function shuttingDown(): UnavailableError {
  return new UnavailableError(
    'SERVER_SHUTTING_DOWN',
    'this notification replica is shutting down; subscribe again with after_sequence set to the last sequence you saw',
  );
}

/**
 * What one Subscribe stream receives from the hub while it also reads from
 * Postgres: a bounded queue. A stream that falls too far behind (a client
 * reading slowly) drops what is queued and is told to catch up from the
 * database, where every notice is, instead of holding memory without bound.
 */
export class StreamInbox implements NoticeListener {
  #queue: Notice[] = [];
  #overflowed = false;
  #closed = false;
  #disabled = false;
  #wake: (() => void) | undefined;

  constructor(private readonly limit: number) {}

  onNotice(notice: Notice): void {
    if (this.#queue.length >= this.limit) {
      this.#queue = [];
      this.#overflowed = true;
    } else {
      this.#queue.push(notice);
    }
    this.#wake?.();
  }

  onClose(): void {
    this.#closed = true;
    this.#wake?.();
  }

  get closed(): boolean {
    return this.#closed;
  }

  onDisabled(): void {
    this.#disabled = true;
    this.#wake?.();
  }

  get disabled(): boolean {
    return this.#disabled;
  }

  /** True once after notices were dropped: the stream must catch up from the database. */
  takeOverflow(): boolean {
    const was = this.#overflowed;
    this.#overflowed = false;
    return was;
  }

  take(): Notice | undefined {
    return this.#queue.shift();
  }

  /** Resolves when a notice comes, the replica closes, the app is disabled, `signal` aborts or `ms` pass. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#queue.length > 0 || this.#closed || this.#disabled || this.#overflowed || signal.aborted)
      return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }
}
