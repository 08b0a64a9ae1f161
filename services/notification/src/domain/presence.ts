/**
 * Presence of apps (Art. 5.9): the record each app has in the shared KV
 * bucket, and the pure rules that move it. An app is online while something
 * holds it: a Subscribe stream (a lease naming the replica that holds it) or
 * a recent heartbeat. Every change of state is a numbered transition; the
 * record carries the latest one as `pending` until its connection-history
 * row is known to be written, so a replica dying between the two loses
 * nothing (whoever touches the record next writes the row, idempotently).
 *
 * Nothing here does I/O; `presence-tracker.ts` reads and writes the records
 * with compare-and-set.
 */
import type { PresenceChangeReason } from '#gen/lgsp/notification/v1/resources_pb.js';
import {
  PresenceChannel,
  PresenceState,
  PresenceChangeReason as Reason,
} from '#gen/lgsp/notification/v1/resources_pb.js';
import { enumMap } from '#lib/db/enum-map.js';

export type PresenceStateName = 'online' | 'offline';
export type ChannelName = 'none' | 'stream' | 'heartbeat' | 'webhook';
export type ChangeReasonName =
  | 'stream_opened'
  | 'stream_closed'
  | 'stream_broken'
  | 'heartbeat'
  | 'timeout'
  | 'webhook_recovered'
  | 'webhook_disabled'
  | 'server_closed'
  | 'app_disabled';

export const presenceStates = enumMap<PresenceStateName, PresenceState>({
  online: PresenceState.ONLINE,
  offline: PresenceState.OFFLINE,
});

export const channels = enumMap<ChannelName, PresenceChannel>({
  none: PresenceChannel.UNSPECIFIED,
  stream: PresenceChannel.STREAM,
  heartbeat: PresenceChannel.HEARTBEAT,
  webhook: PresenceChannel.WEBHOOK,
});

export const changeReasons = enumMap<ChangeReasonName, PresenceChangeReason>({
  stream_opened: Reason.STREAM_OPENED,
  stream_closed: Reason.STREAM_CLOSED,
  stream_broken: Reason.STREAM_BROKEN,
  heartbeat: Reason.HEARTBEAT,
  timeout: Reason.TIMEOUT,
  webhook_recovered: Reason.WEBHOOK_RECOVERED,
  webhook_disabled: Reason.WEBHOOK_DISABLED,
  server_closed: Reason.SERVER_CLOSED,
  app_disabled: Reason.APP_DISABLED,
});

/** Why a stream ended, as the Subscribe handler knows it. */
export type StreamEnd = 'client' | 'broken' | 'server' | 'disabled';

const STREAM_END_REASONS: Record<StreamEnd, ChangeReasonName> = {
  client: 'stream_closed',
  broken: 'stream_broken',
  server: 'server_closed',
  disabled: 'app_disabled',
};

/** One open Subscribe stream of an app. */
export interface StreamLease {
  /** The replica holding it. */
  readonly replica: string;
  /** When it was opened or last re-asserted by its replica (ms since the epoch). */
  readonly at: number;
}

/** One online/offline transition: what its connection-history row holds. */
export interface Transition {
  /** Number of the transition in the app's history, from 1. */
  readonly n: number;
  readonly state: PresenceStateName;
  /** The channel that brought the app online, or the one it lost. */
  readonly channel: ChannelName;
  readonly reason: ChangeReasonName;
  /** When (ms since the epoch, server time). */
  readonly at: number;
  /** Server minus client clock at that time, when known (ms). */
  readonly skewMs: number | null;
  /** The replica that recorded it. */
  readonly replica: string;
  readonly clientVersion: string;
  readonly clientAddress: string;
  /** How long the previous state lasted (ms); null for the first transition. */
  readonly previousMs: number | null;
}

/** The value of `app.<app id>` in the presence bucket. */
export interface PresenceRecord {
  readonly v: 1;
  readonly appId: string;
  readonly unitCode: string;
  readonly state: PresenceStateName;
  /** How it is connected; `none` when offline. */
  readonly channel: ChannelName;
  /** When the current state began (ms). */
  readonly since: number;
  /** When a heartbeat or a stream was last heard from (ms); null if never. */
  readonly lastSeen: number | null;
  /** Server minus client clock from the latest heartbeat or stream that told its time (ms). */
  readonly skewMs: number | null;
  readonly clientVersion: string;
  readonly clientAddress: string;
  /** The replica that last heard from the app, or noticed it go offline. */
  readonly replica: string;
  /** The latest heartbeat holds the app online until then (ms); 0 for no heartbeat. */
  readonly heartbeatUntil: number;
  /** The latest 2xx answer of a webhook holds the app online until then (ms); absent or 0 for none. */
  readonly webhookUntil?: number;
  /** Open streams by lease id. */
  readonly streams: Readonly<Record<string, StreamLease>>;
  /** Number of the latest transition; 0 before the first. */
  readonly transition: number;
  /** The latest transition while its history row is not known to be written. */
  readonly pending: Transition | null;
}

