/** What the local cluster mode asks of the configuration: a NATS cluster's URL list and three copies. */
import { describe, expect, it } from 'vitest';
import { EnvReader, readBaseConfig } from '#lib/config.js';
import { loadGatewayConfig } from '../../gateway/src/config.js';

describe('configuration for a NATS cluster', () => {
  it('takes every server of a cluster in NATS_URL, and the copies of streams and buckets', () => {
    const env = {
      NATS_URL: 'nats://127.0.0.1:4231,nats://127.0.0.1:4232, nats://127.0.0.1:4233',
      LGSP_NATS_REPLICAS: '3',
    };
    const reader = new EnvReader(env);
    const config = readBaseConfig(reader, 'transfer', 7103);
    reader.done();
    expect(config.natsUrl).toBe(env.NATS_URL);
    expect(config.natsReplicas).toBe(3);
    expect(loadGatewayConfig(env)).toMatchObject({ natsUrl: env.NATS_URL, natsReplicas: 3 });
  });

  it('keeps one copy by default, and refuses a list with a bad member', () => {
    const reader = new EnvReader({ NATS_URL: 'nats://127.0.0.1:4231,http://x' });
    const config = readBaseConfig(reader, 'transfer', 7103);
    expect(config.natsReplicas).toBe(1);
    expect(() => reader.done()).toThrow(/NATS_URL must use nats:/);
  });
});
