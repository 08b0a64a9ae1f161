/**
 * The LGSP SDK for agency systems. Start with `LgspClient` (client.ts); the
 * README of this folder walks through it.
 */

export { Priority } from '../../gen/lgsp/common/v1/common_pb.js';
export { type Notice, NoticeKind } from '../../gen/lgsp/notification/v1/resources_pb.js';
export {
  type Delivery,
  DeliveryState,
  type StatusChange,
  type Transfer,
  TransferProtocol,
  TransferState,
} from '../../gen/lgsp/transfer/v1/resources_pb.js';
export {
  type DownloadOptions,
  type DownloadResult,
  type DownloadSpaceRef,
  LgspClient,
  type LgspClientOptions,
  mediaTypeOf,
  type PriorityName,
  priorityOf,
  type ReceiveOptions,
  type ReceiveResult,
  type Recipient,
  type SendInput,
  type SendResult,
  type TransferStatus,
  type UploadOptions,
  type UploadResult,
  type UploadSpaceRef,
} from './client.js';
export {
  type Credentials,
  checkAlgorithm,
  credentialsFromEnv,
  DEFAULT_URL,
  type Signer,
  signerOf,
  urlFromEnv,
} from './credentials.js';
export {
  AlreadyExistsError,
  AuthenticationError,
  Code,
  ConfigurationError,
  codeName,
  DigestMismatchError,
  FailedPreconditionError,
  type FieldViolation,
  InvalidArgumentError,
  LgspError,
  NotFoundError,
  PermissionDeniedError,
  toLgspError,
  UnavailableError,
} from './errors.js';
export {
  backoffMs,
  isRetryable,
  type RetryEvents,
  type RetryPolicy,
  type WireProtocol,
} from './interceptors.js';
export type { ContentSource, Progress, ProgressCallback } from './io.js';
export { type SubscribeOptions, Subscription } from './subscribe.js';