/** The value of `replica.<replica id>`: a replica's proof of life, renewed every interval. */
export interface ReplicaRecord {
  readonly v: 1;
  readonly id: string;
  readonly startedAt: number;
  /** Its streams count as held until then (ms). */
  readonly expiresAt: number;
}

/** What a heartbeat or a new stream tells about the client. */
export interface ClientFacts {
  readonly appId: string;
  readonly unitCode: string;
  /** The client's clock, when it sent it. */
  readonly clientTime?: Date | undefined;
  readonly clientVersion?: string | undefined;
  readonly clientAddress?: string | undefined;
}

/** What the rules need to know besides the record. */
export interface Clock {
  readonly now: number;
  /** This replica. */
  readonly replica: string;
  /** Three heartbeat intervals. */
  readonly timeoutMs: number;
  /** When a replica's proof of life runs out; undefined for a replica not (yet) known. */
  replicaExpiry(id: string): number | undefined;
}

// ---------------------------------------------------------------------------
// Keys and encoding

const APP_PREFIX = 'app.';
const REPLICA_PREFIX = 'replica.';

export const appKey = (appId: string) => `${APP_PREFIX}${appId}`;
export const replicaKey = (id: string) => `${REPLICA_PREFIX}${id}`;

export function parseKey(key: string): { kind: 'app' | 'replica'; id: string } | undefined {
  if (key.startsWith(APP_PREFIX)) return { kind: 'app', id: key.slice(APP_PREFIX.length) };
  if (key.startsWith(REPLICA_PREFIX)) return { kind: 'replica', id: key.slice(REPLICA_PREFIX.length) };
  return undefined;
}

