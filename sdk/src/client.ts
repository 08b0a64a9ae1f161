/**
 * `LgspClient`: one agency system's client of the platform, through the
 * gateway, over gRPC (HTTP/2, the default) or the Connect protocol.
 *
 * Every call is signed (docs/auth.md), retried on `unavailable` when it is
 * safe to (see `isRetryable` in interceptors.ts), and fails with a typed
 * LgspError. On top of the generated clients (`registry`, `auth`,
 * `transfers`, `storage`, `notifications`) it offers the flows of
 * docs/transfers.md and docs/notifications.md: `send`, `inbox`, `receive`,
 * `upload`, `download`, `status`, `subscribe`.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { type Client, Code, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { AuthService } from '../../gen/lgsp/auth/v1/auth_service_pb.js';
import { Priority } from '../../gen/lgsp/common/v1/common_pb.js';
import { NotificationService } from '../../gen/lgsp/notification/v1/notification_service_pb.js';
import { RegistryService } from '../../gen/lgsp/registry/v1/registry_service_pb.js';
import type { Unit } from '../../gen/lgsp/registry/v1/resources_pb.js';
import { BlobState } from '../../gen/lgsp/storage/v1/resources_pb.js';
import { StorageService, type UploadRequestSchema } from '../../gen/lgsp/storage/v1/storage_service_pb.js';
import {
  type Delivery,
  type DeliveryPolicySchema,
  type StatusChange,
  type Transfer,
  TransferProtocol,
  type TransferState,
} from '../../gen/lgsp/transfer/v1/resources_pb.js';
import { TransferService } from '../../gen/lgsp/transfer/v1/transfer_service_pb.js';
import {
  type Credentials,
  credentialsFromEnv,
  DEFAULT_URL,
  type Signer,
  signerOf,
  urlFromEnv,
} from './credentials.js';
import { ConfigurationError, DigestMismatchError, LgspError, toLgspError } from './errors.js';
import {
  backoffMs,
  type ClockState,
  type RetryEvents,
  type RetryPolicy,
  retryInterceptor,
  signingInterceptor,
  sleep,
  typedErrors,
  type WireProtocol,
} from './interceptors.js';
import {
  bytesOf,
  type ContentSource,
  digestOf,
  hex,
  isBytes,
  isPath,
  newHash,
  type ProgressCallback,
  pieces,
  sizeOf,
} from './io.js';
import { type SubscribeOptions, Subscription } from './subscribe.js';

export interface LgspClientOptions {
  /** Gateway base URL; default `LGSP_URL`, then `http://127.0.0.1:8080`. */
  readonly url?: string;
  /** The app's (or operator's) key; default from the environment. `null`: unsigned (public calls only). */
  readonly credentials?: Credentials | null;
  /** Where `LGSP_*` variables are read; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `grpc` (HTTP/2, default) or `connect` (Connect protocol over HTTP/1.1, JSON unless `binary`). */
  readonly protocol?: WireProtocol;
  /** Connect protocol only: protobuf bodies rather than JSON. */
  readonly binary?: boolean;
  /** Deadline of each unary call, retries included (default 30 s). Streams have none unless asked. */
  readonly timeoutMs?: number;
  readonly retry?: RetryPolicy & RetryEvents;
}

/** A recipient: a unit code (`000.00.04.H26`) or an app id (`app_…`). */
export type Recipient = string;

export type PriorityName = 'normal' | 'urgent' | 'very-urgent' | 'flash';

export interface SendInput {
  /** Unit codes and app ids. */
  readonly to: Recipient | readonly Recipient[];
  /** A file path, bytes, or a Readable (spooled to a temporary file first, to learn its size and SHA-256). */
  readonly content: ContentSource;
  readonly subject: string;
  /** Default from the file's extension, else `application/octet-stream`. */
  readonly contentType?: string;
  readonly priority?: PriorityName | Priority;
  /** Default `PLAIN_DATA`, or `EDXML` for `application/edxml+xml`. */
  readonly protocol?: TransferProtocol;
  /** Makes the request safe to repeat; the SDK generates one when not given. */
  readonly idempotencyKey?: string;
  readonly policy?: MessageInitShape<typeof DeliveryPolicySchema>;
  /** Content up to this size travels inline in the request (default 256 KiB, the platform's limit). */
  readonly inlineMaxBytes?: number;
  readonly onProgress?: ProgressCallback;
  readonly signal?: AbortSignal;
}

