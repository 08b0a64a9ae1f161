import type { Kysely } from 'kysely';
import { type AuditRecorder, createAuditRecorder } from '#lib/audit.js';
import { createSecretBox, type SecretBox } from '#lib/crypto/secret-box.js';
import type { BaseContext } from '#lib/service.js';
import { openBlobStore } from './blobs/open.js';
import type { BlobStore } from './blobs/port.js';
import type { StorageConfig } from './config.js';
import { masterKeyId } from './crypto/data-keys.js';
import type { StorageDatabase } from './db/schema.js';
import { DigestCache } from './domain/digest-cache.js';

/** Everything the storage service's handlers depend on, built once at start. */
export interface StorageContext extends Omit<BaseContext<StorageConfig>, 'db'> {
  readonly db: Kysely<StorageDatabase>;
  /** Wraps and unwraps blob data keys under the master key. */
  readonly secretBox: SecretBox;
  readonly masterKeyId: string;
  /** Where the (encrypted) content is. */
  readonly blobs: BlobStore;
  /** Running digests of the uploads this process is receiving. */
  readonly digests: DigestCache;
  readonly audit: AuditRecorder;
}

export async function createStorageContext(base: BaseContext<StorageConfig>): Promise<StorageContext> {
  const { config, logger, bus } = base;
  if (config.masterKey === undefined || config.masterKey.length !== 32) {
    throw new Error('the storage service needs its 32-byte master key (LGSP_MASTER_KEY, config.masterKey)');
  }
  const blobs = await openBlobStore(config);
  logger.info({ backend: blobs.backend }, 'blob store open');
  return {
    ...base,
    db: base.db as unknown as Kysely<StorageDatabase>,
    secretBox: createSecretBox(config.masterKey, config.previousMasterKey),
    masterKeyId: masterKeyId(config.masterKey),
    blobs,
    digests: new DigestCache(),
    audit: createAuditRecorder(bus, config.busPrefix, 'storage', logger),
  };
}

export async function disposeStorageContext(ctx: StorageContext): Promise<void> {
  await ctx.blobs.close();
}
