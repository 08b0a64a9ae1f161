/**
 * One app's client of the transfer and storage services over grpc-js, with
 * protobuf-es (de)serialisation, as an agency's system would call them:
 * unary calls and streamed downloads signed with the app's HMAC credential
 * (the signature covers the framed request), streamed uploads signed with
 * STREAMING-UNSIGNED-PAYLOAD (docs/auth.md). Every call is counted by method,
 * so the report can say how many RPCs a transfer took.
 *
 * `direct` aims the client at the storage service itself, bypassing the
 * gateway: it then sends the verified-caller entry the gateway would have
 * added (lib/rpc/caller.ts) instead of a signature, which is what a peer
 * inside the mesh does. The bench uses it only as a reference for the byte path.
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
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import {
  type DownloadHeader,
  DownloadRequestSchema,
  DownloadResponseSchema,
  StorageService,
  UploadRequestSchema,
  type UploadResponse,
  UploadResponseSchema,
} from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { grpcFrame, signRequest, UNSIGNED_STREAM } from '#lib/auth/signing.js';
import { CALLER_HEADER } from '#lib/rpc/caller.js';
import { type Signer, signerOf } from '../client.js';
import type { AppSpec } from './spec.js';

const UNARY_DEADLINE_MS = 30_000;
/** Upload messages written and not yet flushed to the connection, at most. */
const UPLOAD_WINDOW = 4;

/** Calls made, by `Service/Method`. */
export type CallCounts = Map<string, number>;

export interface AppClientOptions {
  /** `host:port` of the gateway, or of the storage service with `direct`. */
  readonly address: string;
  readonly app: AppSpec;
  readonly counts: CallCounts;
  /** Talk to the storage service straight, as a peer of the mesh: caller entry, no signature. */
  readonly direct?: boolean;
}

export interface Downloaded {
  readonly header: DownloadHeader | undefined;
  readonly bytes: number;
}

export class AppClient {
  readonly #client: grpc.Client;
  readonly #signer: Signer;
  readonly #options: AppClientOptions;

  constructor(options: AppClientOptions) {
    this.#options = options;
    this.#signer = signerOf(options.app.signer);
    this.#client = new grpc.Client(options.address, grpc.credentials.createInsecure(), {
      // 1 MiB chunks and their framing: above grpc-js's default 4 MiB receive limit only with room to spare.
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
    });
  }

  get appId(): string {
    return this.#options.app.appId;
  }

  async unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    init: MessageInitShape<I>,
  ): Promise<MessageShape<O>> {
    const path = this.#count(method.parent.typeName, method.name);
    const bytes = toBinary(method.input, create(method.input, init));
    const metadata = this.#metadata(path, grpcFrame(bytes));
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        path,
        asIs,
        (answer: Buffer) => fromBinary(method.output, answer),
        bytes,
        metadata,
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
   * StorageService/Upload: the header, then the pieces, written as fast as
   * HTTP/2 flow control takes them, at most UPLOAD_WINDOW not yet flushed (so
   * the pieces are pulled from `pieces` only as they can go).
   */
  upload(
    header: { blobId: string; uploadToken: string; offset?: bigint },
    pieces: Iterable<Uint8Array>,
    deadlineMs: number,
  ): Promise<UploadResponse> {
    const path = this.#count(StorageService.typeName, StorageService.method.upload.name);
    const metadata = this.#metadata(path, UNSIGNED_STREAM);
    const encode = (init: MessageInitShape<typeof UploadRequestSchema>) =>
      asIs(toBinary(UploadRequestSchema, create(UploadRequestSchema, init)));
    let settled = false;
    let settle: () => void = () => {};
    const answered = new Promise<void>((resolve) => {
      settle = resolve;
    });
    return new Promise<UploadResponse>((resolve, reject) => {
      const stream = this.#client.makeClientStreamRequest(
        path,
        (message: Buffer) => message,
        (answer: Buffer) => fromBinary(UploadResponseSchema, answer),
        metadata,
        { deadline: Date.now() + deadlineMs },
        (error: grpc.ServiceError | null, answer?: UploadResponse) => {
          settled = true;
          settle();
          if (error !== null) reject(error);
          else if (answer === undefined) reject(new Error(`${path}: no answer`));
          else resolve(answer);
        },
      );
      // Errors reach the callback; without a listener they would also be thrown.
      stream.on('error', () => {});
      // At most UPLOAD_WINDOW messages handed to grpc-js and not yet flushed to the connection: enough to
      // keep HTTP/2 busy, few enough that the client does not hold megabytes of queued chunks of its own.
      let unflushed = 0;
      let flushed: () => void = () => {};
      const write = async () => {
        stream.write(encode({ part: { case: 'header', value: { offset: 0n, ...header } } }));
        for (const piece of pieces) {
          if (settled) return;
          unflushed++;
          stream.write(encode({ part: { case: 'chunk', value: piece } }), () => {
            unflushed--;
            flushed();
          });
          while (unflushed >= UPLOAD_WINDOW && !settled) {
            await Promise.race([new Promise<void>((resolve) => (flushed = resolve)), answered]);
          }
        }
        if (!settled) stream.end();
      };
      write().catch((error: unknown) => {
        stream.cancel();
        reject(error);
      });
    });
  }

  /** StorageService/Download: hands every chunk to `onChunk` as it arrives; nothing is kept. */
  download(
    request: { blobId: string; downloadToken: string },
    onChunk: (chunk: Uint8Array) => void,
    deadlineMs: number,
  ): Promise<Downloaded> {
    const path = this.#count(StorageService.typeName, StorageService.method.download.name);
    const bytes = toBinary(DownloadRequestSchema, create(DownloadRequestSchema, request));
    const metadata = this.#metadata(path, grpcFrame(bytes));
    return new Promise((resolve, reject) => {
      const stream = this.#client.makeServerStreamRequest(
        path,
        asIs,
        (answer: Buffer) => fromBinary(DownloadResponseSchema, answer),
        bytes,
        metadata,
        { deadline: Date.now() + deadlineMs },
      );
      let header: DownloadHeader | undefined;
      let received = 0;
      stream.on('data', (message: MessageShape<typeof DownloadResponseSchema>) => {
        if (message.part.case === 'header') header = message.part.value;
        else if (message.part.case === 'chunk') {
          received += message.part.value.length;
          onChunk(message.part.value);
        }
      });
      stream.once('error', reject);
      stream.once('end', () => resolve({ header, bytes: received }));
    });
  }

  close(): void {
    this.#client.close();
  }

  #count(service: string, method: string): string {
    const name = `${service.split('.').at(-1)}/${method}`;
    this.#options.counts.set(name, (this.#options.counts.get(name) ?? 0) + 1);
    return `/${service}/${method}`;
  }

  /** The signature headers of a request through the gateway, or the caller entry of a direct one. */
  #metadata(path: string, body: Uint8Array | typeof UNSIGNED_STREAM): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.#options.direct === true) {
      const { app } = this.#options;
      const caller = create(CallerSchema, {
        kind: CallerKind.APP,
        appId: app.appId,
        unitCode: app.unitCode,
        subject: app.signer.accessKeyId,
      });
      metadata.set(CALLER_HEADER, Buffer.from(toBinary(CallerSchema, caller)));
      return metadata;
    }
    for (const [name, value] of Object.entries(
      signRequest({ method: 'POST', url: path, body, ...this.#signer }),
    )) {
      metadata.set(name, value);
    }
    return metadata;
  }
}

/** grpc-js sends a Buffer as it is; a view of the encoded message avoids a copy. */
function asIs(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
