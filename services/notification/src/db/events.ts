/**
 * The fan-out events of notices, written to the outbox in the transaction
 * that creates the notice, on `<prefix>.notification.notice.<app_id>`
 * (stream `<prefix>_NOTIFICATION`). The payload is the Notice itself
 * (`lgsp.notification.v1.Notice`, binary). Every notification replica tails
 * these subjects and hands each notice to the Subscribe streams of its app
 * that it holds.
 */
import type { Kysely } from 'kysely';
import { enqueueEvent } from '#lib/db/outbox.js';
import { subjectOf } from '#lib/infra.js';
import type { NotificationDatabase } from './schema.js';

export const notificationSubjects = (prefix: string) => ({
  notice: (appId: string) => subjectOf(prefix, 'notification', 'notice', appId),
  notices: subjectOf(prefix, 'notification', 'notice', '>'),
  all: subjectOf(prefix, 'notification', '>'),
});

export async function emitNoticeEvent(
  trx: Kysely<NotificationDatabase>,
  prefix: string,
  appId: string,
  noticeId: string,
  payload: Uint8Array,
): Promise<void> {
  await enqueueEvent(trx, {
    subject: notificationSubjects(prefix).notice(appId),
    payload,
    headers: { 'lgsp-notice-id': noticeId },
  });
}
