/**
 * The fan-out events of notices, written to the outbox in the transaction
 * that creates the notice, on `<prefix>.notification.notice.<app_id>`
 * (stream `<prefix>_NOTIFICATION`). The payload is the Notice itself
 * (`lgsp.notification.v1.Notice`, binary). Every notification replica tails
 * these subjects and hands each notice to the Subscribe streams of its app
 * that it holds.
 */
import type { Kysely } from 'kysely';
import { enqueueEvents } from '#lib/db/outbox.js';
import { subjectOf } from '#lib/infra.js';
import type { NotificationDatabase } from './schema.js';

export const notificationSubjects = (prefix: string) => ({
  notice: (appId: string) => subjectOf(prefix, 'notification', 'notice', appId),
  notices: subjectOf(prefix, 'notification', 'notice', '>'),
  all: subjectOf(prefix, 'notification', '>'),
});

/** Puts the fan-out events of new notices in the outbox, in the caller's transaction. */
export async function emitNoticeEvents(
  trx: Kysely<NotificationDatabase>,
  prefix: string,
  notices: ReadonlyArray<{ readonly appId: string; readonly id: string; readonly payload: Uint8Array }>,
): Promise<void> {
  await enqueueEvents(
    trx,
    notices.map((n) => ({
      subject: notificationSubjects(prefix).notice(n.appId),
      payload: n.payload,
      headers: { 'lgsp-notice-id': n.id },
    })),
  );
}
