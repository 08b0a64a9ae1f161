/**
 * The large transfer, in a child process of its own (worker.ts, runInChild),
 * so that the servers' process holds the servers alone: its content (seed 2) is made on the
 * fly in 1 MiB pieces as the upload stream takes them, and hashed on the fly
 * as the download stream brings them, so the client never holds it whole.
 *
 * 1. through the gateway: CreateTransfer, Upload, CommitTransfer by the
 *    source; ListPendingDeliveries, AcceptDelivery, Download, ConfirmDelivery
 *    by the recipient — every call signed, as in the end-to-end scenarios;
 * 2. the same again, but with the bytes (Upload, Download) going straight to
 *    the storage service as a peer of the mesh would send them, the control
 *    calls still through the gateway: a reference that shows what the
 *    gateway hop costs the byte path.
 *
 * The orchestrator samples the process's memory meanwhile: the worker says
 * `ready` once its connections are open (the content's digest comes with the
 * spec, computed by prepare-load.ts), and each leg begins with a `phase` message.
 */
import { serveWorker, type WorkerPort } from '../worker-side.js';
import { contentPieces } from './content.js';
import { pendingDeliveryOf, receiveDelivery, type SendStamps, sendTransfer } from './flow.js';
import { MemorySampler } from './memory.js';
import { AppClient, type CallCounts } from './rpc.js';
import { LARGE_SEED, type LargeResult, type LargeSpec, type LegResult } from './spec.js';

const DELIVERY_TIMEOUT_MS = 60_000;
const POLL_MS = 20;

export async function runLarge(spec: LargeSpec, port: WorkerPort): Promise<LargeResult> {
  const counts: CallCounts = new Map();
  const recipientApp = spec.cast.recipients[0]!;
  const source = new AppClient({ address: spec.gateway, app: spec.cast.source, counts });
  const recipient = new AppClient({ address: spec.gateway, app: recipientApp, counts });
  const sourceDirect = new AppClient({ address: spec.storage, app: spec.cast.source, counts, direct: true });
  const recipientDirect = new AppClient({ address: spec.storage, app: recipientApp, counts, direct: true });
  try {
    // With --expose-gc (npm run bench), start from a collected heap: the memory sampled is the transfer's.
    (globalThis as { gc?: () => void }).gc?.();
    await port.ready();
    const memory = new MemorySampler(100);
    const clientRssRiseBytes: Record<string, number> = {};
    let current: string | undefined;
    const phase = (name: string) => {
      const ended = memory.nextPhase();
      if (current !== undefined) clientRssRiseBytes[current] = ended.rss;
      current = name;
      port.phase(name);
    };
    port.measuring();
    const legs: LegResult[] = [];
    let gatewayTransferMs = 0;
    for (const path of spec.paths) {
      const uploader = path === 'gateway' ? source : sourceDirect;
      const downloader = path === 'gateway' ? recipient : recipientDirect;
      phase(`${path} up`);
      const started = performance.now();
      const stamps: SendStamps = {};
      const transferId = await sendTransfer(
        source,
        recipient.appId,
        () => contentPieces(spec.bytes, LARGE_SEED),
        spec.bytes,
        spec.sha256,
        false,
        stamps,
        uploader,
      );
      legs.push({ leg: `${path} up`, bytes: spec.bytes, ms: stamps.uploaded! - stamps.created! });
      phase(`${path} down`);
      const { delivery, seen } = await pendingDeliveryOf(recipient, transferId, DELIVERY_TIMEOUT_MS, POLL_MS);
      const received = await receiveDelivery(recipient, delivery, seen, downloader);
      legs.push({ leg: `${path} down`, bytes: received.bytes, ms: received.fetched - received.accepted });
      if (path === 'gateway') gatewayTransferMs = received.confirmed - started;
    }
    phase('done');
    memory.stop();
    return { legs, gatewayTransferMs, clientRssRiseBytes, calls: Object.fromEntries(counts) };
  } finally {
    for (const client of [source, recipient, sourceDirect, recipientDirect]) client.close();
  }
}

serveWorker(runLarge);
