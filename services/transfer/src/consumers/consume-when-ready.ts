/**
 * Consuming a stream another service owns (the notification service's): this
 * service never creates it, so until it exists the consumer is retried every
 * few seconds in the background, and the service starts meanwhile.
 */
import type { ConsumerSpec, MessageHandler, Subscription } from '#lib/bus/bus.js';
import type { TransferContext } from '../context.js';

/** Pause between attempts while the stream does not exist yet. */
const RETRY_MS = 2_000;

export async function consumeWhenReady(
  ctx: Pick<TransferContext, 'bus' | 'logger'>,
  spec: ConsumerSpec,
  handler: MessageHandler,
  options: { readonly concurrency: number; readonly what: string },
): Promise<Subscription> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Subscription | undefined;
  let failures = 0;
  const attempt = async (): Promise<void> => {
    if (stopped) return;
    try {
      const subscription = await ctx.bus.consume(spec, handler, { concurrency: options.concurrency });
      if (stopped) await subscription.stop();
      else current = subscription;
    } catch (err) {
      if (stopped) return;
      failures++;
      const log = failures === 5 ? ctx.logger.warn.bind(ctx.logger) : ctx.logger.debug.bind(ctx.logger);
      log({ err, stream: spec.stream }, `${options.what} not followed yet (is the notification service up?)`);
      timer = setTimeout(() => void attempt(), RETRY_MS);
      timer.unref();
    }
  };
  await attempt();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current?.stop();
    },
  };
}
