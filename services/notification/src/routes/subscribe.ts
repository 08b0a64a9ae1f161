/**
 * Subscribe (Art. 4.5): the notice stream of the calling app.
 *
 * 1. The stream registers on this replica's hub first, so that every notice
 *    published from then on reaches it.
 * 2. A heartbeat (latest sequence, unacknowledged count).
 * 3. The replay: the unacknowledged notices after `after_sequence`, from
 *    Postgres, up to the latest sequence read in step 2.
 * 4. Live notices from the hub, in sequence order. Sequences have no gaps and
 *    an app's notices commit in sequence order, so a live notice N tells that
 *    every notice below N is in Postgres: whatever the stream has not sent
 *    below N (a notice whose event is still in the outbox, or published in an
 *    order the relays interleaved) is read from there first. What was sent
 *    already (the replay and the hub may both bring a notice) is dropped by
 *    its sequence. The stream is therefore complete and in order: resuming
 *    from the last sequence seen loses nothing.
 * 5. A heartbeat every `heartbeat_interval`; before it, anything the counter
 *    shows that the hub did not bring (a fan-out interrupted by a NATS
 *    outage) is read from Postgres.
 *
 * The stream ends when the client goes away, or with UNAVAILABLE
 * (SERVER_SHUTTING_DOWN) when this replica shuts down: the client subscribes
 * again, to any replica, from the last sequence it saw. It ends with
 * PERMISSION_DENIED (APP_DISABLED) when the registry suspends or retires the
 * app, or its unit stops being active (consumers/app-status.ts).
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type {
  NotificationService,
  SubscribeRequest,
  SubscribeResponseSchema,
} from '#gen/lgsp/notification/v1/notification_service_pb.js';
import type { Notice } from '#gen/lgsp/notification/v1/resources_pb.js';
import { DomainError, OutOfRangeError, UnavailableError } from '#lib/errors.js';
import type { NotificationContext } from '../context.js';
import { type NoticeCounts, noticeCounts, unackedNotices } from '../db/notices.js';
import { noticeKinds, toNotice } from '../db/rows.js';
import { appDisabled, StreamInbox, shuttingDown } from '../domain/hub.js';
import type { StreamEnd } from '../domain/stream-hooks.js';
import { requireApp } from './caller.js';
import { checkSubscribe, type SubscribeInput } from './checks.js';

type SubscribeResponseInit = MessageInitShape<typeof SubscribeResponseSchema>;

/** Notices read from Postgres per query while replaying or filling a gap. */
const PAGE = 200;
/** Live notices a stream holds before it drops them and catches up from Postgres instead. */
const INBOX_LIMIT = 1_000;

export function subscribeRoutes(ctx: NotificationContext): Partial<ServiceImpl<typeof NotificationService>> {
  return {
    subscribe: (req, handlerCtx) => subscribe(ctx, req, handlerCtx),
  };
}

