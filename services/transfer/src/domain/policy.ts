/**
 * The delivery policy (chính sách liên thông, Art. 8.3): what the source asks,
 * checked, with the platform's defaults filled in.
 */
import { create } from '@bufbuild/protobuf';
import {
  type Duration,
  DurationSchema,
  durationMs,
  timestampDate,
  timestampFromDate,
} from '@bufbuild/protobuf/wkt';
import { type DeliveryPolicy, DeliveryPolicySchema } from '#gen/lgsp/transfer/v1/resources_pb.js';
import type { Violations } from '#lib/errors.js';
import type { DeliveryStateName, PolicyJson } from '../db/schema.js';
import { deliveryStates, FINAL_DELIVERY_STATES } from './states.js';

const DAY_MS = 24 * 3600_000;
export const MAX_DEADLINE_MS = 90 * DAY_MS;
export const DEFAULT_MAX_ATTEMPTS = 20;
const DEFAULT_OFFLINE_THRESHOLD_S = 3600;
const MIN_OFFLINE_THRESHOLD_S = 60;
const MAX_OFFLINE_THRESHOLD_S = 30 * 24 * 3600;

/** Reads a policy from a request; `field` names it in violations. */
export function checkPolicy(
  field: string,
  policy: DeliveryPolicy | undefined,
  now: Date,
  v: Violations,
): PolicyJson {
  const p = policy ?? create(DeliveryPolicySchema);
  let deadline: string | undefined;
  if (p.deadline !== undefined) {
    const at = timestampDate(p.deadline);
    if (at.getTime() <= now.getTime()) v.add(`${field}.deadline`, 'must be in the future', 'DEADLINE_PAST');
    else if (at.getTime() - now.getTime() > MAX_DEADLINE_MS) {
      v.add(`${field}.deadline`, 'must be at most 90 days away', 'DEADLINE_TOO_FAR');
    } else deadline = at.toISOString();
  }
  if (p.maxAttempts < 0 || p.maxAttempts > 100) {
    v.add(`${field}.max_attempts`, 'must be 1 to 100, or 0 for the default', 'OUT_OF_RANGE');
  }
  const threshold =
    p.offlineThreshold === undefined ? DEFAULT_OFFLINE_THRESHOLD_S : durationMs(p.offlineThreshold) / 1000;
  if (threshold < MIN_OFFLINE_THRESHOLD_S || threshold > MAX_OFFLINE_THRESHOLD_S) {
    v.add(`${field}.offline_threshold`, 'must be 1 minute to 30 days', 'OUT_OF_RANGE');
  }
  const notifyOn: DeliveryStateName[] = [];
  p.notifyOn.forEach((state, i) => {
    const name = deliveryStates.fromProto(state);
    if (name === undefined) v.add(`${field}.notify_on[${i}]`, 'is not a delivery state', 'UNKNOWN_STATE');
    else if (!notifyOn.includes(name)) notifyOn.push(name);
  });
  return {
    ...(deadline === undefined ? {} : { deadline }),
    maxAttempts: p.maxAttempts === 0 ? DEFAULT_MAX_ATTEMPTS : p.maxAttempts,
    offlineThresholdSeconds: Math.round(threshold),
    notifyOn: notifyOn.length === 0 ? FINAL_DELIVERY_STATES : notifyOn,
    notifyBusinessStatus: p.notifyBusinessStatus,
  };
}

/** The deadline in force: the policy's, or the platform default counted from commit. */
export function deadlineOf(policy: PolicyJson, committedAt: Date, defaultSeconds: number): Date {
  return policy.deadline === undefined
    ? new Date(committedAt.getTime() + defaultSeconds * 1000)
    : new Date(policy.deadline);
}

export function toProtoPolicy(policy: PolicyJson, deadline: Date | null): DeliveryPolicy {
  const at = deadline ?? (policy.deadline === undefined ? undefined : new Date(policy.deadline));
  const threshold: Duration = create(DurationSchema, { seconds: BigInt(policy.offlineThresholdSeconds) });
  return create(DeliveryPolicySchema, {
    ...(at === undefined ? {} : { deadline: timestampFromDate(at) }),
    maxAttempts: policy.maxAttempts,
    offlineThreshold: threshold,
    notifyOn: policy.notifyOn.map((s) => deliveryStates.toProto(s)),
    notifyBusinessStatus: policy.notifyBusinessStatus,
  });
}

/** Pause before offer number `attempts + 1`: 30 s doubling, at most an hour. */
export function retryDelayMs(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.max(0, attempts - 1), 3600_000);
}
