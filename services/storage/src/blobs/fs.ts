/**
 * Blob adapter on the local filesystem (single node). An object is a file
 * under the root directory, at its key. A write goes to a temporary file next
 * to the target, is fsynced, renamed over the target and the directory is
 * fsynced: a reader sees the old object or the whole new one, never half of
 * one, and a crash leaves at most a temporary file that `list` ignores and the
 * next `delete` of a sibling or prefix sweep removes.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { assertKey, BlobObjectNotFoundError, type BlobStore } from './port.js';

const TEMP_MARK = '.tmp-';
const READ_BUFFER_BYTES = 256 * 1024;

export function createFsBlobStore(directory: string): BlobStore {
  const root = resolve(directory);
  const pathOf = (key: string): string => {
    assertKey(key);
    return join(root, ...key.split('/'));
  };

  return {
    backend: 'fs',

    async put(key, source) {
      const target = pathOf(key);
      const temp = `${target}${TEMP_MARK}${randomBytes(6).toString('hex')}`;
      const file = await createTemp(temp);
      let written = 0;
      try {
        for await (const chunk of source) {
          // Awaiting each write is the backpressure: the next chunk is pulled once this one is in the page cache.
          let done = 0;
          while (done < chunk.length) {
            const { bytesWritten } = await file.write(chunk, done, chunk.length - done);
            done += bytesWritten;
          }
          written += chunk.length;
        }
        await file.sync();
        await file.close();
        await rename(temp, target);
        await syncDirectory(dirname(target));
        return written;
      } catch (error) {
        await file.close().catch(() => {});
        await unlink(temp).catch(() => {});
        throw error;
      }
    },

    async *read(key, start = 0) {
      const path = pathOf(key);
      const stream = createReadStream(path, { start, highWaterMark: READ_BUFFER_BYTES });
      try {
        for await (const chunk of stream) yield chunk as Buffer;
      } catch (error) {
        if (isMissing(error)) throw new BlobObjectNotFoundError(key);
        throw error;
      } finally {
        stream.destroy();
      }
    },

    async size(key) {
      try {
        const info = await stat(pathOf(key));
        return info.isFile() ? info.size : undefined;
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },

    async delete(key) {
      const path = pathOf(key);
      let existed = true;
      try {
        await unlink(path);
      } catch (error) {
        if (!isMissing(error)) throw error;
        existed = false;
      }
      await removeLeftovers(dirname(path), root);
      return existed;
    },

    async list(prefix) {
      const keys: string[] = [];
      // Only the folder the prefix names wholly is walked: listing one blob's parts must not read every blob's.
      const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
      const start = folder === '' ? root : pathOf(folder.slice(0, -1));
      await walk(start, folder, (key) => {
        if (key.startsWith(prefix)) keys.push(key);
      });
      return keys.sort();
    },

    async close() {},
  };
}

/** Every committed object under `dir` (temporary files are not objects). */
async function walk(dir: string, keyPrefix: string, visit: (key: string) => void): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  for (const entry of entries) {
    const key = `${keyPrefix}${entry.name}`;
    if (entry.isDirectory()) await walk(join(dir, entry.name), `${key}/`, visit);
    else if (entry.isFile() && !entry.name.includes(TEMP_MARK)) visit(key);
  }
}

/**
 * Once a directory holds no committed object, nothing in it is worth keeping:
 * temporary files left by a crashed write are removed with it, so that a
 * purge leaves no byte behind. Parents up to the root go the same way.
 */
async function removeLeftovers(dir: string, root: string): Promise<void> {
  let current = dir;
  while (current.startsWith(root) && current !== root) {
    let entries: string[];
    try {
      entries = await readdir(current);
    } catch (error) {
      if (isMissing(error)) {
        current = dirname(current);
        continue;
      }
      throw error;
    }
    const objects = entries.filter((name) => !name.includes(TEMP_MARK));
    if (objects.length > 0) return;
    const stale = entries.filter((name) => name.includes(TEMP_MARK));
    // A temporary file younger than a minute may belong to a write in progress.
    const ages = await Promise.all(
      stale.map(async (name) => Date.now() - (await stat(join(current, name))).mtimeMs),
    );
    if (ages.some((age) => age < 60_000)) return;
    await rm(current, { recursive: true, force: true });
    current = dirname(current);
  }
}

/** Creates the temporary file, and its directory, which a concurrent delete may have just removed. */
async function createTemp(path: string): Promise<FileHandle> {
  for (let attempt = 1; ; attempt++) {
    await mkdir(dirname(path), { recursive: true });
    try {
      return await open(path, 'wx', 0o600);
    } catch (error) {
      if (!isMissing(error) || attempt >= 3) throw error;
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
