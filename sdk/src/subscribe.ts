/**
 * A notice stream that survives broken connections (docs/notifications.md,
 * "Resuming and acknowledging").
 *
 * `for await (const notice of client.subscribe())` yields the app's notices in
 * sequence order. A notice counts as handled when the loop asks for the next
 * one: the subscription then remembers its sequence and, with `autoAck` (the
 * default), acknowledges it (`AckNotices` up to it). When the stream breaks
 * (`unavailable`, a replica shutting down, a dead connection noticed by the
 * missing heartbeats) it subscribes again after a back-off, with
 * `after_sequence` set to the last notice handled: nothing is lost, nothing
 * handled comes twice. Leaving the loop (break, return, throw) does not
 * acknowledge the notice in hand: call `ack()` if it was handled, otherwise
 * it comes again on the next subscription.
 */
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { type Client, Code } from '@connectrpc/connect';
import type { NotificationService } from '../../gen/lgsp/notification/v1/notification_service_pb.js';
import type { Heartbeat, Notice, NoticeKind } from '../../gen/lgsp/notification/v1/resources_pb.js';
import { type LgspError, toLgspError } from './errors.js';
import { backoffMs, type RetryPolicy, sleep } from './interceptors.js';

export interface SubscribeOptions {
  /** Resume after this sequence (the last one the app handled); default 0: every unacknowledged notice. */
  readonly afterSequence?: bigint | number;
  /** Only these kinds; default all. */
  readonly kinds?: readonly NoticeKind[];
  /** Seconds between the platform's heartbeats, 5 to 120 (default 30). Three missed ones end the stream. */
  readonly heartbeatIntervalSeconds?: number;
  /** Acknowledge each notice once handled (default true). */
  readonly autoAck?: boolean;
  /** Stops the subscription (the loop ends without error). */
  readonly signal?: AbortSignal;
  readonly onHeartbeat?: (heartbeat: Heartbeat) => void;
  /** Told before each new subscription after a break. */
  readonly onReconnect?: (info: { attempt: number; delayMs: number; error: LgspError }) => void;
}

/** Codes after which subscribing again cannot help. */
const FINAL = new Set<Code>([
  Code.Unauthenticated,
  Code.PermissionDenied,
  Code.InvalidArgument,
  Code.OutOfRange,
  Code.NotFound,
  Code.FailedPrecondition,
  Code.Unimplemented,
]);

export class Subscription implements AsyncIterable<Notice> {
  /** The sequence of the last notice handled; the next subscription resumes after it. */
  lastSequence: bigint;
  /** Streams opened again after a break. */
  reconnects = 0;
  readonly #client: Client<typeof NotificationService>;
  readonly #options: SubscribeOptions;
  readonly #retry: RetryPolicy;
  readonly #closed = new AbortController();
  #started = false;
  #lastGiven = 0n;

  constructor(client: Client<typeof NotificationService>, options: SubscribeOptions, retry: RetryPolicy) {
    this.#client = client;
    this.#options = options;
    this.#retry = retry;
    this.lastSequence = BigInt(options.afterSequence ?? 0);
    this.#lastGiven = this.lastSequence;
    options.signal?.addEventListener('abort', () => this.close(), { once: true });
    if (options.signal?.aborted === true) this.close();
  }

  /** Ends the subscription: the loop over it finishes. */
  close(): void {
    this.#closed.abort();
  }

  /**
   * Acknowledges every notice up to `sequence`; default the last notice the
   * loop was given (the one in hand after a `break`), which then counts as handled.
   */
  async ack(sequence: bigint = this.#lastGiven): Promise<void> {
    if (sequence <= 0n) return;
    await this.#client.ackNotices({ upToSequence: sequence });
    if (sequence > this.lastSequence) this.lastSequence = sequence;
  }

  [Symbol.asyncIterator](): AsyncIterator<Notice> {
    if (this.#started) throw new Error('a Subscription can be iterated once');
    this.#started = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<Notice> {
    const intervalSeconds = this.#options.heartbeatIntervalSeconds ?? 30;
    const autoAck = this.#options.autoAck !== false;
    let attempt = 0;
    let unacked: bigint | undefined;
    while (!this.#closed.signal.aborted) {
      const stream = new AbortController();
      const stopStream = () => stream.abort();
      this.#closed.signal.addEventListener('abort', stopStream, { once: true });
      let stale = false;
      let watchdog: NodeJS.Timeout | undefined;
      const rearm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(
          () => {
            stale = true;
            stream.abort();
          },
          intervalSeconds * 3 * 1000,
        );
      };
      let failure: LgspError;
      try {
        rearm();
        const messages = this.#client.subscribe(
          {
            afterSequence: this.lastSequence,
            kinds: [...(this.#options.kinds ?? [])],
            heartbeatInterval: { seconds: BigInt(intervalSeconds) },
            clientTime: timestampNow(),
          },
          { signal: stream.signal, timeoutMs: 0 },
        );
        for await (const message of messages) {
          rearm();
          if (message.event.case === 'heartbeat') {
            attempt = 0;
            this.#options.onHeartbeat?.(message.event.value);
            continue;
          }
          if (message.event.case !== 'notice') continue;
          const notice = message.event.value;
          if (notice.sequence <= this.lastSequence) continue;
          clearTimeout(watchdog);
          this.#lastGiven = notice.sequence;
          yield notice;
          // Asked for the next one: this notice is handled.
          rearm();
          this.lastSequence = notice.sequence;
          if (autoAck) {
            unacked = notice.sequence;
            // A failed ack is tried again with the next one; the notice is not lost either way.
            await this.ack(unacked).then(
              () => {
                unacked = undefined;
              },
              () => undefined,
            );
          }
        }
        failure = toLgspError(new Error('the notice stream ended'));
        Object.defineProperty(failure, 'code', { value: Code.Unavailable });
      } catch (raw) {
        if (this.#closed.signal.aborted) return;
        failure = toLgspError(raw);
        if (!stale && FINAL.has(failure.code)) throw failure;
      } finally {
        clearTimeout(watchdog);
        this.#closed.signal.removeEventListener('abort', stopStream);
        stream.abort();
      }
      if (this.#closed.signal.aborted) return;
      attempt++;
      this.reconnects++;
      const delayMs = backoffMs(attempt, { initialBackoffMs: 250, maxBackoffMs: 10_000, ...this.#retry });
      this.#options.onReconnect?.({ attempt, delayMs, error: failure });
      try {
        await sleep(delayMs, this.#closed.signal);
      } catch {
        return;
      }
      if (unacked !== undefined && autoAck) {
        await this.ack(unacked).then(
          () => {
            unacked = undefined;
          },
          () => undefined,
        );
      }
    }
  }
}
