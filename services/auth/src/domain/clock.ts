/** The clock policy of signed requests (Art. 5.4), as GetServerTime and GetKeyMaterial state it. */
import { create } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { type ClockPolicy, ClockPolicySchema } from '#gen/lgsp/auth/v1/resources_pb.js';

/**
 * How long a spent nonce is remembered: the nonce store keeps entries for
 * twice the skew plus a minute (lib/auth/nonces.ts), because a timestamp is
 * accepted on both sides of the server time.
 */
export function replayWindowMs(maxSkewMs: number): number {
  return 2 * maxSkewMs + 60_000;
}

export function clockPolicy(maxSkewMs: number): ClockPolicy {
  return create(ClockPolicySchema, {
    maxClockSkew: durationFromMs(maxSkewMs),
    replayWindow: durationFromMs(replayWindowMs(maxSkewMs)),
  });
}
