/**
 * Apps that may no longer receive notices (APP_DISABLED, Art. 5.9): when the
 * registry suspends or retires an app, or a unit stops being active, every
 * replica ends that app's Subscribe streams here with PERMISSION_DENIED, and
 * presence records the app offline for that reason. The gateway already
 * refuses the app's new calls (its keys are dropped); this ends what was open.
 * Each replica follows the registry's events from now on with a consumer of its
 * own: only the streams it holds matter to it.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { AppChangedSchema, UnitChangedSchema } from '#gen/lgsp/registry/v1/events_pb.js';
import { AppStatus, UnitStatus } from '#gen/lgsp/registry/v1/resources_pb.js';
import type { BusMessage, Subscription } from '#lib/bus/bus.js';
import { streamName, subjectOf } from '#lib/infra.js';
import type { NotificationContext } from '../context.js';

export async function followAppStatus(
  ctx: Pick<NotificationContext, 'bus' | 'config' | 'hub' | 'logger'>,
): Promise<Subscription> {
  const prefix = ctx.config.busPrefix;
  const appSubject = subjectOf(prefix, 'registry', 'app');
  const unitSubject = subjectOf(prefix, 'registry', 'unit');
  // The registry owns the stream; ensuring it here lets this service start first.
  const stream = streamName(prefix, 'registry');
  await ctx.bus.ensureStream({ name: stream, subjects: [subjectOf(prefix, 'registry', '>')] });
  return ctx.bus.tail({ stream, filterSubjects: [appSubject, unitSubject] }, (msg: BusMessage) => {
    const ended = msg.subject === appSubject ? endAppStreams(ctx, msg) : endUnitStreams(ctx, msg);
    if (ended > 0) ctx.logger.info({ streams: ended }, 'streams of a disabled app ended');
  });
}

function endAppStreams(ctx: Pick<NotificationContext, 'hub'>, msg: BusMessage): number {
  const app = fromBinary(AppChangedSchema, msg.data).app;
  if (app === undefined || app.status === AppStatus.ACTIVE) return 0;
  return ctx.hub.disableApp(app.id);
}

function endUnitStreams(ctx: Pick<NotificationContext, 'hub'>, msg: BusMessage): number {
  let ended = 0;
  for (const unit of fromBinary(UnitChangedSchema, msg.data).units) {
    if (unit.status !== UnitStatus.ACTIVE) ended += ctx.hub.disableUnit(unit.code);
  }
  return ended;
}
