/**
 * What the loads send and how they recognise what arrives: a 1 KiB JSON
 * document sent inline in a transfer (its NEW_DELIVERY notice carries it) or
 * as the body of an app message (SendNotice), and, per subscribed app, the
 * notices that arrived and the senders waiting for them. A notice is matched
 * by its transfer id (NEW_DELIVERY) or its topic (APP_MESSAGE).
 */
import { createHash } from 'node:crypto';
import { Priority } from '#gen/lgsp/common/v1/common_pb.js';
import {
  NotificationService,
  type SubscribeResponse,
} from '#gen/lgsp/notification/v1/notification_service_pb.js';
import type { Notice } from '#gen/lgsp/notification/v1/resources_pb.js';
import { DeliveryState, TransferProtocol, TransferState } from '#gen/lgsp/transfer/v1/resources_pb.js';
import { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import type { NoticeClient } from './app-client.js';
import { CONTENT_TYPE } from './provision.js';

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** A JSON document of exactly `bytes` bytes (at least 64), the same every time. */
export function documentOf(bytes: number): Buffer {
  const head = '{"soKyHieu":"01/TB-BENCH","trichYeu":"Thông báo thử tải","noiDung":"';
  const tail = '"}';
  const used = Buffer.byteLength(head) + Buffer.byteLength(tail);
  return Buffer.from(`${head}${'x'.repeat(Math.max(0, bytes - used))}${tail}`);
}

export const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();

/** The key a sender waits on: the transfer of a NEW_DELIVERY, the topic of an APP_MESSAGE. */
export function keyOf(notice: Notice): string | undefined {
  switch (notice.payload.case) {
    case 'newDelivery':
      return notice.payload.value.delivery?.transferId;
    case 'appMessage':
      return notice.payload.value.topic;
    default:
      return undefined;
  }
}

export interface Arrival {
  readonly at: number;
  readonly notice: Notice;
}

/** The notices one subscribed app received, and the waits for them. */
export class Arrivals {
  readonly #arrived = new Map<string, Arrival>();
  readonly #waiting = new Map<string, (arrival: Arrival) => void>();
  /** Messages of any kind received (heartbeats included). */
  messages = 0;
  /** Highest notice sequence received. */
  lastSequence = 0n;
  #first: (() => void) | undefined;
  readonly first = new Promise<void>((resolve) => {
    this.#first = resolve;
  });

  /** For NoticeClient.subscribe. */
  readonly onMessage = (message: SubscribeResponse, at: number): void => {
    this.messages++;
    this.#first?.();
    if (message.event.case !== 'notice') return;
    const notice = message.event.value;
    if (notice.sequence > this.lastSequence) this.lastSequence = notice.sequence;
    const key = keyOf(notice);
    if (key === undefined) return;
    const waiter = this.#waiting.get(key);
    if (waiter === undefined) this.#arrived.set(key, { at, notice });
    else {
      this.#waiting.delete(key);
      waiter({ at, notice });
    }
  };

  /** The notice of `key`: at once if it came already, else when it comes; fails after `timeoutMs`. */
  wait(key: string, timeoutMs: number): Promise<Arrival> {
    const arrived = this.#arrived.get(key);
    if (arrived !== undefined) {
      this.#arrived.delete(key);
      return Promise.resolve(arrived);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(new Error(`no notice for ${key} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(key, (arrival) => {
        clearTimeout(timer);
        resolve(arrival);
      });
    });
  }
}

/** CreateTransfer of the document, inline, to these apps; answers the transfer id once it is DELIVERING. */
export async function sendTransfer(
  source: NoticeClient,
  recipientAppIds: readonly string[],
  document: Buffer,
  digest: Buffer,
): Promise<string> {
  const { transfer } = await source.unary(TransferService.method.createTransfer, {
    recipients: recipientAppIds.map((id) => ({ party: { case: 'appId' as const, value: id } })),
    subject: 'Bench: thông báo có văn bản đến',
    priority: Priority.NORMAL,
    contentType: CONTENT_TYPE,
    protocol: TransferProtocol.PLAIN_DATA,
    sizeBytes: BigInt(document.length),
    sha256: digest,
    inlineContent: document,
  });
  check(transfer !== undefined, 'CreateTransfer answered no transfer');
  check(
    transfer.state === TransferState.DELIVERING,
    `inline CreateTransfer: ${TransferState[transfer.state]}`,
  );
  return transfer.id;
}

/** SendNotice of the document to one app, under a topic of its own. */
export async function sendMessage(
  source: NoticeClient,
  recipientAppId: string,
  topic: string,
  document: Buffer,
): Promise<void> {
  const { noticeIds } = await source.unary(NotificationService.method.sendNotice, {
    recipient: { party: { case: 'appId', value: recipientAppId } },
    topic,
    contentType: CONTENT_TYPE,
    body: document,
  });
  check(noticeIds.length === 1, `SendNotice made ${noticeIds.length} notices`);
}

/**
 * What the destination does with a NEW_DELIVERY notice whose content came
 * inline: checks size and SHA-256 against the delivery's and confirms it.
 * (An unconfirmed delivery would be offered again 30 s later, and its new
 * notice would land in a later measurement.)
 */
export async function confirmFromNotice(destination: NoticeClient, notice: Notice): Promise<void> {
  check(notice.payload.case === 'newDelivery', `a ${notice.payload.case ?? 'empty'} notice`);
  const { delivery, inlineContent } = notice.payload.value;
  check(delivery !== undefined, 'NEW_DELIVERY without its delivery');
  check(BigInt(inlineContent.length) === delivery.sizeBytes, 'NEW_DELIVERY without its content inline');
  const digest = sha256(inlineContent);
  check(digest.equals(delivery.sha256), 'the inline content does not match its SHA-256');
  const confirmed = await destination.unary(TransferService.method.confirmDelivery, {
    deliveryId: delivery.id,
    sha256: digest,
    sizeBytes: delivery.sizeBytes,
  });
  check(
    confirmed.delivery?.state === DeliveryState.DELIVERED,
    `ConfirmDelivery: ${DeliveryState[confirmed.delivery?.state ?? 0]}`,
  );
}

/** AckNotices up to the last sequence the app received: what a client does once it handled them. */
export async function ackAll(client: NoticeClient, arrivals: Arrivals): Promise<void> {
  if (arrivals.lastSequence === 0n) return;
  await client.unary(NotificationService.method.ackNotices, { upToSequence: arrivals.lastSequence });
}
