import { join } from 'node:path';
import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';
import { previousMasterKey } from '#lib/crypto/rotate.js';
import type { BlobBackendName } from './blobs/port.js';

export const STORAGE_DEFAULT_PORT = 7104;

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** PutBlob carries at most this much content in one message. */
export const PUT_BLOB_MAX_BYTES = 4 * MiB;
/** A message of Upload or UploadChunk carries at most this much content. */
export const CHUNK_MAX_BYTES = MiB;
/** Room for a message's other fields around its content. */
const MESSAGE_FRAMING_BYTES = 64 * 1024;

export interface StorageConfig extends BaseConfig {
  /** AES-256-GCM key (32 bytes) that wraps each blob's data key. */
  readonly masterKey: Uint8Array;
  /**
   * The master key before a rotation (LGSP_MASTER_KEY_PREVIOUS): opens values
   * not yet re-sealed under `masterKey`, never seals. Unset outside a rotation.
   */
  readonly previousMasterKey?: Uint8Array;
  /** Where the content is kept. */
  readonly blobBackend: BlobBackendName;
  /** Root directory of the `fs` backend. */
  readonly storageDir: string;
  /** Copies of each chunk the `nats` backend asks JetStream to keep. */
  readonly natsBlobReplicas: number;
  /** Largest blob a transfer may reserve. */
  readonly maxBlobBytes: number;
  /** The most bytes one app may hold reserved in STAGING blobs at once. */
  readonly appStagingQuotaBytes: number;
}

export function loadStorageConfig(env: Env = process.env): StorageConfig {
  const reader = new EnvReader(env);
  const base = readBaseConfig(reader, 'storage', STORAGE_DEFAULT_PORT);
  const masterKey = reader.base64Key('LGSP_MASTER_KEY', 32, {
    hint: 'the same Secret the auth service uses',
  });
  const blobBackend = reader.oneOf<BlobBackendName>('LGSP_BLOB_BACKEND', ['fs', 'nats'], 'fs');
  if (blobBackend === 'nats' && base.natsUrl === undefined) {
    reader.requiredString('NATS_URL', 'LGSP_BLOB_BACKEND=nats keeps the content in the NATS Object Store');
  }
  const config: StorageConfig = {
    ...withStorageReadLimit(base),
    masterKey: masterKey ?? new Uint8Array(0),
    ...previousMasterKey(reader),
    blobBackend,
    storageDir: reader.string('LGSP_STORAGE_DIR', join(base.dataDir, 'blobs')),
    natsBlobReplicas: reader.int('LGSP_BLOB_NATS_REPLICAS', 1, { min: 1, max: 5 }),
    maxBlobBytes: reader.int('LGSP_MAX_BLOB_BYTES', 2 * GiB, { min: 1 }),
    appStagingQuotaBytes: reader.int('LGSP_APP_STAGING_QUOTA_BYTES', 8 * GiB, { min: 1 }),
  };
  reader.done();
  return Object.freeze(config);
}

/**
 * The storage service must accept a whole PutBlob (4 MiB of content plus its
 * other fields) whatever the platform-wide request limit says; a smaller limit
 * would refuse content the API promises to take.
 */
export function withStorageReadLimit<C extends BaseConfig>(config: C): C {
  return {
    ...config,
    readMaxBytes: Math.max(config.readMaxBytes, PUT_BLOB_MAX_BYTES + MESSAGE_FRAMING_BYTES),
  };
}
