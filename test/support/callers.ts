/** Internal caller metadata for tests that call a service directly, as the gateway would. */
import { create } from '@bufbuild/protobuf';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { ADMIN_ROLE, CALLER_HEADER, encodeCaller } from '#lib/rpc/caller.js';

export function asAdmin(): { headers: Record<string, string> } {
  return as({ kind: CallerKind.OPERATOR, subject: 'operator:test', roles: [ADMIN_ROLE] });
}

export function asApp(appId: string, unitCode: string): { headers: Record<string, string> } {
  return as({ kind: CallerKind.APP, appId, unitCode, subject: `key:${appId}` });
}

export function asService(name: string): { headers: Record<string, string> } {
  return as({ kind: CallerKind.SERVICE, subject: `service:${name}` });
}

function as(caller: Parameters<typeof create<typeof CallerSchema>>[1]): { headers: Record<string, string> } {
  return { headers: { [CALLER_HEADER]: encodeCaller(create(CallerSchema, caller)) } };
}