/** App ids as the registry issues them; anything else is never used as a key. */
export const APP_ID = /^app_[0-9a-f]{16}$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeRecord(record: PresenceRecord | ReplicaRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Reads an app record; undefined for a value this version cannot read. */
export function decodePresence(value: Uint8Array): PresenceRecord | undefined {
  const parsed = parse(value);
  if (
    parsed === undefined ||
    parsed['v'] !== 1 ||
    typeof parsed['appId'] !== 'string' ||
    (parsed['state'] !== 'online' && parsed['state'] !== 'offline') ||
    typeof parsed['since'] !== 'number' ||
    typeof parsed['transition'] !== 'number' ||
    typeof parsed['streams'] !== 'object' ||
    parsed['streams'] === null
  ) {
    return undefined;
  }
  return parsed as unknown as PresenceRecord;
}

export function decodeReplica(value: Uint8Array): ReplicaRecord | undefined {
  const parsed = parse(value);
  if (parsed === undefined || parsed['v'] !== 1 || typeof parsed['expiresAt'] !== 'number') return undefined;
  return parsed as unknown as ReplicaRecord;
}

function parse(value: Uint8Array): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(decoder.decode(value));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Who holds an app online

/**
 * A stream counts while its replica's proof of life runs, and in any case
 * for one timeout after it was opened (a replica just started may not be
 * known everywhere yet).
 */
export function leaseAlive(lease: StreamLease, clock: Clock): boolean {
  if (lease.replica === clock.replica) return true;
  if (clock.now < lease.at + clock.timeoutMs) return true;
  return (clock.replicaExpiry(lease.replica) ?? 0) > clock.now;
}

export function liveStreams(record: PresenceRecord, clock: Clock): string[] {
  return Object.entries(record.streams)
    .filter(([, lease]) => leaseAlive(lease, clock))
    .map(([id]) => id);
}

export const heartbeatAlive = (record: PresenceRecord, now: number) => record.heartbeatUntil > now;
export const webhookAlive = (record: PresenceRecord, now: number) => (record.webhookUntil ?? 0) > now;

/** The channel that holds the app now, `none` when nothing does. */
export function holdingChannel(record: PresenceRecord, clock: Clock): ChannelName {
  if (liveStreams(record, clock).length > 0) return 'stream';
  if (heartbeatAlive(record, clock.now)) return 'heartbeat';
  return webhookAlive(record, clock.now) ? 'webhook' : 'none';
}

/** Server minus client clock, in ms; null when the client sent no time. */
export function skewOf(clientTime: Date | undefined, now: number): number | null {
  return clientTime === undefined ? null : now - clientTime.getTime();
}

// ---------------------------------------------------------------------------
// The rules. Each returns the record to write, or null when nothing changes.

/** The record of an app never seen before: offline, no transition yet. */
export function blankRecord(facts: ClientFacts, clock: Clock): PresenceRecord {
  return {
    v: 1,
    appId: facts.appId,
    unitCode: facts.unitCode,
    state: 'offline',
    channel: 'none',
    since: clock.now,
    lastSeen: null,
    skewMs: null,
    clientVersion: '',
    clientAddress: '',
    replica: clock.replica,
    heartbeatUntil: 0,
    streams: {},
    transition: 0,
    pending: null,
  };
}

/** Moves `record` to `state`, numbering the transition and keeping it pending. */
function transit(
  record: PresenceRecord,
  state: PresenceStateName,
  channel: ChannelName,
  reason: ChangeReasonName,
  clock: Clock,
): PresenceRecord {
  const n = record.transition + 1;
  const transition: Transition = {
    n,
    state,
    channel,
    reason,
    at: clock.now,
    skewMs: record.skewMs,
    replica: clock.replica,
    clientVersion: record.clientVersion,
    clientAddress: record.clientAddress,
    previousMs: record.transition === 0 ? null : Math.max(0, clock.now - record.since),
  };
  return {
    ...record,
    state,
    channel: state === 'online' ? channel : 'none',
    since: clock.now,
    replica: clock.replica,
    transition: n,
    pending: transition,
  };
}

/** What the client told, merged into the record. */
function heard(record: PresenceRecord, facts: ClientFacts, clock: Clock): PresenceRecord {
  const skewMs = skewOf(facts.clientTime, clock.now);
  return {
    ...record,
    unitCode: facts.unitCode === '' ? record.unitCode : facts.unitCode,
    lastSeen: clock.now,
    skewMs: skewMs ?? record.skewMs,
    clientVersion: facts.clientVersion ?? record.clientVersion,
    clientAddress: facts.clientAddress ?? record.clientAddress,
    replica: clock.replica,
  };
}

/** A heartbeat: holds the app online for one timeout; brings it online if it was not. */
export function onHeartbeat(
  current: PresenceRecord | null,
  facts: ClientFacts,
  clock: Clock,
): PresenceRecord {
  const base = heard(current ?? blankRecord(facts, clock), facts, clock);
  const held: PresenceRecord = { ...base, heartbeatUntil: clock.now + clock.timeoutMs };
  if (held.state === 'online') return { ...held, channel: holdingChannel(held, clock) };
  return transit(held, 'online', 'heartbeat', 'heartbeat', clock);
}

/** A clock skew that moved less than this is not worth a write of its own. */
export const SKEW_WRITE_MS = 1_000;

/**
 * Whether a heartbeat must go to the bucket now. It need not when the app is
 * online with at least half the timeout of hold left and the client told
 * nothing new (unit, version, a skew moved by a second or more): the replica
 * that received it keeps it and writes it before the hold runs low
 * (`onDeferredHeartbeat`), so an app heartbeating every interval costs a
 * write every other interval.
 */
export function heartbeatNeedsWrite(
  current: PresenceRecord | null,
  facts: ClientFacts,
  clock: Clock,
): boolean {
  if (current === null || current.state !== 'online' || current.pending !== null) return true;
  if (current.heartbeatUntil - clock.now < clock.timeoutMs / 2) return true;
  if (facts.unitCode !== '' && facts.unitCode !== current.unitCode) return true;
  if (facts.clientVersion !== undefined && facts.clientVersion !== current.clientVersion) return true;
  if (facts.clientAddress !== undefined && facts.clientAddress !== current.clientAddress) return true;
  const skew = skewOf(facts.clientTime, clock.now);
  return skew !== null && (current.skewMs === null || Math.abs(skew - current.skewMs) >= SKEW_WRITE_MS);
}

/**
 * A heartbeat a replica kept back (at `beatAt`) is written: the hold runs to
 * one timeout after it. Null when it is no longer needed: the app went
 * offline meanwhile (its next heartbeat brings it back), or a later
 * heartbeat already holds it longer.
 */
export function onDeferredHeartbeat(
  current: PresenceRecord | null,
  beatAt: number,
  skewMs: number | null,
  clock: Clock,
): PresenceRecord | null {
  if (current === null || current.state !== 'online') return null;
  const until = beatAt + clock.timeoutMs;
  if (current.heartbeatUntil >= until) return null;
  return {
    ...current,
    heartbeatUntil: until,
    lastSeen: Math.max(current.lastSeen ?? 0, beatAt),
    skewMs: skewMs ?? current.skewMs,
    replica: clock.replica,
  };
}

/** A stream opens (or its replica re-asserts it): the lease is added; the app comes online if it was not. */
export function onStreamOpen(
  current: PresenceRecord | null,
  leaseId: string,
  facts: ClientFacts,
  clock: Clock,
): PresenceRecord {
  const base = heard(current ?? blankRecord(facts, clock), facts, clock);
  const held: PresenceRecord = {
    ...base,
    streams: { ...base.streams, [leaseId]: { replica: clock.replica, at: clock.now } },
  };
  if (held.state === 'online') return { ...held, channel: 'stream' };
  return transit(held, 'online', 'stream', 'stream_opened', clock);
}

/**
 * A webhook answered 2xx: it holds the app online for one timeout, and brings
 * it online (WEBHOOK_RECOVERED) if it was not. Null when the hold has more
 * than half its time left: a webhook answering many notices costs a write
 * per half timeout, not one per notice.
 */
export function onWebhookAnswer(
  current: PresenceRecord | null,
  facts: ClientFacts,
  clock: Clock,
): PresenceRecord | null {
  if (current?.state === 'online' && (current.webhookUntil ?? 0) - clock.now >= clock.timeoutMs / 2) {
    return null;
  }
  const base = current ?? blankRecord(facts, clock);
  const held: PresenceRecord = {
    ...base,
    unitCode: facts.unitCode === '' ? base.unitCode : facts.unitCode,
    lastSeen: clock.now,
    replica: clock.replica,
    webhookUntil: clock.now + clock.timeoutMs,
  };
  if (held.state === 'online') return { ...held, channel: holdingChannel(held, clock) };
  return transit(held, 'online', 'webhook', 'webhook_recovered', clock);
}

/**
 * The platform disabled a webhook of the app: it holds the app no more, which
 * goes offline (WEBHOOK_DISABLED) unless a stream or a heartbeat holds it.
 */
export function onWebhookDisabled(current: PresenceRecord | null, clock: Clock): PresenceRecord | null {
  if (current === null || (current.webhookUntil ?? 0) === 0) return null;
  const rest: PresenceRecord = { ...current, webhookUntil: 0 };
  const channel = holdingChannel(rest, clock);
  if (current.state === 'offline' || channel !== 'none') {
    return { ...rest, channel: current.state === 'online' ? channel : 'none' };
  }
  return transit(rest, 'offline', 'webhook', 'webhook_disabled', clock);
}

/**
 * A stream ends: its lease goes; the app goes offline at once unless another
 * live stream or a heartbeat still holds it. Leases of dead replicas go too.
 */
export function onStreamClose(
  current: PresenceRecord | null,
  leaseId: string,
  end: StreamEnd,
  clock: Clock,
): PresenceRecord | null {
  if (current === null || !Object.hasOwn(current.streams, leaseId)) return null;
  const streams = Object.fromEntries(
    Object.entries(current.streams).filter(([id, lease]) => id !== leaseId && leaseAlive(lease, clock)),
  );
  const rest: PresenceRecord = { ...current, streams, lastSeen: clock.now };
  const channel = holdingChannel(rest, clock);
  if (current.state === 'offline' || channel !== 'none') {
    return { ...rest, channel: current.state === 'online' ? channel : 'none' };
  }
  return transit(rest, 'offline', 'stream', STREAM_END_REASONS[end], clock);
}

/**
 * The sweep: an online app that nothing holds any more goes offline
 * (TIMEOUT); leases of dead replicas are dropped. Null when nothing changes.
 */
export function onSweep(current: PresenceRecord, clock: Clock): PresenceRecord | null {
  const live = liveStreams(current, clock);
  const dead = Object.keys(current.streams).length - live.length;
  const channel = holdingChannel(current, clock);
  if (current.state === 'online' && channel === 'none') {
    const lost = current.channel === 'none' ? 'heartbeat' : current.channel;
    return transit(
      { ...current, streams: {}, heartbeatUntil: 0, webhookUntil: 0 },
      'offline',
      lost,
      'timeout',
      clock,
    );
  }
  if (dead === 0 && (current.state === 'offline' || channel === current.channel)) return null;
  const streams = Object.fromEntries(live.map((id) => [id, current.streams[id]!]));
  return { ...current, streams, channel: current.state === 'online' ? channel : 'none' };
}

/** The pending transition `n` is in the history: forget it. Null when it is not the pending one. */
export function onRecorded(current: PresenceRecord, n: number): PresenceRecord | null {
  if (current.pending === null || current.pending.n !== n) return null;
  return { ...current, pending: null };
}

/** Whether `next` starts a transition `current` did not have. */
export const startsTransition = (current: PresenceRecord | null, next: PresenceRecord) =>
  next.transition !== (current?.transition ?? 0);
