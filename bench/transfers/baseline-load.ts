/**
 * The baselines of the end-to-end scenarios, in a worker thread like them and
 * with the same closed loop, concurrency and bytes (the content of seed 1):
 *
 * - `bus`: publish the payload durably and consume it (bus-carrier.ts); an
 *   operation ends when the consumer got the message and the publish was acked.
 * - `fs`: write the payload to a new file, fsync, close, read it back whole,
 *   and delete it, on the filesystem that holds the mesh's blobs.
 *
 * What is left out on purpose: everything LGSP does on top (RPCs, signing,
 * the database, encryption, digests), which is what the ratios measure.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { serveWorker, type WorkerPort } from '../worker-side.js';
import { openCarrier } from './bus-carrier.js';
import { closedLoop } from './closed-loop.js';
import { contentBytes } from './content.js';
import { check } from './flow.js';
import type { LoopResult, SmallBaselineSpec } from './spec.js';

/** A message neither consumed nor acked within this time counts as failed. */
const OP_TIMEOUT_MS = 30_000;

type Operation = (id: number) => Promise<void>;

async function busOperation(
  spec: SmallBaselineSpec,
  payload: Uint8Array,
): Promise<{ op: Operation; close(): Promise<void> }> {
  const waiting = new Map<number, (bytes: number) => void>();
  const carrier = await openCarrier(spec.natsUrl, spec.busPrefix, spec.concurrency, (id, bytes) =>
    waiting.get(id)?.(bytes),
  );
  const op: Operation = async (id) => {
    let timer: NodeJS.Timeout | undefined;
    const consumed = new Promise<number>((resolve, reject) => {
      waiting.set(id, resolve);
      timer = setTimeout(
        () => reject(new Error(`message ${id} not consumed within ${OP_TIMEOUT_MS} ms`)),
        OP_TIMEOUT_MS,
      );
    });
    try {
      const [, bytes] = await Promise.all([carrier.publish(id, payload), consumed]);
      check(bytes === payload.length, `consumed ${bytes} bytes of ${payload.length}`);
    } finally {
      clearTimeout(timer);
      waiting.delete(id);
    }
  };
  return { op, close: () => carrier.close() };
}

function fsOperation(spec: SmallBaselineSpec, payload: Buffer): { op: Operation; close(): Promise<void> } {
  mkdirSync(spec.dir, { recursive: true });
  const op: Operation = async (id) => {
    const file = join(spec.dir, `op-${id}`);
    const handle = await open(file, 'w');
    try {
      await handle.writeFile(payload);
      await handle.sync();
    } finally {
      await handle.close();
    }
    const back = await readFile(file);
    check(back.length === payload.length, `read ${back.length} bytes of ${payload.length}`);
    await unlink(file);
  };
  return { op, close: async () => rmSync(spec.dir, { recursive: true, force: true }) };
}

export async function runBaseline(spec: SmallBaselineSpec, port: WorkerPort): Promise<LoopResult> {
  const bytes = contentBytes(spec.payloadBytes, 1);
  const { op, close } =
    spec.kind === 'bus'
      ? // A plain Uint8Array, as the mesh publishes (protobuf-es output): the in-process bus copies it on
        // delivery as it does theirs, where a Buffer's slice() would hand over a view for free.
        await busOperation(spec, new Uint8Array(bytes))
      : fsOperation(spec, bytes);
  let nextId = 0;
  try {
    return await closedLoop(spec, port, () => op(nextId++));
  } finally {
    await close();
  }
}

serveWorker(runBaseline, (result) => [result.latenciesMs.buffer as ArrayBuffer]);
