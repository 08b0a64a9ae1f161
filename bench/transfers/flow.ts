/**
 * The send flow (Art. 8) and the receive flow (Art. 9) as an agency's system
 * runs them through the gateway (docs/transfers.md), with every answer
 * checked. The source sends; each recipient app runs a receiver that polls
 * ListPendingDeliveries — what every client can do, whatever its protocol
 * (a receiver on the notification service's Subscribe stream is not written
 * yet) — and accepts, fetches, checks and confirms what it finds.
 *
 * A sender and the receiver of its delivery meet in `Rendezvous`: the
 * receiver may see a delivery before the sender has even read the
 * CreateTransfer answer, so whichever comes first creates the meeting point.
 */
import { createHash } from 'node:crypto';
import { Priority } from '#gen/lgsp/common/v1/common_pb.js';
import { BlobState } from '#gen/lgsp/storage/v1/resources_pb.js';
import {
  type Delivery,
  DeliveryState,
  TransferProtocol,
  TransferState,
} from '#gen/lgsp/transfer/v1/resources_pb.js';
import { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import { CONTENT_TYPE, sha256 } from './content.js';
import type { AppClient } from './rpc.js';

/** Streams of one transfer's content may take this long: 1 GiB at 10 MB/s with room to spare. */
export const STREAM_DEADLINE_MS = 10 * 60_000;
/** Content up to this size travels inline in the request and the accept answer (the service's default limit). */
export const INLINE_MAX_BYTES = 256 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** What the source learns while sending, as `performance.now()` times. */
export interface SendStamps {
  created?: number;
  uploaded?: number;
  committed?: number;
}

/**
 * CreateTransfer to one recipient app, inline or with an upload space; then
 * Upload (one stream, through `uploader`: the source itself unless the bytes
 * take another path) and CommitTransfer. Answers the transfer id once the
 * transfer is DELIVERING.
 */
export async function sendTransfer(
  source: AppClient,
  recipientAppId: string,
  pieces: () => Iterable<Uint8Array>,
  size: number,
  digest: Uint8Array,
  inline: boolean,
  stamps: SendStamps = {},
  uploader: AppClient = source,
): Promise<string> {
  const content = inline ? Buffer.concat([...pieces()]) : undefined;
  const created = await source.unary(TransferService.method.createTransfer, {
    recipients: [{ party: { case: 'appId', value: recipientAppId } }],
    subject: 'Bench: công văn liên thông',
    priority: Priority.NORMAL,
    contentType: CONTENT_TYPE,
    protocol: TransferProtocol.PLAIN_DATA,
    sizeBytes: BigInt(size),
    sha256: digest,
    ...(content === undefined ? {} : { inlineContent: content }),
  });
  stamps.created = performance.now();
  const transfer = created.transfer;
  check(transfer !== undefined, 'CreateTransfer answered no transfer');
  if (inline) {
    check(
      transfer.state === TransferState.DELIVERING,
      `inline CreateTransfer: ${TransferState[transfer.state]}`,
    );
    return transfer.id;
  }
  const space = created.uploadSpace;
  check(space !== undefined, 'CreateTransfer answered no upload space');
  const uploaded = await uploader.upload(
    { blobId: space.blobId, uploadToken: space.uploadToken },
    pieces(),
    STREAM_DEADLINE_MS,
  );
  stamps.uploaded = performance.now();
  check(
    uploaded.receivedBytes === BigInt(size),
    `Upload received ${uploaded.receivedBytes} of ${size} bytes`,
  );
  check(uploaded.blob?.state === BlobState.SEALED, 'Upload did not seal the blob');
  const committed = await source.unary(TransferService.method.commitTransfer, { transferId: transfer.id });
  stamps.committed = performance.now();
  check(
    committed.transfer?.state === TransferState.DELIVERING,
    `CommitTransfer: ${TransferState[committed.transfer?.state ?? 0]}`,
  );
  return transfer.id;
}

/** What a receiver did with one delivery, as `performance.now()` times. */
export interface Received {
  readonly seen: number;
  readonly accepted: number;
  readonly fetched: number;
  readonly confirmed: number;
  readonly bytes: number;
}

/**
 * AcceptDelivery (inline content preferred when small), the content from the
 * answer or through a Download stream (through `downloader`: the recipient
 * itself unless the bytes take another path), its SHA-256 checked against
 * the delivery's, then ConfirmDelivery with the digest computed here.
 */
export async function receiveDelivery(
  recipient: AppClient,
  delivery: Delivery,
  seen: number,
  downloader: AppClient = recipient,
): Promise<Received> {
  const answer = await recipient.unary(TransferService.method.acceptDelivery, {
    deliveryId: delivery.id,
    preferInline: true,
  });
  const accepted = performance.now();
  check(
    answer.delivery?.state === DeliveryState.ACCEPTED,
    `AcceptDelivery: ${DeliveryState[answer.delivery?.state ?? 0]}`,
  );
  let digest: Buffer;
  let bytes: number;
  if (answer.content.case === 'inlineContent') {
    digest = sha256(answer.content.value);
    bytes = answer.content.value.length;
  } else {
    check(answer.content.case === 'downloadSpace', 'AcceptDelivery answered neither content nor a space');
    const space = answer.content.value;
    const hash = createHash('sha256');
    const got = await downloader.download(
      { blobId: space.blobId, downloadToken: space.downloadToken },
      (chunk) => hash.update(chunk),
      STREAM_DEADLINE_MS,
    );
    digest = hash.digest();
    bytes = got.bytes;
  }
  const fetched = performance.now();
  check(BigInt(bytes) === delivery.sizeBytes, `received ${bytes} bytes of ${delivery.sizeBytes}`);
  check(digest.equals(delivery.sha256), 'the content received does not match its SHA-256');
  const confirmed = await recipient.unary(TransferService.method.confirmDelivery, {
    deliveryId: delivery.id,
    sha256: digest,
    sizeBytes: BigInt(bytes),
  });
  check(
    confirmed.delivery?.state === DeliveryState.DELIVERED,
    `ConfirmDelivery: ${DeliveryState[confirmed.delivery?.state ?? 0]}`,
  );
  return { seen, accepted, fetched, confirmed: performance.now(), bytes };
}

/** Polls the recipient's pending deliveries until the one of `transferId` shows up; answers it and when it was seen. */
export async function pendingDeliveryOf(
  recipient: AppClient,
  transferId: string,
  timeoutMs: number,
  pollMs: number,
): Promise<{ delivery: Delivery; seen: number }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { deliveries } = await recipient.unary(TransferService.method.listPendingDeliveries, {
      pageSize: 200,
    });
    const delivery = deliveries.find((d) => d.transferId === transferId);
    if (delivery !== undefined) return { delivery, seen: performance.now() };
    check(performance.now() < deadline, `no delivery of ${transferId} within ${timeoutMs} ms`);
    await sleep(pollMs);
  }
}

