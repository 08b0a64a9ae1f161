/**
 * Presence's side of the Subscribe seam (stream-hooks.ts): an open stream
 * holds its app online (channel STREAM, clock skew from the request's
 * client_time) until it ends. Presence trouble (a KV outage) never fails a
 * stream: the tracker writes the hold at its next proof-of-life pass, and a
 * release whose write failed is cleaned up the same way.
 */
import type { Logger } from '#lib/logger.js';
import type { StreamEnd as PresenceStreamEnd } from './presence.js';
import type { PresenceTracker } from './presence-tracker.js';
import type { StreamEnd, StreamHooks } from './stream-hooks.js';

const ENDS: Record<StreamEnd, PresenceStreamEnd> = {
  client_gone: 'client',
  failed: 'broken',
  server_closed: 'server',
  app_disabled: 'disabled',
};

export function presenceStreamHooks(tracker: PresenceTracker, logger: Logger): StreamHooks {
  return {
    async streamOpened(stream) {
      const hold = await tracker.openStream({
        appId: stream.appId,
        unitCode: stream.unitCode,
        clientTime: stream.clientTime,
      });
      return async (end) => {
        await hold
          .release(ENDS[end])
          .catch((err: unknown) =>
            logger.warn(
              { err, appId: stream.appId },
              'stream end not yet in presence; the next pass writes it',
            ),
          );
      };
    },
  };
}