export interface SendResult {
  readonly transfer: Transfer;
  /** Whether the content travelled inline (no upload). */
  readonly inline: boolean;
  readonly sizeBytes: number;
  /** Lower-case hex. */
  readonly sha256: string;
}

export interface UploadSpaceRef {
  readonly blobId: string;
  readonly uploadToken: string;
  /** Piece size the platform suggests; the SDK uses it when set, at most 1 MiB. */
  readonly chunkSizeBytes?: number;
}

export interface UploadOptions {
  /** The total size, when the source is a Readable (for progress). */
  readonly sizeBytes?: number;
  /** Expected SHA-256 (raw bytes): checked against what was read before the last piece goes. */
  readonly sha256?: Uint8Array;
  readonly chunkBytes?: number;
  readonly onProgress?: ProgressCallback;
  readonly signal?: AbortSignal;
  /** Deadline of the whole upload (default none). */
  readonly timeoutMs?: number;
}

export interface UploadResult {
  readonly blobId: string;
  readonly receivedBytes: number;
  /** Lower-case hex SHA-256 of the bytes read. */
  readonly sha256: string;
  /** Bytes the platform already held when this upload started (a resumed upload). */
  readonly resumedFrom: number;
}

export interface DownloadSpaceRef {
  readonly blobId: string;
  readonly downloadToken: string;
  /** Expected SHA-256 (raw bytes), e.g. the delivery's; default the one the stream announces. */
  readonly sha256?: Uint8Array;
  readonly sizeBytes?: bigint | number;
}

export interface DownloadOptions {
  readonly onProgress?: ProgressCallback;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  /** Keep a rejected file as `<path>.rejected` instead of deleting it. */
  readonly quarantine?: boolean;
  /** Continue from `<path>.part` left by an interrupted download (default true). */
  readonly resume?: boolean;
}

export interface DownloadResult {
  readonly sizeBytes: number;
  readonly sha256: string;
  /** The file, when downloading to one. */
  readonly path?: string;
  /** The content, when downloading to memory. */
  readonly content?: Uint8Array;
}

export interface ReceiveOptions {
  /** Write the content to this file; without it the content is returned in memory. */
  readonly to?: string;
  /** Confirm the delivery once the content is verified (default true). */
  readonly confirm?: boolean;
  /** The registration number the destination gave it (`receipt_ref`). */
  readonly receiptRef?: string;
  readonly onProgress?: ProgressCallback;
  readonly signal?: AbortSignal;
  readonly quarantine?: boolean;
}

export interface ReceiveResult extends DownloadResult {
  readonly delivery: Delivery;
  readonly inline: boolean;
}

export interface TransferStatus {
  readonly transfer: Transfer;
  readonly state: TransferState;
  readonly deliveries: readonly Delivery[];
  readonly history: readonly StatusChange[];
}

const MAX_CHUNK = 1024 * 1024;
const INLINE_MAX = 256 * 1024;

const PRIORITIES: Record<PriorityName, Priority> = {
  normal: Priority.NORMAL,
  urgent: Priority.URGENT,
  'very-urgent': Priority.VERY_URGENT,
  flash: Priority.FLASH,
};

const MEDIA_TYPES: Record<string, string> = {
  '.pdf': 'application/pdf',
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.edxml': 'application/edxml+xml',
  '.txt': 'text/plain',
  '.zip': 'application/zip',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.doc': 'application/msword',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
};

