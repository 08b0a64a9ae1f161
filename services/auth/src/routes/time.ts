/** GetServerTime: the server clock and the clock policy, so clients can measure their skew (Art. 5.4). */
import { durationFromMs, timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import type { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import type { AuthContext } from '../context.js';
import { clockPolicy } from '../domain/clock.js';

export function timeRoutes(ctx: AuthContext): Partial<ServiceImpl<typeof AuthService>> {
  return {
    async getServerTime(req) {
      const now = new Date();
      const client = req.clientTime === undefined ? undefined : timestampDate(req.clientTime);
      const skewMs = client === undefined ? undefined : now.getTime() - client.getTime();
      return {
        serverTime: timestampFromDate(now),
        ...(skewMs === undefined || !Number.isFinite(skewMs) ? {} : { clockSkew: durationFromMs(skewMs) }),
        clockPolicy: clockPolicy(ctx.policy.maxSkewMs),
      };
    },
  };
}
