/** Registry events, written to the outbox in the transaction of the change they announce. */
import { create, toBinary } from '@bufbuild/protobuf';
import type { Kysely } from 'kysely';
import {
  AppChangedSchema,
  GrantChangedSchema,
  UnitChangedSchema,
  ZoneChangedSchema,
} from '#gen/lgsp/registry/v1/events_pb.js';
import type { App, Grant, Unit, UnitEvent, Zone } from '#gen/lgsp/registry/v1/resources_pb.js';
import { enqueueEvent } from '#lib/db/outbox.js';
import { subjectOf } from '#lib/infra.js';
import type { RegistryDatabase } from './schema.js';

type Db = Kysely<RegistryDatabase>;

export const registrySubjects = (prefix: string) => ({
  unit: subjectOf(prefix, 'registry', 'unit'),
  app: subjectOf(prefix, 'registry', 'app'),
  grant: subjectOf(prefix, 'registry', 'grant'),
  zone: subjectOf(prefix, 'registry', 'zone'),
});

export async function emitUnitChanged(
  trx: Db,
  prefix: string,
  event: UnitEvent,
  units: Unit[],
): Promise<void> {
  await enqueueEvent(trx, {
    subject: registrySubjects(prefix).unit,
    payload: toBinary(UnitChangedSchema, create(UnitChangedSchema, { event, units })),
  });
}

export async function emitAppChanged(trx: Db, prefix: string, app: App): Promise<void> {
  await enqueueEvent(trx, {
    subject: registrySubjects(prefix).app,
    payload: toBinary(AppChangedSchema, create(AppChangedSchema, { app })),
  });
}

export async function emitGrantChanged(
  trx: Db,
  prefix: string,
  grant: Grant,
  deleted: boolean,
): Promise<void> {
  await enqueueEvent(trx, {
    subject: registrySubjects(prefix).grant,
    payload: toBinary(GrantChangedSchema, create(GrantChangedSchema, { grant, deleted })),
  });
}

export async function emitZoneChanged(trx: Db, prefix: string, zone: Zone): Promise<void> {
  await enqueueEvent(trx, {
    subject: registrySubjects(prefix).zone,
    payload: toBinary(ZoneChangedSchema, create(ZoneChangedSchema, { zone })),
  });
}
