/**
 * End-to-end transfers in a closed loop, run in a worker thread of its own
 * (worker.ts) so that the clients do not compete with the servers for the
 * main thread. `concurrency` senders each send a transfer to the next
 * recipient app in turn and wait until its receiver confirmed it, then send
 * the next; the latency of a transfer runs from the start of CreateTransfer
 * to the answer of ConfirmDelivery. One receiver per recipient app polls and
 * receives (flow.ts).
 */
import { createHash } from 'node:crypto';
import { serveWorker, type WorkerPort } from '../worker-side.js';
import { closedLoop } from './closed-loop.js';
import { contentPieces } from './content.js';
import { type Received, Receiver, Rendezvous, type SendStamps, sendTransfer } from './flow.js';
import { AppClient, type CallCounts } from './rpc.js';
import { type E2eResult, type E2eSpec, STAGES, type Stage } from './spec.js';

/** A transfer not confirmed within this time counts as failed. */
const TRANSFER_TIMEOUT_MS = 60_000;

/** The stage durations of one transfer, from the sender's and the receiver's times. */
function stagesOf(started: number, sent: SendStamps, received: Received): Record<Stage, number> {
  const created = sent.created ?? started;
  const uploaded = sent.uploaded ?? created;
  const committed = sent.committed ?? uploaded;
  // A receiver may see the delivery before the sender has read the answer that made it.
  const seen = Math.max(received.seen, committed);
  return {
    create: created - started,
    upload: uploaded - created,
    commit: committed - uploaded,
    'until seen': seen - committed,
    accept: received.accepted - seen,
    fetch: received.fetched - received.accepted,
    confirm: received.confirmed - received.fetched,
  };
}

export async function runE2e(spec: E2eSpec, port: WorkerPort): Promise<E2eResult> {
  const counts: CallCounts = new Map();
  const { gateway, cast } = spec;
  const source = new AppClient({ address: gateway, app: cast.source, counts });
  const rendezvous = new Rendezvous();
  // A failed poll also fails the transfers it would have found (they time out); it is sampled here.
  const pollErrors = new Set<string>();
  const recipientClients = cast.recipients.map((app) => new AppClient({ address: gateway, app, counts }));
  const receivers = recipientClients.map((client) => {
    const receiver = new Receiver(client, rendezvous, spec.pollMs);
    receiver.start((error) => {
      if (pollErrors.size < 3)
        pollErrors.add(`poll: ${error instanceof Error ? error.message : String(error)}`);
    });
    return receiver;
  });

  // The same bytes for every transfer, made once; the sender still hashes them per transfer, as a real client does.
  const pieces = [...contentPieces(spec.payloadBytes, 1)];
  const stages = Object.fromEntries(STAGES.map((s) => [s, new Float64Array(spec.maxOps)])) as Record<
    Stage,
    Float64Array
  >;
  let turn = 0;
  let pollsBefore = { total: 0, empty: 0 };

  const transfer = async (): Promise<Record<Stage, number>> => {
    const recipient = cast.recipients[turn++ % cast.recipients.length]!;
    const started = performance.now();
    const stamps: SendStamps = {};
    const hash = createHash('sha256');
    for (const piece of pieces) hash.update(piece);
    const transferId = await sendTransfer(
      source,
      recipient.appId,
      () => pieces,
      spec.payloadBytes,
      hash.digest(),
      spec.inline,
      stamps,
    );
    const received = await rendezvous.wait(transferId, TRANSFER_TIMEOUT_MS);
    return stagesOf(started, stamps, received);
  };

  try {
    if (spec.pollsOnly === true) return await pollsOnly(spec, port, receivers, counts);
    const loop = await closedLoop(
      spec,
      port,
      transfer,
      (split, index) => {
        for (const stage of STAGES) stages[stage][index] = split[stage];
      },
      () => {
        counts.clear();
        pollsBefore = pollCounts(receivers);
      },
    );
    const pollsAfter = pollCounts(receivers);
    return {
      ...loop,
      errorSamples: [...loop.errorSamples, ...pollErrors].slice(0, 6),
      stagesMs: Object.fromEntries(STAGES.map((s) => [s, stages[s].slice(0, loop.requests)])) as Record<
        Stage,
        Float64Array
      >,
      calls: Object.fromEntries(counts),
      polls: { total: pollsAfter.total - pollsBefore.total, empty: pollsAfter.empty - pollsBefore.empty },
    };
  } finally {
    await Promise.all(receivers.map((r) => r.stop()));
    for (const client of [source, ...recipientClients]) client.close();
  }
}

/** Only the receivers run: after the warm-up, what they poll during the measured window. */
async function pollsOnly(
  spec: E2eSpec,
  port: WorkerPort,
  receivers: readonly Receiver[],
  counts: CallCounts,
): Promise<E2eResult> {
  await sleep(spec.warmupMs);
  counts.clear();
  const before = pollCounts(receivers);
  port.measuring();
  const busyBefore = performance.eventLoopUtilization();
  const started = performance.now();
  await sleep(spec.durationMs);
  const after = pollCounts(receivers);
  return {
    requests: 0,
    errors: 0,
    warmupErrors: 0,
    errorSamples: [],
    elapsedMs: performance.now() - started,
    clientBusy: performance.eventLoopUtilization(busyBefore).utilization,
    latenciesMs: new Float64Array(0),
    stagesMs: Object.fromEntries(STAGES.map((s) => [s, new Float64Array(0)])) as Record<Stage, Float64Array>,
    calls: Object.fromEntries(counts),
    polls: { total: after.total - before.total, empty: after.empty - before.empty },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pollCounts(receivers: readonly Receiver[]): { total: number; empty: number } {
  let total = 0;
  let empty = 0;
  for (const r of receivers) {
    total += r.polls;
    empty += r.emptyPolls;
  }
  return { total, empty };
}

serveWorker(runE2e, (result) => [
  result.latenciesMs.buffer as ArrayBuffer,
  ...Object.values(result.stagesMs).map((a) => a.buffer as ArrayBuffer),
]);
