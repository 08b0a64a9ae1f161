/** The rules that move a presence record (domain/presence.ts), without NATS or Postgres. */
import { describe, expect, it } from 'vitest';
import {
  type Clock,
  decodePresence,
  encodeRecord,
  heartbeatNeedsWrite,
  leaseAlive,
  onDeferredHeartbeat,
  onHeartbeat,
  onRecorded,
  onStreamClose,
  onStreamOpen,
  onSweep,
  type PresenceRecord,
  parseKey,
} from '../src/domain/presence.js';

const I = 1_000;
const T = 3 * I;
const APP = { appId: 'app_00000000000000a1', unitCode: '000.00.03.H26' };

function clock(now: number, replica = 'r1', expiries: Record<string, number> = {}): Clock {
  return { now, replica, timeoutMs: T, replicaExpiry: (id) => expiries[id] };
}

describe('heartbeats', () => {
  it('bring an app online with a numbered, pending transition and its clock skew', () => {
    const r = onHeartbeat(null, { ...APP, clientTime: new Date(1_000), clientVersion: 'v1' }, clock(6_000));
    expect(r).toMatchObject({ state: 'online', channel: 'heartbeat', since: 6_000, heartbeatUntil: 9_000 });
    expect(r.transition).toBe(1);
    expect(r.pending).toMatchObject({
      n: 1,
      reason: 'heartbeat',
      skewMs: 5_000,
      clientVersion: 'v1',
      previousMs: null,
    });
  });

  it('renew the hold of an online app without a transition', () => {
    const online = onRecorded(onHeartbeat(null, APP, clock(0)), 1)!;
    const again = onHeartbeat(online, APP, clock(I));
    expect(again).toMatchObject({ transition: 1, pending: null, heartbeatUntil: I + T, lastSeen: I });
  });

  it('need a write only with little hold left or something new to tell', () => {
    const online = onRecorded(onHeartbeat(null, { ...APP, clientTime: new Date(0) }, clock(0)), 1)!;
    expect(heartbeatNeedsWrite(online, { ...APP, clientTime: new Date(I) }, clock(I))).toBe(false);
    expect(heartbeatNeedsWrite(online, APP, clock(T / 2 + 1))).toBe(true);
    expect(heartbeatNeedsWrite(online, { ...APP, clientVersion: 'v2' }, clock(I))).toBe(true);
    expect(heartbeatNeedsWrite(online, { ...APP, clientTime: new Date(I - 1_500) }, clock(I))).toBe(true);
    expect(heartbeatNeedsWrite(null, APP, clock(I))).toBe(true);
  });

  it('kept back are written as a later hold, unless something holds the app longer', () => {
    const online = onRecorded(onHeartbeat(null, APP, clock(0)), 1)!;
    expect(onDeferredHeartbeat(online, I, 42, clock(2 * I))).toMatchObject({
      heartbeatUntil: I + T,
      skewMs: 42,
    });
    expect(onDeferredHeartbeat(online, -I, null, clock(0))).toBeNull();
    const offline = { ...online, state: 'offline' as const };
    expect(onDeferredHeartbeat(offline, I, null, clock(2 * I))).toBeNull();
  });
});

describe('streams', () => {
  it('hold an app online until the last closes, whatever the order', () => {
    let r = onStreamOpen(null, 'a', APP, clock(0));
    r = onStreamOpen(onRecorded(r, 1), 'b', APP, clock(10, 'r2'));
    expect(r).toMatchObject({ state: 'online', channel: 'stream', transition: 1 });
    r = onStreamClose(r, 'a', 'client', clock(20))!;
    expect(r.state).toBe('online');
    expect(onStreamClose(r, 'a', 'client', clock(30))).toBeNull();
    r = onStreamClose(r, 'b', 'broken', clock(40, 'r2'))!;
    expect(r).toMatchObject({ state: 'offline', channel: 'none', transition: 2 });
    expect(r.pending).toMatchObject({ n: 2, reason: 'stream_broken', channel: 'stream', previousMs: 40 });
  });

  it('leave a heartbeating app online, on its heartbeat', () => {
    const r = onStreamOpen(onHeartbeat(null, APP, clock(0)), 'a', APP, clock(10));
    const closed = onStreamClose(r, 'a', 'server', clock(20))!;
    expect(closed).toMatchObject({ state: 'online', channel: 'heartbeat' });
  });

  it('count while their replica lives, and for one timeout after they opened in any case', () => {
    const lease = { replica: 'r2', at: 0 };
    expect(leaseAlive(lease, clock(T - 1))).toBe(true);
    expect(leaseAlive(lease, clock(T + 1))).toBe(false);
    expect(leaseAlive(lease, clock(T + 1, 'r1', { r2: T + 2 }))).toBe(true);
    expect(leaseAlive(lease, clock(10 * T, 'r2'))).toBe(true);
  });
});

describe('the sweep', () => {
  it('times out an app nothing holds, and only then', () => {
    const r = onRecorded(onHeartbeat(null, APP, clock(0)), 1)!;
    expect(onSweep(r, clock(T - 1))).toBeNull();
    const out = onSweep(r, clock(T + 1))!;
    expect(out).toMatchObject({ state: 'offline', heartbeatUntil: 0, transition: 2 });
    expect(out.pending).toMatchObject({ reason: 'timeout', channel: 'heartbeat', previousMs: T + 1 });
  });

  it("times out an app held only by a dead replica's streams, and drops dead leases of a held one", () => {
    const held = onRecorded(onStreamOpen(null, 'a', APP, clock(0, 'r2')), 1)!;
    expect(onSweep(held, clock(T + 1, 'r1', { r2: T + 2 }))).toBeNull();
    expect(onSweep(held, clock(T + 3, 'r1', { r2: T + 2 }))).toMatchObject({ state: 'offline', streams: {} });
    const both = onStreamOpen(held, 'b', APP, clock(T, 'r3'));
    expect(onSweep(both, clock(T + 3, 'r1', { r2: T + 2, r3: 10 * T }))).toMatchObject({
      state: 'online',
      streams: { b: { replica: 'r3' } },
    });
  });
});

describe('records', () => {
  it('round-trip through the bucket and refuse what they cannot read', () => {
    const r: PresenceRecord = onHeartbeat(null, APP, clock(0));
    expect(decodePresence(encodeRecord(r))).toEqual(r);
    expect(decodePresence(new TextEncoder().encode('{"v":2}'))).toBeUndefined();
    expect(decodePresence(new Uint8Array([0xff]))).toBeUndefined();
    expect(parseKey('app.app_1')).toEqual({ kind: 'app', id: 'app_1' });
    expect(parseKey('replica.pod-1-abcdef')).toEqual({ kind: 'replica', id: 'pod-1-abcdef' });
    expect(parseKey('other')).toBeUndefined();
  });

  it('forget a pending transition once recorded, and only that one', () => {
    const r = onHeartbeat(null, APP, clock(0));
    expect(onRecorded(r, 2)).toBeNull();
    expect(onRecorded(r, 1)?.pending).toBeNull();
  });
});
