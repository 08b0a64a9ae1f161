/**
 * CREDENTIAL_EXPIRING notices: the auth service's expiry sweep warns once
 * about each credential that expires soon (CredentialEvent EXPIRING on
 * `<prefix>.auth.credential.expiring`); the owning app is told. Operators'
 * credentials are not apps': no notice for them. One durable shared by every
 * replica; a redelivered event finds its notice (dedup key: the credential
 * and its version) and creates nothing.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { CredentialEventKind, CredentialEventSchema } from '#gen/lgsp/auth/v1/resources_pb.js';
import type { BusMessage, Subscription } from '#lib/bus/bus.js';
import { streamName, subjectOf } from '#lib/infra.js';
import type { NotificationContext } from '../context.js';
import { APP_ID } from '../domain/ids.js';
import { createOne, type NoticeSink } from './group-commit.js';
import { decode, EVENT_ACK_WAIT_MS, expiring } from './transfer-events.js';

export const CREDENTIAL_DURABLE = 'notification-credential-expiring';

export async function followExpiringCredentials(
  ctx: NotificationContext,
  sink: NoticeSink,
): Promise<Subscription> {
  const prefix = ctx.config.busPrefix;
  // The auth service owns the stream; ensuring it here lets this service start first.
  const stream = streamName(prefix, 'auth');
  await ctx.bus.ensureStream({ name: stream, subjects: [subjectOf(prefix, 'auth', 'credential', '>')] });
  return ctx.bus.consume(
    {
      stream,
      durable: CREDENTIAL_DURABLE,
      filterSubjects: [subjectOf(prefix, 'auth', 'credential', 'expiring')],
      deliverFrom: 'new',
      ackWaitMs: EVENT_ACK_WAIT_MS,
    },
    (msg) => noticeOfExpiringCredential(ctx, msg, sink),
    { concurrency: 16 },
  );
}

export async function noticeOfExpiringCredential(
  ctx: NotificationContext,
  msg: BusMessage,
  sink: NoticeSink = createOne(ctx),
): Promise<void> {
  const event = decode(ctx, msg, () => fromBinary(CredentialEventSchema, msg.data));
  if (event === undefined || event.kind !== CredentialEventKind.EXPIRING) return;
  const owner = event.owner?.owner;
  if (owner?.case !== 'appId') return;
  if (!APP_ID.test(owner.value) || event.expireTime === undefined) {
    ctx.logger.error({ subject: msg.subject, seq: msg.seq }, 'expiring-credential event unusable; dropped');
    return;
  }
  await sink({
    appId: owner.value,
    payload: {
      case: 'credentialExpiring',
      value: { accessKeyId: event.accessKeyId, expireTime: event.expireTime },
    },
    ...expiring(ctx, timestampDate(event.expireTime)),
    dedupKey: `auth.credential.expiring:${event.accessKeyId}:${event.version}`,
  });
}
