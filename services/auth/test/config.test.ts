import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '#lib/config.js';
import { loadAuthConfig } from '../src/config.js';

const masterKey = randomBytes(32).toString('base64');

describe('auth configuration', () => {
  it('has defaults for everything but the master key', () => {
    const config = loadAuthConfig({ LGSP_MASTER_KEY: masterKey });
    expect(Buffer.from(config.masterKey).toString('base64')).toBe(masterKey);
    expect(config).toMatchObject({
      port: 7102,
      allowHmacSha1: true,
      maxClockSkewSeconds: 300,
      sessionTokenTtlSeconds: 300,
      tokenIssuer: 'lgsp',
      registryAddr: '127.0.0.1:7101',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every variable', () => {
    const config = loadAuthConfig({
      LGSP_MASTER_KEY: masterKey,
      LGSP_ALLOW_HMAC_SHA1: 'false',
      LGSP_MAX_CLOCK_SKEW_SECONDS: '120',
      LGSP_SESSION_TOKEN_TTL_SECONDS: '3600',
      LGSP_TOKEN_ISSUER: 'https://lgsp.haiduong.gov.vn',
      REGISTRY_ADDR: 'registry.lgsp.svc:7101',
    });
    expect(config).toMatchObject({
      allowHmacSha1: false,
      maxClockSkewSeconds: 120,
      sessionTokenTtlSeconds: 3600,
      tokenIssuer: 'https://lgsp.haiduong.gov.vn',
      registryAddr: 'registry.lgsp.svc:7101',
    });
  });

  it('refuses a missing master key', () => {
    expect(() => loadAuthConfig({})).toThrow(/LGSP_MASTER_KEY is required/);
  });

  it('refuses a master key of the wrong length, and lists every problem at once', () => {
    try {
      loadAuthConfig({
        LGSP_MASTER_KEY: randomBytes(16).toString('base64'),
        LGSP_SESSION_TOKEN_TTL_SECONDS: '7200',
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toContain('LGSP_MASTER_KEY must be base64 of 32 random bytes');
      expect(message).toContain('decodes to 16 bytes');
      expect(message).toContain('LGSP_SESSION_TOKEN_TTL_SECONDS must be an integer between 60 and 3600');
    }
  });
});
