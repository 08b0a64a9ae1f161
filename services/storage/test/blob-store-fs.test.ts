/** The blob store contract on the local filesystem, in a temporary directory. */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFsBlobStore } from '../src/blobs/fs.js';
import { blobStoreContract } from './blob-store.contract.js';

blobStoreContract('fs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lgsp-blobs-'));
  return { store: createFsBlobStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('fs blob store', () => {
  it('removes the directory of a blob, with stale temporary files, once its last object is deleted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lgsp-blobs-'));
    try {
      const store = createFsBlobStore(dir);
      await store.put(
        'blb_1/000000.a',
        (async function* () {
          yield Buffer.from('x');
        })(),
      );
      const stale = join(dir, 'blb_1', '000001.b.tmp-dead');
      await writeFile(stale, 'half a part');
      const old = new Date(Date.now() - 3_600_000);
      await import('node:fs/promises').then((fs) => fs.utimes(stale, old, old));
      expect(await store.list('blb_1/')).toEqual(['blb_1/000000.a']);
      await store.delete('blb_1/000000.a');
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
