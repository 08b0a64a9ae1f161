/**
 * When the registry suspends or retires an app, or a unit stops being active
 * (dissolved, merged, renamed to a new code), the credentials of that owner
 * must stop working at once, not when a gateway's cache entry expires: every
 * verifier is told to drop their cached material, and reloading it finds the
 * owner inactive (OWNER_INACTIVE).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { AppChangedSchema, UnitChangedSchema } from '#gen/lgsp/registry/v1/events_pb.js';
import { AppStatus, UnitStatus } from '#gen/lgsp/registry/v1/resources_pb.js';
import type { BusMessage, Subscription } from '#lib/bus/bus.js';
import { streamName, subjectOf } from '#lib/infra.js';
import type { AuthContext } from '../context.js';

export async function followOwnerChanges(ctx: AuthContext): Promise<Subscription> {
  const prefix = ctx.config.busPrefix;
  const appSubject = subjectOf(prefix, 'registry', 'app');
  const unitSubject = subjectOf(prefix, 'registry', 'unit');
  // The registry owns the stream; ensuring it here lets the auth service start first.
  const stream = streamName(prefix, 'registry');
  await ctx.bus.ensureStream({ name: stream, subjects: [subjectOf(prefix, 'registry', '>')] });
  return ctx.bus.consume(
    {
      stream,
      durable: 'auth-owner-changes',
      filterSubjects: [appSubject, unitSubject],
      deliverFrom: 'new',
    },
    async (msg: BusMessage) => {
      const keys =
        msg.subject === appSubject ? await keysOfRetiredApp(ctx, msg) : await keysOfRetiredUnits(ctx, msg);
      if (keys.length > 0) {
        ctx.logger.info({ keys: keys.length }, 'owner no longer active; verifiers told to drop its keys');
        await ctx.announceStale(keys);
      }
    },
  );
}

async function keysOfRetiredApp(ctx: AuthContext, msg: BusMessage): Promise<string[]> {
  const app = fromBinary(AppChangedSchema, msg.data).app;
  if (app === undefined || app.status === AppStatus.ACTIVE) return [];
  return activeKeys(ctx, (q) => q.where('owner_app_id', '=', app.id));
}

async function keysOfRetiredUnits(ctx: AuthContext, msg: BusMessage): Promise<string[]> {
  const codes = fromBinary(UnitChangedSchema, msg.data)
    .units.filter((unit) => unit.status !== UnitStatus.ACTIVE)
    .map((unit) => unit.code);
  if (codes.length === 0) return [];
  return activeKeys(ctx, (q) => q.where('unit_code', 'in', codes));
}

type CredentialQuery = ReturnType<typeof credentialQuery>;
const credentialQuery = (ctx: AuthContext) =>
  ctx.db.selectFrom('credentials').select('access_key_id').where('status', '=', 'active');

async function activeKeys(
  ctx: AuthContext,
  narrow: (q: CredentialQuery) => CredentialQuery,
): Promise<string[]> {
  const rows = await narrow(credentialQuery(ctx)).execute();
  return rows.map((row) => row.access_key_id);
}
