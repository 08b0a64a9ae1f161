/** Opens the blob adapter the configuration names. */
import type { StorageConfig } from '../config.js';
import { createFsBlobStore } from './fs.js';
import { openNatsBlobStore } from './nats-object-store.js';
import type { BlobStore } from './port.js';

/** The bucket of the `nats` backend: one per deployment prefix. */
export function blobBucketName(busPrefix: string): string {
  return `${busPrefix}_BLOBS`;
}

export async function openBlobStore(config: StorageConfig): Promise<BlobStore> {
  if (config.blobBackend === 'fs') return createFsBlobStore(config.storageDir);
  if (config.natsUrl === undefined) throw new Error('LGSP_BLOB_BACKEND=nats needs NATS_URL');
  return openNatsBlobStore({
    servers: config.natsUrl,
    bucket: blobBucketName(config.busPrefix),
    replicas: config.natsBlobReplicas,
    name: `lgsp-storage-blobs`,
  });
}
