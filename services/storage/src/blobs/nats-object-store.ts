/**
 * Blob adapter on the NATS JetStream Object Store, for clusters whose
 * replicas share no disk: the bucket `<busPrefix>_BLOBS` (stream
 * `OBJ_<busPrefix>_BLOBS`), replicated as configured. It opens a connection
 * of its own so that a large transfer never queues behind the bus's events.
 *
 * The object store writes an object as chunk messages and publishes its
 * metadata last; readers see an object only once the metadata is there, and a
 * failed write purges its chunks, so a write is all or nothing. Each chunk is
 * acknowledged by JetStream (stored, and replicated when R>1) before the next
 * one is sent, which is also the backpressure on `source`.
 */
import { StorageType } from '@nats-io/jetstream';
import { type ObjectStore, Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { assertKey, BlobObjectNotFoundError, type BlobStore } from './port.js';

/** Chunk messages of 128 KiB: well under the default 1 MiB max_payload, few enough round trips. */
const CHUNK_BYTES = 128 * 1024;
/**
 * A read that gets no data for this long fails instead of waiting for ever.
 * Seen in a three-node cluster after a node restarted: the consumer that
 * reads an object may land on the node still catching up, and stalls there;
 * the next try (a new consumer) reads it.
 */
const READ_STALL_MS = 10_000;

class BlobReadStalledError extends Error {
  override name = 'BlobReadStalledError';
}

/** `promise`, or a BlobReadStalledError after READ_STALL_MS. */
async function withinStall<T>(promise: Promise<T>, key: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new BlobReadStalledError(`reading ${key} got no data from NATS within ${READ_STALL_MS} ms`)),
      READ_STALL_MS,
    );
  });
  try {
    return await Promise.race([promise, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

export interface NatsBlobStoreOptions {
  readonly servers: string;
  /** Bucket name, e.g. `LGSP_BLOBS`. */
  readonly bucket: string;
  /** Copies JetStream keeps of each chunk (1, or 3 in a 3-node cluster). */
  readonly replicas?: number;
  /** Connection name, seen in the server's monitoring. */
  readonly name?: string;
}

export async function openNatsBlobStore(options: NatsBlobStoreOptions): Promise<BlobStore> {
  const nc = await connect({
    // `nats://a:4222,nats://b:4222`: every server of a cluster, any of which may be down at start.
    servers: options.servers.split(',').map((server) => server.trim()),
    name: options.name ?? 'lgsp-storage-blobs',
    // A node restarting or a broker outage must not close the store for good: keep reconnecting.
    maxReconnectAttempts: -1,
  });
  try {
    const store = await new Objm(nc).create(options.bucket, {
      storage: StorageType.File,
      replicas: options.replicas ?? 1,
      description: 'LGSP transfer content, encrypted at rest by the storage service',
    });
    return natsBlobStore(nc, store);
  } catch (error) {
    await nc.close();
    throw error;
  }
}

function natsBlobStore(nc: NatsConnection, store: ObjectStore): BlobStore {
  return {
    backend: 'nats',

    async put(key, source) {
      assertKey(key);
      let written = 0;
      const iterator = source[Symbol.asyncIterator]();
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = await iterator.next();
          if (next.done === true) controller.close();
          else {
            written += next.value.length;
            controller.enqueue(next.value);
          }
        },
        async cancel(reason) {
          await iterator.return?.(reason);
        },
      });
      await store.put({ name: key, options: { max_chunk_size: CHUNK_BYTES } }, stream);
      return written;
    },

    async *read(key, start = 0) {
      assertKey(key);
      const result = await withinStall(store.get(key), key);
      if (result === null) throw new BlobObjectNotFoundError(key);
      const reader = result.data.getReader();
      let skip = start;
      try {
        for (;;) {
          const { done, value } = await withinStall(reader.read(), key);
          if (done) break;
          if (skip >= value.length) {
            skip -= value.length;
            continue;
          }
          yield skip > 0 ? value.subarray(skip) : value;
          skip = 0;
        }
        const failure = await result.error;
        if (failure !== null && failure !== undefined) throw failure;
      } finally {
        await withinStall(reader.cancel(), key).catch(() => {});
        reader.releaseLock();
      }
    },

    async size(key) {
      assertKey(key);
      const info = await store.info(key);
      return info === null || info.deleted ? undefined : info.size;
    },

    async delete(key) {
      assertKey(key);
      const info = await store.info(key);
      if (info === null || info.deleted) return false;
      await store.delete(key);
      return true;
    },

    async list(prefix) {
      const infos = await store.list();
      return infos
        .filter((info) => !info.deleted && info.name.startsWith(prefix))
        .map((info) => info.name)
        .sort();
    },

    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}

/** Removes the bucket and everything in it (tests and decommissioning only). */
export async function destroyNatsBucket(servers: string, bucket: string): Promise<void> {
  const nc = await connect({ servers, name: 'lgsp-storage-blobs-admin' });
  try {
    const store = await new Objm(nc).open(bucket).catch(() => undefined);
    await store?.destroy();
  } finally {
    await nc.close();
  }
}