/** The media type a file name suggests, or `application/octet-stream`. */
export function mediaTypeOf(name: string): string {
  return MEDIA_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

export function priorityOf(value: PriorityName | Priority | undefined): Priority | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  const priority = PRIORITIES[value];
  if (priority === undefined) {
    throw new ConfigurationError(`priority must be one of ${Object.keys(PRIORITIES).join(', ')}`);
  }
  return priority;
}

/** `trf_…` / `dlv_…` ids are 4 letters and 16 hex digits. */
const partyOf = (recipient: Recipient) =>
  recipient.startsWith('app_')
    ? { party: { case: 'appId' as const, value: recipient } }
    : { party: { case: 'unitCode' as const, value: recipient } };

export class LgspClient {
  readonly url: string;
  /** Whether calls are signed. */
  readonly signed: boolean;
  readonly accessKeyId: string | undefined;
  readonly protocol: WireProtocol;
  readonly registry: Client<typeof RegistryService>;
  readonly auth: Client<typeof AuthService>;
  readonly transfers: Client<typeof TransferService>;
  readonly storage: Client<typeof StorageService>;
  readonly notifications: Client<typeof NotificationService>;
  /** Offset learnt from a CLOCK_SKEW refusal, added to the local clock when signing. */
  readonly clock: ClockState = { offsetMs: 0 };
  readonly #sessions: Http2SessionManager | undefined;
  readonly #retry: RetryPolicy & RetryEvents;

