/** Conversions between rows and API messages, and between stored and API enum names. */
import { fromBinary } from '@bufbuild/protobuf';
import { type Notice, NoticeKind, NoticeSchema } from '#gen/lgsp/notification/v1/resources_pb.js';
import { enumMap } from '#lib/db/enum-map.js';
import type { NoticeKindName, NoticeTable } from './schema.js';

type Row<T> = {
  [K in keyof T]: T[K] extends import('kysely').ColumnType<infer S, unknown, unknown> ? S : T[K];
};

export type NoticeRow = Row<NoticeTable>;

export const noticeKinds = enumMap<NoticeKindName, NoticeKind>({
  new_delivery: NoticeKind.NEW_DELIVERY,
  transfer_status: NoticeKind.TRANSFER_STATUS,
  destination_offline: NoticeKind.DESTINATION_OFFLINE,
  credential_expiring: NoticeKind.CREDENTIAL_EXPIRING,
  app_message: NoticeKind.APP_MESSAGE,
});

/** The notice as it was created: the payload column holds the whole message. */
export function toNotice(row: Pick<NoticeRow, 'payload'>): Notice {
  return fromBinary(NoticeSchema, row.payload);
}
