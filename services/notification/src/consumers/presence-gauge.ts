/**
 * `lgsp_presence_online_apps` on the Prometheus endpoint: apps online now,
 * by channel, from this replica's mirror of the presence bucket (every
 * replica mirrors every app, so each reports the platform-wide figure).
 */
import { metrics, type ObservableCallback } from '@opentelemetry/api';
import type { Subscription } from '#lib/bus/bus.js';
import type { NotificationContext } from '../context.js';

export function observeOnlineApps(ctx: Pick<NotificationContext, 'presence'>): Subscription {
  const gauge = metrics.getMeter('lgsp.notification').createObservableGauge('lgsp_presence_online_apps', {
    description: 'Apps online (Art. 5.9), by the channel that holds them',
  });
  const callback: ObservableCallback = (result) => {
    const counts = { stream: 0, heartbeat: 0, webhook: 0 };
    for (const record of ctx.presence.records()) {
      if (record.state !== 'online') continue;
      const channel = record.channel === 'none' ? 'heartbeat' : record.channel;
      counts[channel] += 1;
    }
    for (const [channel, n] of Object.entries(counts)) result.observe(n, { channel });
  };
  gauge.addCallback(callback);
  return { stop: async () => gauge.removeCallback(callback) };
}
