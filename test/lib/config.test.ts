import { describe, expect, it } from 'vitest';
import { ConfigError, EnvReader, readBaseConfig } from '#lib/config.js';

describe('configuration from the environment', () => {
  it('applies defaults', () => {
    const reader = new EnvReader({});
    const config = readBaseConfig(reader, 'registry', 7101);
    reader.done();
    expect(config).toMatchObject({
      service: 'registry',
      port: 7101,
      dbSchema: 'registry',
      busPrefix: 'LGSP',
    });
    expect(config.databaseUrl).toBeUndefined();
  });

  it('reports every problem at once, naming each variable', () => {
    const reader = new EnvReader({
      PORT: 'eighty',
      DATABASE_URL: 'mysql://x',
      LOG_LEVEL: 'loud',
      NATS_URL: '::',
    });
    readBaseConfig(reader, 'registry', 7101);
    let error: unknown;
    try {
      reader.done();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'NATS_URL']) expect(message).toContain(name);
  });

  it('reads booleans strictly', () => {
    const reader = new EnvReader({ A: 'yes', B: 'off', C: 'maybe' });
    expect(reader.bool('A', false)).toBe(true);
    expect(reader.bool('B', true)).toBe(false);
    reader.bool('C', true);
    expect(() => reader.done()).toThrow(/C must be true or false/);
  });
});