/** Where a sender waits for the receiver of its transfer, keyed by transfer id. */
interface Slot {
  readonly promise: Promise<Received>;
  resolve(received: Received): void;
  reject(error: unknown): void;
}

function newSlot(): Slot {
  let resolve!: (received: Received) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<Received>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

export class Rendezvous {
  readonly #waiting = new Map<string, Slot>();

  #slot(transferId: string): Slot {
    let slot = this.#waiting.get(transferId);
    if (slot === undefined) {
      slot = newSlot();
      // A transfer whose sender gave up must not leave an unhandled rejection behind.
      slot.promise.catch(() => {});
      this.#waiting.set(transferId, slot);
    }
    return slot;
  }

  /** Resolves once the receiver confirmed the transfer's delivery, or rejects with its failure. */
  async wait(transferId: string, timeoutMs: number): Promise<Received> {
    const slot = this.#slot(transferId);
    const timer = setTimeout(
      () => slot.reject(new Error(`no receiver confirmed ${transferId} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      return await slot.promise;
    } finally {
      clearTimeout(timer);
      this.#waiting.delete(transferId);
    }
  }

  settle(transferId: string, outcome: { received: Received } | { error: unknown }): void {
    const slot = this.#slot(transferId);
    if ('received' in outcome) slot.resolve(outcome.received);
    else slot.reject(outcome.error);
  }
}

/**
 * One recipient app's receiving loop: poll, take every delivery not yet in
 * hand, and poll again at once if something new came, else after `pollMs`.
 * Each delivery is received concurrently with the others.
 */
export class Receiver {
  /** Every poll made, and how many found nothing new. */
  polls = 0;
  emptyPolls = 0;
  readonly #client: AppClient;
  readonly #rendezvous: Rendezvous;
  readonly #pollMs: number;
  /** Deliveries taken; kept so that a poll answered just before a confirmation cannot take one twice. */
  readonly #taken = new Set<string>();
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(client: AppClient, rendezvous: Rendezvous, pollMs: number) {
    this.#client = client;
    this.#rendezvous = rendezvous;
    this.#pollMs = pollMs;
  }

  start(onError: (error: unknown) => void): void {
    this.#loop = this.#run(onError);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  async #run(onError: (error: unknown) => void): Promise<void> {
    while (!this.#stopped) {
      let fresh = 0;
      try {
        const { deliveries } = await this.#client.unary(TransferService.method.listPendingDeliveries, {
          pageSize: 200,
        });
        const seen = performance.now();
        this.polls++;
        for (const delivery of deliveries) {
          if (this.#taken.has(delivery.id)) continue;
          this.#taken.add(delivery.id);
          fresh++;
          receiveDelivery(this.#client, delivery, seen).then(
            (received) => this.#rendezvous.settle(delivery.transferId, { received }),
            (error: unknown) => this.#rendezvous.settle(delivery.transferId, { error }),
          );
        }
      } catch (error) {
        if (!this.#stopped) onError(error);
      }
      if (fresh === 0) {
        this.emptyPolls++;
        await sleep(this.#pollMs);
      }
    }
  }
}
