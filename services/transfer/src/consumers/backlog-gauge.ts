/**
 * `lgsp_delivery_backlog{priority}` on the Prometheus endpoint: deliveries
 * waiting to be offered or taken (PENDING, NOTIFIED), by priority, counted at
 * each scrape from the index the dispatcher itself uses. A backlog that grows
 * at one priority while the others drain is what priority scheduling looks
 * like under load; one that grows at every priority is a stuck platform.
 */
import { metrics, type ObservableCallback } from '@opentelemetry/api';
import { Priority } from '#gen/lgsp/common/v1/common_pb.js';
import type { Subscription } from '#lib/bus/bus.js';
import type { TransferContext } from '../context.js';

export function observeBacklog(ctx: Pick<TransferContext, 'db' | 'logger'>): Subscription {
  const gauge = metrics.getMeter('lgsp.transfer').createObservableGauge('lgsp_delivery_backlog', {
    description: 'Deliveries waiting to be offered or accepted (PENDING, NOTIFIED), by priority',
  });
  const callback: ObservableCallback = async (result) => {
    try {
      const rows = await ctx.db
        .selectFrom('deliveries')
        .select(['priority', (eb) => eb.fn.countAll<number>().as('n')])
        .where('state', 'in', ['pending', 'notified'])
        .groupBy('priority')
        .execute();
      const counts = new Map(rows.map((r) => [r.priority, Number(r.n)]));
      for (const priority of [Priority.NORMAL, Priority.URGENT, Priority.VERY_URGENT, Priority.FLASH]) {
        result.observe(counts.get(priority) ?? 0, { priority: Priority[priority]!.toLowerCase() });
      }
    } catch (err) {
      ctx.logger.warn({ err }, 'delivery backlog not measured');
    }
  };
  gauge.addCallback(callback);
  return {
    stop: async () => gauge.removeCallback(callback),
  };
}
