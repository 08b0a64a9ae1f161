/**
 * Last-used times (Credential.last_used_time): the gateways broadcast, every
 * few seconds, a JSON array of the access key ids that signed accepted
 * requests on `<prefix>.auth.used`; one UPDATE per batch records them.
 */
import type { Subscription } from '#lib/bus/bus.js';
import type { AuthContext } from '../context.js';
import { markUsed } from '../db/credentials.js';
import { authSubjects } from '../db/events.js';
import { ACCESS_KEY_ID } from '../domain/access-keys.js';

const MAX_BATCH = 5_000;

export async function listenForUsage(ctx: AuthContext): Promise<Subscription> {
  const inFlight = new Set<Promise<void>>();
  const subscription = await ctx.bus.listen(authSubjects(ctx.config.busPrefix).used, (_subject, data) => {
    const ids = readBatch(data);
    if (ids === undefined) {
      ctx.logger.warn(
        { bytes: data.length },
        'ignored a key usage batch that is not a JSON array of access key ids',
      );
      return;
    }
    const write: Promise<void> = markUsed(ctx.db, ids)
      .then(() => undefined)
      .catch((err: unknown) => ctx.logger.warn({ err, keys: ids.length }, 'last-used times not recorded'))
      .finally(() => inFlight.delete(write));
    inFlight.add(write);
  });
  return {
    async stop() {
      await subscription.stop();
      await Promise.all(inFlight);
    },
  };
}

/** The distinct well-formed access key ids of a batch; undefined when it is not a JSON array of strings. */
export function readBatch(data: Uint8Array): string[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((id) => typeof id === 'string')) return undefined;
  return [...new Set(parsed as string[])].filter((id) => ACCESS_KEY_ID.test(id)).slice(0, MAX_BATCH);
}