async function* subscribe(
  ctx: NotificationContext,
  req: SubscribeRequest,
  handlerCtx: HandlerContext,
): AsyncGenerator<SubscribeResponseInit> {
  const caller = requireApp(handlerCtx);
  const input = checkSubscribe(req);
  const appId = caller.appId;
  const signal = handlerCtx.signal;
  const reads = ctx.streamReads;
  const inbox = new StreamInbox(INBOX_LIMIT);
  const unregister = ctx.hub.register(appId, caller.unitCode, inbox);
  let streamClosed: ((end: StreamEnd) => Promise<void>) | undefined;
  let failed = false;
  try {
    const counts = await reads.run(() => noticeCounts(ctx.db, appId), signal);
    if (input.after > counts.latest) {
      throw new OutOfRangeError(
        'AFTER_SEQUENCE_AHEAD',
        `after_sequence ${input.after} is past the latest notice of this app (${counts.latest}); resume from ${counts.latest} or less`,
        { latest_sequence: String(counts.latest) },
      );
    }

    // PRESENCE HOOK: the app is online from here until `streamClosed` runs (domain/stream-hooks.ts).
    streamClosed = await ctx.streamHooks.streamOpened({
      appId,
      unitCode: caller.unitCode,
      clientTime: input.clientTime,
      openedAt: new Date(),
      requestId: caller.requestId,
      handlerContext: handlerCtx,
    });

    yield heartbeat(counts);
    const reader = new NoticeReader(ctx, appId, input, signal);
    // Everything up to the latest sequence read above was committed before the replay's
    // queries ran: those that are not acknowledged are in it.
    yield* reader.fill(input.after, counts.latest + 1n);
    let cursor = counts.latest;

    let nextBeat = Date.now() + input.heartbeatMs;
    for (;;) {
      if (signal.aborted) return;
      if (inbox.closed) throw shuttingDown();
      if (inbox.disabled) throw appDisabled();
      if (inbox.takeOverflow() || Date.now() >= nextBeat) {
        const now = await reads.run(() => noticeCounts(ctx.db, appId), signal);
        if (now.latest > cursor) {
          yield* reader.fill(cursor, now.latest + 1n);
          cursor = now.latest;
        }
        if (Date.now() >= nextBeat) {
          yield heartbeat(now);
          nextBeat = Date.now() + input.heartbeatMs;
        }
        continue;
      }
      const notice = inbox.take();
      if (notice === undefined) {
        await inbox.wait(nextBeat - Date.now(), signal);
        continue;
      }
      if (notice.sequence <= cursor) continue;
      // Every notice below this one is committed: send what the stream has not sent yet.
      if (notice.sequence > cursor + 1n) yield* reader.fill(cursor, notice.sequence);
      cursor = notice.sequence;
      if (reader.wants(notice)) yield { event: { case: 'notice', value: notice } };
    }
  } catch (error) {
    failed = true;
    if (signal.aborted) return;
    if (error instanceof DomainError || error instanceof ConnectError) throw error;
    // Postgres away or saturated, most likely: the client can only subscribe again, so say that.
    ctx.logger.warn({ err: error, appId }, 'a Subscribe stream failed');
    throw new UnavailableError(
      'NOTICES_UNAVAILABLE',
      'the notice stream could not go on just now; subscribe again with after_sequence set to the last sequence you saw',
    );
  } finally {
    unregister();
    if (streamClosed !== undefined) {
      const end: StreamEnd = inbox.disabled
        ? 'app_disabled'
        : inbox.closed
          ? 'server_closed'
          : signal.aborted || !failed
            ? 'client_gone'
            : 'failed';
      await streamClosed(end).catch((err: unknown) =>
        ctx.logger.warn({ err, appId }, 'presence hook failed when a stream ended'),
      );
    }
  }
}

function heartbeat(counts: NoticeCounts): SubscribeResponseInit {
  return {
    event: {
      case: 'heartbeat',
      value: {
        serverTime: timestampNow(),
        latestSequence: counts.latest,
        unackedCount: counts.unacked,
      },
    },
  };
}

/** Reads a stream's notices from Postgres, with its kinds filter. */
class NoticeReader {
  readonly #kinds: ReadonlySet<number>;

  constructor(
    private readonly ctx: NotificationContext,
    private readonly appId: string,
    private readonly input: SubscribeInput,
    private readonly signal: AbortSignal,
  ) {
    this.#kinds = new Set(input.kinds.map((k) => noticeKinds.toProto(k)));
  }

  wants(notice: Notice): boolean {
    return this.#kinds.size === 0 || this.#kinds.has(notice.kind);
  }

  /** Yields the unacknowledged notices with `after` < sequence < `before`, in order. */
  async *fill(after: bigint, before: bigint): AsyncGenerator<SubscribeResponseInit> {
    let from = after;
    for (;;) {
      const rows = await this.ctx.streamReads.run(
        () =>
          unackedNotices(this.ctx.db, {
            appId: this.appId,
            after: from,
            before,
            kinds: this.input.kinds,
            limit: PAGE,
          }),
        this.signal,
      );
      for (const row of rows) yield { event: { case: 'notice', value: toNotice(row) } };
      if (rows.length < PAGE) return;
      from = BigInt(rows[rows.length - 1]!.sequence);
    }
  }
}
