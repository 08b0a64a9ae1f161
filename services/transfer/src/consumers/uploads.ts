/**
 * A transfer shows UPLOADING once storage received its first bytes (Art.
 * 8.3), so the source and the status readers can tell a request nobody acted
 * on from an upload under way.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { BlobSchema } from '#gen/lgsp/storage/v1/resources_pb.js';
import type { Subscription } from '#lib/bus/bus.js';
import { streamName, subjectOf } from '#lib/infra.js';
import type { TransferContext } from '../context.js';
import { lockTransfer } from '../db/transfers.js';
import { moveTransfer } from '../db/transitions.js';
import { isId } from '../domain/ids.js';

export async function followUploads(ctx: TransferContext): Promise<Subscription> {
  const prefix = ctx.config.busPrefix;
  // The storage service owns the stream; ensuring it here lets this service start first.
  const stream = streamName(prefix, 'storage');
  await ctx.bus.ensureStream({ name: stream, subjects: [subjectOf(prefix, 'storage', '>')] });
  return ctx.bus.consume(
    {
      stream,
      durable: 'transfer-uploads',
      filterSubjects: [subjectOf(prefix, 'storage', 'blob', 'receiving')],
      deliverFrom: 'new',
    },
    async (msg) => {
      const transferId = fromBinary(BlobSchema, msg.data).transferId;
      if (!isId('trf', transferId)) return;
      await ctx.db.transaction().execute(async (trx) => {
        const transfer = await lockTransfer(trx, transferId);
        if (transfer?.state !== 'requested') return;
        await moveTransfer(trx, prefix, transfer, 'uploading', {
          actor: 'platform',
          reason: 'first bytes received',
        });
      });
      ctx.outbox.wake();
    },
  );
}
