/**
 * The contract both blob adapters pass, so that the storage service cannot
 * tell them apart: write, read (whole and from an offset), size, delete,
 * list, missing objects, overwrite, all-or-nothing writes and large objects
 * streamed through.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobObjectNotFoundError, type BlobStore } from '../src/blobs/port.js';

export interface BlobStoreFixture {
  readonly store: BlobStore;
  /** Removes everything the suite stored (the directory, the bucket). */
  cleanup(): Promise<void>;
}

async function* chunksOf(data: Uint8Array, size = 100_000): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

async function readAll(store: BlobStore, key: string, start?: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of store.read(key, start)) parts.push(chunk);
  return Buffer.concat(parts);
}

/** `total` pseudo-random bytes, made on the fly in 1 MiB pieces, hashed as they go. */
function generated(total: number): { source: AsyncGenerator<Uint8Array>; digest: () => string } {
  const hash = createHash('sha256');
  const piece = randomBytes(1024 * 1024);
  async function* source(): AsyncGenerator<Uint8Array> {
    for (let at = 0, n = 0; at < total; at += piece.length, n++) {
      const chunk = Buffer.from(piece.subarray(0, Math.min(piece.length, total - at)));
      chunk.writeUInt32BE(n, 0);
      hash.update(chunk);
      yield chunk;
    }
  }
  return { source: source(), digest: () => hash.digest('hex') };
}

export function blobStoreContract(name: string, open: () => Promise<BlobStoreFixture>): void {
  describe(`blob store contract: ${name}`, () => {
    let fixture: BlobStoreFixture;
    let store: BlobStore;
    let n = 0;
    const key = (suffix = '') => `blb_${name}${++n}/000000.${randomBytes(4).toString('hex')}${suffix}`;

    beforeAll(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterAll(async () => {
      await store?.close();
      await fixture?.cleanup();
    });

    it('writes an object and reads every byte back, whole and from an offset', async () => {
      const k = key();
      const data = randomBytes(300_001);
      await expect(store.put(k, chunksOf(data))).resolves.toBe(data.length);
      expect(await store.size(k)).toBe(data.length);
      expect((await readAll(store, k)).equals(data)).toBe(true);
      expect((await readAll(store, k, 123_457)).equals(data.subarray(123_457))).toBe(true);
      expect(await readAll(store, k, data.length)).toHaveLength(0);
    });

    it('stores an empty object', async () => {
      const k = key();
      await expect(store.put(k, chunksOf(new Uint8Array(0)))).resolves.toBe(0);
      expect(await store.size(k)).toBe(0);
      expect(await readAll(store, k)).toHaveLength(0);
    });

    it('reports a missing object: read throws, size is undefined, delete says false', async () => {
      const k = key();
      await expect(readAll(store, k)).rejects.toBeInstanceOf(BlobObjectNotFoundError);
      expect(await store.size(k)).toBeUndefined();
      expect(await store.delete(k)).toBe(false);
    });

    it('replaces an object written again under the same key', async () => {
      const k = key();
      await store.put(k, chunksOf(randomBytes(50_000)));
      const second = randomBytes(20_000);
      await store.put(k, chunksOf(second));
      expect((await readAll(store, k)).equals(second)).toBe(true);
      expect(await store.size(k)).toBe(second.length);
      expect(await store.list(k)).toEqual([k]);
    });

    it('deletes an object, once', async () => {
      const k = key();
      await store.put(k, chunksOf(randomBytes(10)));
      expect(await store.delete(k)).toBe(true);
      expect(await store.delete(k)).toBe(false);
      expect(await store.size(k)).toBeUndefined();
      await expect(readAll(store, k)).rejects.toBeInstanceOf(BlobObjectNotFoundError);
      expect(await store.list(k)).toEqual([]);
    });

    it('lists the objects under a prefix, sorted, and nothing of other prefixes', async () => {
      const prefix = `blb_list${name}${randomBytes(4).toString('hex')}/`;
      const keys = [`${prefix}000002.b`, `${prefix}000000.a`, `${prefix}000001.c`];
      for (const k of keys) await store.put(k, chunksOf(randomBytes(5)));
      await store.put(`${prefix.slice(0, -1)}x/000000.z`, chunksOf(randomBytes(5)));
      expect(await store.list(prefix)).toEqual([...keys].sort());
      // A prefix that ends inside a name reaches the siblings that share it.
      expect(await store.list(prefix.slice(0, -1))).toEqual(
        [...keys, `${prefix.slice(0, -1)}x/000000.z`].sort(),
      );
      expect(await store.list(`${prefix}000001`)).toEqual([`${prefix}000001.c`]);
      for (const k of keys) await store.delete(k);
      expect(await store.list(prefix)).toEqual([]);
    });

    it('keeps nothing of a write whose source fails, and keeps the object it was replacing', async () => {
      const fresh = key();
      const failing = async function* () {
        yield randomBytes(200_000);
        throw new Error('client went away');
      };
      await expect(store.put(fresh, failing())).rejects.toThrow('client went away');
      expect(await store.size(fresh)).toBeUndefined();
      expect(await store.list(fresh)).toEqual([]);

      const kept = key();
      const original = randomBytes(1000);
      await store.put(kept, chunksOf(original));
      await expect(store.put(kept, failing())).rejects.toThrow('client went away');
      expect((await readAll(store, kept)).equals(original)).toBe(true);
    });

    it('refuses keys that could name something outside the store', async () => {
      for (const bad of ['', '../etc/passwd', '/abs', 'a//b', 'a/../b', '.hidden', 'a b']) {
        await expect(store.put(bad, chunksOf(randomBytes(1)))).rejects.toThrow(/not a valid blob object key/);
      }
    });

    it('streams a large object in and out without holding it whole', async () => {
      const k = key();
      const total = 24 * 1024 * 1024 + 17;
      const input = generated(total);
      await expect(store.put(k, input.source)).resolves.toBe(total);
      expect(await store.size(k)).toBe(total);
      const hash = createHash('sha256');
      let read = 0;
      let largest = 0;
      for await (const chunk of store.read(k)) {
        hash.update(chunk);
        read += chunk.length;
        largest = Math.max(largest, chunk.length);
      }
      expect(read).toBe(total);
      expect(hash.digest('hex')).toBe(input.digest());
      expect(largest).toBeLessThanOrEqual(1024 * 1024);
      await store.delete(k);
    }, 120_000);
  });
}
