/**
 * Tells the auth service which access keys were used, in batches, so it can
 * keep each credential's last-used time without a write per request.
 */
import type { Bus } from '#lib/bus/bus.js';
import { subjectOf } from '#lib/infra.js';
import type { Logger } from '#lib/logger.js';

export interface UsageRecorder {
  used(accessKeyId: string): void;
  stop(): Promise<void>;
}

const FLUSH_MS = 2_000;

export function startUsageRecorder(bus: Bus, prefix: string, logger: Logger): UsageRecorder {
  const subject = subjectOf(prefix, 'auth', 'used');
  let pending = new Set<string>();
  const flush = async () => {
    if (pending.size === 0) return;
    const batch = [...pending];
    pending = new Set();
    await bus.broadcast(subject, Buffer.from(JSON.stringify(batch))).catch((err: unknown) => {
      logger.warn({ err }, 'key usage not reported');
    });
  };
  const timer = setInterval(() => void flush(), FLUSH_MS);
  timer.unref();
  return {
    used: (accessKeyId) => pending.add(accessKeyId),
    stop: async () => {
      clearInterval(timer);
      await flush();
    },
  };
}