  constructor(options: LgspClientOptions = {}) {
    const env = options.env ?? process.env;
    this.url = (options.url ?? urlFromEnv(env) ?? DEFAULT_URL).replace(/\/+$/, '');
    try {
      new URL(this.url);
    } catch {
      throw new ConfigurationError(`the gateway URL ${JSON.stringify(this.url)} is not a URL (LGSP_URL)`);
    }
    const credentials = options.credentials === undefined ? credentialsFromEnv(env) : options.credentials;
    const signer: Signer | undefined =
      credentials === null || credentials === undefined ? undefined : signerOf(credentials);
    this.signed = signer !== undefined;
    this.accessKeyId = signer?.accessKeyId;
    this.protocol = options.protocol ?? 'grpc';
    this.#retry = options.retry ?? {};
    const interceptors = [
      retryInterceptor(this.#retry, this.clock, this.#retry),
      signingInterceptor(signer, { protocol: this.protocol, binary: options.binary === true }, this.clock),
    ];
    const defaultTimeoutMs = options.timeoutMs ?? 30_000;
    let transport: Transport;
    if (this.protocol === 'grpc') {
      this.#sessions = new Http2SessionManager(this.url, { pingIntervalMs: 30_000, pingTimeoutMs: 10_000 });
      transport = createGrpcTransport({
        baseUrl: this.url,
        sessionManager: this.#sessions,
        interceptors,
        defaultTimeoutMs,
      });
    } else {
      this.#sessions = undefined;
      transport = createConnectTransport({
        baseUrl: this.url,
        httpVersion: '1.1',
        useBinaryFormat: options.binary === true,
        interceptors,
        defaultTimeoutMs,
      });
    }
    this.registry = typedErrors(createClient(RegistryService, transport));
    this.auth = typedErrors(createClient(AuthService, transport));
    this.transfers = typedErrors(createClient(TransferService, transport));
    this.storage = typedErrors(createClient(StorageService, transport));
    this.notifications = typedErrors(createClient(NotificationService, transport));
  }

  /** A client from the environment only (`LGSP_URL`, `LGSP_ACCESS_KEY_ID`, …). */
  static fromEnv(options: Omit<LgspClientOptions, 'credentials' | 'url'> = {}): LgspClient {
    return new LgspClient(options);
  }

  /** Closes the HTTP/2 connection; calls made afterwards open a new one. */
  close(): void {
    this.#sessions?.abort();
  }

  // -------------------------------------------------------------------------
  // Registry

  /** Units whose name or code matches, as a clerk types it (no diacritics needed). */
  async searchUnits(
    query: string,
    options: { pageSize?: number; parentCode?: string } = {},
  ): Promise<Unit[]> {
    const answer = await this.registry.searchUnits({
      query,
      pageSize: options.pageSize ?? 20,
      ...(options.parentCode === undefined ? {} : { parentCode: options.parentCode }),
    });
    return answer.units;
  }

  // -------------------------------------------------------------------------
  // Sending

  /**
   * Sends `content` to the recipients: one CreateTransfer carrying the content
   * inline when it is small, otherwise CreateTransfer, a streamed upload
   * (resumed after a break) and CommitTransfer. Safe to call again with the
   * same `idempotencyKey` after a failure: the platform answers the same
   * transfer, and the upload resumes where it stopped.
   */
  async send(input: SendInput): Promise<SendResult> {
    let source = input.content;
    let spoolDir: string | undefined;
    try {
      if (!isPath(source) && !isBytes(source)) {
        // A Readable is read once: keep its bytes to learn size and digest before the request.
        spoolDir = await mkdtemp(join(tmpdir(), 'lgsp-send-'));
        const file = join(spoolDir, 'content');
        await pipeline(source, createWriteStream(file));
        source = file;
      }
      const { sha256, sizeBytes } = await digestOf(source);
      const inlineMax = Math.min(input.inlineMaxBytes ?? INLINE_MAX, INLINE_MAX);
      const inline = sizeBytes <= inlineMax;
      const contentType =
        input.contentType ??
        (isPath(input.content) ? mediaTypeOf(basename(input.content)) : 'application/octet-stream');
      const priority = priorityOf(input.priority);
      const recipients = (typeof input.to === 'string' ? [input.to] : input.to).map(partyOf);
      const inlineContent = inline ? await readAll(source) : undefined;
      const request = {
        recipients,
        subject: input.subject,
        contentType,
        protocol:
          input.protocol ??
          (contentType === 'application/edxml+xml' ? TransferProtocol.EDXML : TransferProtocol.PLAIN_DATA),
        sizeBytes: BigInt(sizeBytes),
        sha256,
        idempotencyKey: input.idempotencyKey ?? `sdk-${randomUUID()}`,
        ...(priority === undefined ? {} : { priority }),
        ...(input.policy === undefined ? {} : { policy: input.policy }),
        ...(inlineContent === undefined ? {} : { inlineContent }),
      };
      const signal = input.signal;
      const created = await this.transfers.createTransfer(request, signal === undefined ? {} : { signal });
      const transfer = created.transfer!;
      if (inline || created.uploadSpace === undefined) {
        input.onProgress?.({ bytes: sizeBytes, totalBytes: sizeBytes });
        return { transfer, inline: true, sizeBytes, sha256: hex(sha256) };
      }
      await this.upload(created.uploadSpace, source, {
        sha256,
        sizeBytes,
        ...(input.onProgress === undefined ? {} : { onProgress: input.onProgress }),
        ...(signal === undefined ? {} : { signal }),
      });
      const committed = await this.transfers.commitTransfer(
        { transferId: transfer.id, ...(input.policy === undefined ? {} : { policy: input.policy }) },
        signal === undefined ? {} : { signal },
      );
      return { transfer: committed.transfer!, inline: false, sizeBytes, sha256: hex(sha256) };
    } finally {
      if (spoolDir !== undefined) await rm(spoolDir, { recursive: true, force: true });
    }
  }

  /**
   * Uploads into an upload space, from where the platform's bytes end
   * (`GetUploadStatus`): a fresh upload starts at 0, an interrupted one goes on.
   * Over gRPC it is one `Upload` stream (signed `STREAMING-UNSIGNED-PAYLOAD`);
   * over the Connect protocol, `UploadChunk` calls. A file or bytes source is
   * resumed after `unavailable` too; a Readable cannot be read twice.
   */
  async upload(
    space: UploadSpaceRef,
    source: ContentSource,
    options: UploadOptions = {},
  ): Promise<UploadResult> {
    const totalBytes = options.sizeBytes ?? (await sizeOf(source));
    const chunkBytes = Math.min(options.chunkBytes ?? (space.chunkSizeBytes || MAX_CHUNK), MAX_CHUNK);
    const rereadable = isPath(source) || isBytes(source);
    const maxAttempts = Math.max(1, this.#retry.maxAttempts ?? 5);
    const status = await this.storage.getUploadStatus({
      blobId: space.blobId,
      uploadToken: space.uploadToken,
    });
    const resumedFrom = Number(status.receivedBytes);
    for (let attempt = 1; ; attempt++) {
      try {
        return { ...(await this.#uploadOnce(space, source, totalBytes, chunkBytes, options)), resumedFrom };
      } catch (raw) {
        const error = toLgspError(raw);
        if (error.code !== Code.Unavailable || !rereadable || attempt >= maxAttempts) throw error;
        await sleep(backoffMs(attempt, this.#retry), options.signal);
      }
    }
  }

  async #uploadOnce(
    space: UploadSpaceRef,
    source: ContentSource,
    totalBytes: number | undefined,
    chunkBytes: number,
    options: UploadOptions,
  ): Promise<Omit<UploadResult, 'resumedFrom'>> {
    const { blobId, uploadToken } = space;
    const status = await this.storage.getUploadStatus({ blobId, uploadToken });
    const from = Number(status.receivedBytes);
    const hash = newHash();
    const expected = options.sha256 === undefined ? undefined : hex(options.sha256);
    // Every byte is hashed, the ones the platform already holds too; only those from `from` are sent.
    const outgoing = async function* (): AsyncGenerator<Uint8Array> {
      let at = 0;
      for await (const piece of pieces(bytesOf(source, chunkBytes), chunkBytes)) {
        hash.update(piece);
        const end = at + piece.length;
        if (end > from) yield at >= from ? piece : piece.subarray(from - at);
        at = end;
      }
      const actual = hash.copy().digest('hex');
      if (expected !== undefined && actual !== expected) {
        throw new DigestMismatchError(
          `the content read (SHA-256 ${actual}) is not what was declared (${expected}): did the file change?`,
          expected,
          actual,
        );
      }
    };
    if (status.state === BlobState.SEALED) {
      for await (const _ of outgoing()); // only to hash it
      options.onProgress?.({ bytes: Number(status.sizeBytes), totalBytes });
      return { blobId, receivedBytes: Number(status.receivedBytes), sha256: hash.digest('hex') };
    }
    const callOptions = {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      timeoutMs: options.timeoutMs ?? 0,
    };
    let sent = from;
    const report = (n: number) => {
      sent += n;
      options.onProgress?.({ bytes: sent, totalBytes });
    };
    let receivedBytes: number;
    if (this.protocol === 'grpc') {
      const messages = async function* (): AsyncGenerator<MessageInitShape<typeof UploadRequestSchema>> {
        yield { part: { case: 'header', value: { blobId, uploadToken, offset: BigInt(from) } } };
        for await (const chunk of outgoing()) {
          yield { part: { case: 'chunk', value: chunk } };
          report(chunk.length);
        }
      };
      const answer = await this.storage.upload(messages(), callOptions);
      receivedBytes = Number(answer.receivedBytes);
    } else {
      receivedBytes = from;
      for await (const chunk of outgoing()) {
        const answer = await this.storage.uploadChunk(
          { blobId, uploadToken, offset: BigInt(receivedBytes), chunk },
          options.signal === undefined ? {} : { signal: options.signal },
        );
        receivedBytes = Number(answer.receivedBytes);
        report(chunk.length);
      }
    }
    return { blobId, receivedBytes, sha256: hash.digest('hex') };
  }

  // -------------------------------------------------------------------------
  // Receiving

  /** The deliveries waiting for this app, most urgent first (every page, up to `limit`). */
  async inbox(options: { minPriority?: PriorityName | Priority; limit?: number } = {}): Promise<Delivery[]> {
    const limit = options.limit ?? 1000;
    const minPriority = priorityOf(options.minPriority);
    const found: Delivery[] = [];
    let pageToken = '';
    do {
      const page = await this.transfers.listPendingDeliveries({
        pageSize: Math.min(200, limit - found.length),
        pageToken,
        ...(minPriority === undefined ? {} : { minPriority }),
      });
      found.push(...page.deliveries);
      pageToken = page.nextPageToken;
    } while (pageToken !== '' && found.length < limit);
    return found;
  }

  /**
   * Receives one delivery: AcceptDelivery (content inline when small),
   * otherwise a streamed download to `to` (or memory), the SHA-256 checked
   * against the delivery's, then ConfirmDelivery with it.
   */
  async receive(deliveryId: string, options: ReceiveOptions = {}): Promise<ReceiveResult> {
    const signal = options.signal === undefined ? {} : { signal: options.signal };
    const accepted = await this.transfers.acceptDelivery({ deliveryId, preferInline: true }, signal);
    const delivery = accepted.delivery!;
    let result: DownloadResult;
    let inline = false;
    if (accepted.content.case === 'inlineContent') {
      inline = true;
      const content = accepted.content.value;
      const actual = hex(newHash().update(content).digest());
      const expected = hex(delivery.sha256);
      if (actual !== expected) {
        throw new DigestMismatchError(
          `delivery ${deliveryId}: the inline content's SHA-256 ${actual} is not the delivery's ${expected}`,
          expected,
          actual,
        );
      }
      if (options.to !== undefined) {
        const handle = await open(options.to, 'w');
        try {
          await handle.writeFile(content);
        } finally {
          await handle.close();
        }
      }
      options.onProgress?.({ bytes: content.length, totalBytes: content.length });
      result = {
        sizeBytes: content.length,
        sha256: actual,
        ...(options.to === undefined ? { content } : { path: options.to }),
      };
    } else if (accepted.content.case === 'downloadSpace') {
      const space = accepted.content.value;
      result = await this.download(
        {
          blobId: space.blobId,
          downloadToken: space.downloadToken,
          sha256: delivery.sha256,
          sizeBytes: delivery.sizeBytes,
        },
        options.to,
        {
          ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
          ...(options.quarantine === undefined ? {} : { quarantine: options.quarantine }),
          ...signal,
        },
      );
    } else {
      throw new LgspError(
        `delivery ${deliveryId} was accepted without content or download space`,
        Code.Internal,
      );
    }
    if (options.confirm === false) return { ...result, delivery, inline };
    const confirmed = await this.transfers.confirmDelivery(
      {
        deliveryId,
        sha256: Buffer.from(result.sha256, 'hex'),
        sizeBytes: BigInt(result.sizeBytes),
        ...(options.receiptRef === undefined ? {} : { receiptRef: options.receiptRef }),
      },
      signal,
    );
    return { ...result, delivery: confirmed.delivery!, inline };
  }

  /**
   * Downloads a blob with its download token, to `path` (through
   * `<path>.part`, renamed once verified) or to memory. The SHA-256 of the
   * bytes received is checked against `space.sha256` (else the one the stream
   * announces): on a mismatch the file is deleted (or kept as
   * `<path>.rejected` with `quarantine`) and a DigestMismatchError thrown. A
   * broken stream is resumed from the bytes received.
   */
  async download(
    space: DownloadSpaceRef,
    path?: string,
    options: DownloadOptions = {},
  ): Promise<DownloadResult> {
    const part = path === undefined ? undefined : `${path}.part`;
    const hash = newHash();
    const kept: Uint8Array[] = [];
    let received = 0;
    if (part !== undefined && options.resume !== false) {
      // An earlier attempt left bytes: hash them and go on from there.
      const existing = await stat(part).catch(() => undefined);
      if (existing !== undefined && existing.size > 0) {
        for await (const chunk of bytesOf(part)) hash.update(chunk);
        received = existing.size;
      }
    }
    const handle = part === undefined ? undefined : await open(part, received > 0 ? 'a' : 'w');
    let announced: Uint8Array | undefined;
    let totalBytes = space.sizeBytes === undefined ? undefined : Number(space.sizeBytes);
    const maxAttempts = Math.max(1, this.#retry.maxAttempts ?? 5);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const stream = this.storage.download(
            { blobId: space.blobId, downloadToken: space.downloadToken, offset: BigInt(received) },
            {
              timeoutMs: options.timeoutMs ?? 0,
              ...(options.signal === undefined ? {} : { signal: options.signal }),
            },
          );
          for await (const message of stream) {
            if (message.part.case === 'header') {
              announced = message.part.value.sha256;
              totalBytes ??= Number(message.part.value.sizeBytes);
              continue;
            }
            if (message.part.case !== 'chunk') continue;
            const chunk = message.part.value;
            hash.update(chunk);
            if (handle !== undefined) await handle.write(chunk);
            else kept.push(chunk);
            received += chunk.length;
            options.onProgress?.({ bytes: received, totalBytes });
          }
          break;
        } catch (raw) {
          const error = toLgspError(raw);
          if (error.code !== Code.Unavailable || attempt >= maxAttempts) throw error;
          await sleep(backoffMs(attempt, this.#retry), options.signal);
        }
      }
      await handle?.sync();
    } finally {
      await handle?.close();
    }
    const actual = hash.digest('hex');
    const expectedBytes = space.sha256 ?? announced;
    const expected = expectedBytes === undefined ? undefined : hex(expectedBytes);
    const sizeWrong = totalBytes !== undefined && received !== totalBytes;
    if ((expected !== undefined && actual !== expected) || sizeWrong) {
      let where = '';
      if (part !== undefined && path !== undefined) {
        if (options.quarantine === true) {
          await rename(part, `${path}.rejected`);
          where = `; the bytes are kept in ${path}.rejected`;
        } else {
          await rm(part, { force: true });
          where = '; the partial file was deleted';
        }
      }
      throw new DigestMismatchError(
        sizeWrong
          ? `download of ${space.blobId}: received ${received} bytes, expected ${totalBytes}${where}`
          : `download of ${space.blobId}: SHA-256 ${actual} is not the expected ${expected}${where}`,
        expected ?? '',
        actual,
        sizeWrong ? 'SIZE_MISMATCH' : 'DIGEST_MISMATCH',
      );
    }
    if (part !== undefined && path !== undefined) {
      await rename(part, path);
      return { sizeBytes: received, sha256: actual, path };
    }
    return { sizeBytes: received, sha256: actual, content: Buffer.concat(kept) };
  }

  // -------------------------------------------------------------------------
  // Status and notices

  /** A transfer as its source (or a destination) sees it, with every delivery and the history. */
  async status(transferId: string): Promise<TransferStatus> {
    const [{ transfer }, status] = await Promise.all([
      this.transfers.getTransfer({ transferId }),
      this.transfers.getDeliveryStatus({ target: { case: 'transferId', value: transferId } }),
    ]);
    return {
      transfer: transfer!,
      state: status.transferState,
      deliveries: status.deliveries,
      history: status.history,
    };
  }

  /**
   * The app's notices as an async iterator, kept alive across broken
   * streams: see `Subscription`.
   */
  subscribe(options: SubscribeOptions = {}): Subscription {
    return new Subscription(this.notifications, options, this.#retry);
  }

  /** The platform's clock. */
  async serverTime(): Promise<Date> {
    const answer = await this.auth.getServerTime({});
    return answer.serverTime === undefined ? new Date() : timestampDate(answer.serverTime);
  }
}

async function readAll(source: ContentSource): Promise<Uint8Array> {
  if (isBytes(source)) return source;
  const chunks: Uint8Array[] = [];
  for await (const chunk of bytesOf(source)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
