import { create } from '@bufbuild/protobuf';
import { DurationSchema, timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { DeliveryPolicySchema, DeliveryState } from '#gen/lgsp/transfer/v1/resources_pb.js';
import { Violations } from '#lib/errors.js';
import {
  checkPolicy,
  DEFAULT_MAX_ATTEMPTS,
  deadlineOf,
  MAX_DEADLINE_MS,
  retryDelayMs,
  toProtoPolicy,
} from '../src/domain/policy.js';
import { FINAL_DELIVERY_STATES } from '../src/domain/states.js';

const NOW = new Date('2026-03-02T08:00:00Z');
const policy = (fields: Parameters<typeof create<typeof DeliveryPolicySchema>>[1]) =>
  create(DeliveryPolicySchema, fields);

/** The violations `checkPolicy` collects, as field → reason. */
function violationsOf(p: ReturnType<typeof policy> | undefined): Record<string, string | undefined> {
  const v = new Violations();
  checkPolicy('policy', p, NOW, v);
  try {
    v.throwIfAny();
    return {};
  } catch (error) {
    const { violations } = error as { violations: Array<{ field: string; reason?: string }> };
    return Object.fromEntries(violations.map((x) => [x.field, x.reason]));
  }
}

describe('checkPolicy', () => {
  it('fills in the defaults when the policy is unset or empty', () => {
    for (const p of [undefined, policy({})]) {
      const v = new Violations();
      expect(checkPolicy('policy', p, NOW, v)).toEqual({
        maxAttempts: DEFAULT_MAX_ATTEMPTS,
        offlineThresholdSeconds: 3600,
        notifyOn: FINAL_DELIVERY_STATES,
        notifyBusinessStatus: false,
      });
      expect(v.isEmpty).toBe(true);
    }
    expect(DEFAULT_MAX_ATTEMPTS).toBe(20);
  });

  it('keeps what the source asked', () => {
    const deadline = new Date(NOW.getTime() + 3600_000);
    const v = new Violations();
    const checked = checkPolicy(
      'policy',
      policy({
        deadline: timestampFromDate(deadline),
        maxAttempts: 3,
        offlineThreshold: create(DurationSchema, { seconds: 600n }),
        notifyOn: [DeliveryState.NOTIFIED, DeliveryState.DELIVERED, DeliveryState.NOTIFIED],
        notifyBusinessStatus: true,
      }),
      NOW,
      v,
    );
    expect(v.isEmpty).toBe(true);
    expect(checked).toEqual({
      deadline: deadline.toISOString(),
      maxAttempts: 3,
      offlineThresholdSeconds: 600,
      // Named twice, kept once.
      notifyOn: ['notified', 'delivered'],
      notifyBusinessStatus: true,
    });
  });

  it('refuses a deadline that passed or is more than 90 days away', () => {
    const at = (ms: number) => policy({ deadline: timestampFromDate(new Date(NOW.getTime() + ms)) });
    expect(violationsOf(at(0))).toEqual({ 'policy.deadline': 'DEADLINE_PAST' });
    expect(violationsOf(at(-1000))).toEqual({ 'policy.deadline': 'DEADLINE_PAST' });
    expect(violationsOf(at(MAX_DEADLINE_MS + 1000))).toEqual({ 'policy.deadline': 'DEADLINE_TOO_FAR' });
    expect(violationsOf(at(MAX_DEADLINE_MS))).toEqual({});
    expect(violationsOf(at(1000))).toEqual({});
  });

  it('refuses max_attempts outside 0..100', () => {
    expect(violationsOf(policy({ maxAttempts: -1 }))).toEqual({ 'policy.max_attempts': 'OUT_OF_RANGE' });
    expect(violationsOf(policy({ maxAttempts: 101 }))).toEqual({ 'policy.max_attempts': 'OUT_OF_RANGE' });
    expect(violationsOf(policy({ maxAttempts: 100 }))).toEqual({});
    expect(violationsOf(policy({ maxAttempts: 1 }))).toEqual({});
  });

  it('refuses an offline threshold under a minute or over 30 days', () => {
    const threshold = (seconds: bigint) => policy({ offlineThreshold: create(DurationSchema, { seconds }) });
    expect(violationsOf(threshold(59n))).toEqual({ 'policy.offline_threshold': 'OUT_OF_RANGE' });
    expect(violationsOf(threshold(30n * 24n * 3600n + 1n))).toEqual({
      'policy.offline_threshold': 'OUT_OF_RANGE',
    });
    expect(violationsOf(threshold(60n))).toEqual({});
    expect(violationsOf(threshold(30n * 24n * 3600n))).toEqual({});
  });

  it('refuses a state that is not a delivery state, naming its index', () => {
    expect(violationsOf(policy({ notifyOn: [DeliveryState.DELIVERED, DeliveryState.UNSPECIFIED] }))).toEqual({
      'policy.notify_on[1]': 'UNKNOWN_STATE',
    });
    expect(violationsOf(policy({ notifyOn: [42 as DeliveryState] }))).toEqual({
      'policy.notify_on[0]': 'UNKNOWN_STATE',
    });
  });

  it('reports every problem at once', () => {
    expect(
      Object.keys(
        violationsOf(
          policy({
            deadline: timestampFromDate(new Date(NOW.getTime() - 1)),
            maxAttempts: 1000,
            offlineThreshold: create(DurationSchema, { seconds: 1n }),
          }),
        ),
      ).sort(),
    ).toEqual(['policy.deadline', 'policy.max_attempts', 'policy.offline_threshold']);
  });
});

describe('deadlineOf and toProtoPolicy', () => {
  it('takes the policy deadline, else the default counted from commit', () => {
    const committed = new Date('2026-03-02T09:00:00Z');
    const base = {
      maxAttempts: 20,
      offlineThresholdSeconds: 3600,
      notifyOn: [],
      notifyBusinessStatus: false,
    };
    expect(deadlineOf(base, committed, 60).toISOString()).toBe('2026-03-02T09:01:00.000Z');
    expect(deadlineOf({ ...base, deadline: '2026-03-03T00:00:00.000Z' }, committed, 60).toISOString()).toBe(
      '2026-03-03T00:00:00.000Z',
    );
  });

  it('shows the deadline in force, with defaults filled in', () => {
    const v = new Violations();
    const checked = checkPolicy('policy', undefined, NOW, v);
    const fixed = new Date('2026-03-09T08:00:00Z');
    const shown = toProtoPolicy(checked, fixed);
    expect(timestampDate(shown.deadline!).toISOString()).toBe(fixed.toISOString());
    expect(shown.maxAttempts).toBe(20);
    expect(shown.offlineThreshold?.seconds).toBe(3600n);
    expect(shown.notifyOn).toEqual([
      DeliveryState.DELIVERED,
      DeliveryState.REFUSED,
      DeliveryState.EXPIRED,
      DeliveryState.CANCELLED,
      DeliveryState.FAILED,
    ]);
    // Before commit, without a deadline of its own: none shown.
    expect(toProtoPolicy(checked, null).deadline).toBeUndefined();
  });
});

describe('retryDelayMs', () => {
  it('waits 30 s before the second offer and doubles after each, capped at an hour', () => {
    expect(retryDelayMs(0)).toBe(30_000);
    expect(retryDelayMs(1)).toBe(30_000);
    expect(retryDelayMs(2)).toBe(60_000);
    expect(retryDelayMs(3)).toBe(120_000);
    expect(retryDelayMs(7)).toBe(1_920_000);
    expect(retryDelayMs(8)).toBe(3_600_000);
    expect(retryDelayMs(100)).toBe(3_600_000);
  });

  it('never shrinks as attempts grow', () => {
    for (let n = 1; n < 40; n++) expect(retryDelayMs(n + 1)).toBeGreaterThanOrEqual(retryDelayMs(n));
  });
});
