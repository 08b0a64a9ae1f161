/**
 * One app's client of the notification and transfer services through the
 * gateway, over grpc-js with protobuf-es (de)serialisation, as an agency's
 * system would hold it: its own HTTP/2 connection (not shared with the other
 * apps of the load), every call signed with the app's HMAC credential, the
 * Subscribe stream included (its signature covers the framed request, as
 * for a unary call: docs/notifications.md).
 */
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  NotificationService,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from '#gen/lgsp/notification/v1/notification_service_pb.js';
import { grpcFrame, signRequest } from '#lib/auth/signing.js';
import { type Signer, signerOf } from '../client.js';
import type { AppSpec } from './spec.js';

const UNARY_DEADLINE_MS = 30_000;

/** An open Subscribe stream. */
export interface NoticeStream {
  /** Resolves when the stream ended: undefined when it ended cleanly or was cancelled here. */
  readonly ended: Promise<Error | undefined>;
  cancel(): void;
}

export class NoticeClient {
  readonly #client: grpc.Client;
  readonly #signer: Signer;
  readonly app: AppSpec;

  constructor(address: string, app: AppSpec) {
    this.app = app;
    this.#signer = signerOf(app.signer);
    this.#client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      // A connection of its own, as each agency's system has: grpc-js would otherwise share one
      // connection between every client of the same address in this process.
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  get appId(): string {
    return this.app.appId;
  }

  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    init: MessageInitShape<I>,
  ): Promise<MessageShape<O>> {
    const path = `/${method.parent.typeName}/${method.name}`;
    const bytes = toBinary(method.input, create(method.input, init));
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        path,
        asIs,
        (answer: Buffer) => fromBinary(method.output, answer),
        bytes,
        this.#signed(path, bytes),
        { deadline: Date.now() + UNARY_DEADLINE_MS },
        (error, answer) => {
          if (error !== null) reject(error);
          else if (answer === undefined) reject(new Error(`${path}: no answer`));
          else resolve(answer);
        },
      );
    });
  }

  /**
   * NotificationService/Subscribe with no deadline (a stream lasts as long as
   * the app holds it); `onMessage` gets each message with the time it arrived.
   */
  subscribe(
    init: MessageInitShape<typeof NotificationService.method.subscribe.input>,
    onMessage: (message: SubscribeResponse, at: number) => void,
  ): NoticeStream {
    const method = NotificationService.method.subscribe;
    const path = `/${NotificationService.typeName}/${method.name}`;
    const bytes = toBinary(method.input, create(method.input, init));
    const call = this.#client.makeServerStreamRequest(
      path,
      asIs,
      (answer: Buffer) => fromBinary(SubscribeResponseSchema, answer),
      bytes,
      this.#signed(path, bytes),
      {},
    );
    let cancelled = false;
    const ended = new Promise<Error | undefined>((resolve) => {
      call.on('data', (message: SubscribeResponse) => onMessage(message, performance.now()));
      call.once('error', (error: grpc.ServiceError) =>
        resolve(cancelled && error.code === grpc.status.CANCELLED ? undefined : error),
      );
      call.once('end', () => resolve(undefined));
    });
    return {
      ended,
      cancel: () => {
        cancelled = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.#client.close();
  }

  #signed(path: string, bytes: Uint8Array): grpc.Metadata {
    const metadata = new grpc.Metadata();
    const headers = signRequest({ method: 'POST', url: path, body: grpcFrame(bytes), ...this.#signer });
    for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
    return metadata;
  }
}

/** grpc-js sends a Buffer as it is; a view of the encoded message avoids a copy. */
function asIs(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
