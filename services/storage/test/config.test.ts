import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '#lib/config.js';
import { loadStorageConfig } from '../src/config.js';

const masterKey = randomBytes(32).toString('base64');

describe('storage configuration', () => {
  it('has defaults for everything but the master key', () => {
    const config = loadStorageConfig({ LGSP_MASTER_KEY: masterKey, LGSP_DATA_DIR: '/var/lib/lgsp' });
    expect(Buffer.from(config.masterKey).toString('base64')).toBe(masterKey);
    expect(config).toMatchObject({
      port: 7104,
      blobBackend: 'fs',
      storageDir: join('/var/lib/lgsp', 'blobs'),
      natsBlobReplicas: 1,
      maxBlobBytes: 2 * 1024 ** 3,
      appStagingQuotaBytes: 8 * 1024 ** 3,
    });
    // A whole PutBlob (4 MiB of content) fits whatever the platform-wide limit says.
    expect(config.readMaxBytes).toBeGreaterThan(4 * 1024 * 1024);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every variable', () => {
    const config = loadStorageConfig({
      LGSP_MASTER_KEY: masterKey,
      LGSP_BLOB_BACKEND: 'nats',
      NATS_URL: 'nats://nats.lgsp.svc:4222',
      LGSP_STORAGE_DIR: '/srv/blobs',
      LGSP_BLOB_NATS_REPLICAS: '3',
      LGSP_MAX_BLOB_BYTES: '1048576',
      LGSP_APP_STAGING_QUOTA_BYTES: '2097152',
      LGSP_READ_MAX_BYTES: String(16 * 1024 * 1024),
    });
    expect(config).toMatchObject({
      blobBackend: 'nats',
      storageDir: '/srv/blobs',
      natsBlobReplicas: 3,
      maxBlobBytes: 1048576,
      appStagingQuotaBytes: 2097152,
      readMaxBytes: 16 * 1024 * 1024,
    });
  });

  it('lists every problem at once: no master key, an unknown backend, a bad number', () => {
    const load = () =>
      loadStorageConfig({
        LGSP_BLOB_BACKEND: 's3',
        LGSP_MAX_BLOB_BYTES: '0',
        LGSP_APP_STAGING_QUOTA_BYTES: 'lots',
      });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/LGSP_MASTER_KEY is required/);
    expect(load).toThrow(/LGSP_BLOB_BACKEND must be one of fs, nats/);
    expect(load).toThrow(/LGSP_MAX_BLOB_BYTES must be an integer/);
    expect(load).toThrow(/LGSP_APP_STAGING_QUOTA_BYTES must be an integer/);
  });

  it('needs NATS_URL for the nats backend, and a 32-byte key', () => {
    expect(() => loadStorageConfig({ LGSP_MASTER_KEY: masterKey, LGSP_BLOB_BACKEND: 'nats' })).toThrow(
      /NATS_URL is required/,
    );
    expect(() => loadStorageConfig({ LGSP_MASTER_KEY: randomBytes(16).toString('base64') })).toThrow(
      /LGSP_MASTER_KEY must be base64 of 32 random bytes/,
    );
  });
});
