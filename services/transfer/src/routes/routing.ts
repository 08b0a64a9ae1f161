/**
 * Routing of a transfer request (Art. 8.2, 5.7): every recipient must exist,
 * be active, have a receiving app for the content type here, and be granted
 * to the source. One refused recipient refuses the request, naming each
 * problem; nothing is written.
 */
import { RouteOutcome } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { FailedPreconditionError, NotFoundError, PermissionDeniedError } from '#lib/errors.js';
import type { TransferContext } from '../context.js';
import { toParty } from '../db/rows.js';
import type { RouteJson } from '../db/schema.js';
import type { NewTransferInput } from './checks.js';

export async function planRoutes(
  ctx: TransferContext,
  input: NewTransferInput,
  sourceAppId: string,
): Promise<RouteJson[]> {
  const routes = await ctx.registry.resolveRecipients(
    input.recipients.map(toParty),
    input.contentType,
    sourceAppId,
  );
  const problems = new Map<RouteOutcome | 'PEER_ZONE', string[]>();
  const note = (kind: RouteOutcome | 'PEER_ZONE', text: string) =>
    problems.set(kind, [...(problems.get(kind) ?? []), text]);
  const planned: RouteJson[] = [];
  const seen = new Set<string>([sourceAppId]);
  for (const [i, route] of routes.entries()) {
    const who = `recipients[${i}] (${describe(input.recipients[i]!)})`;
    if (route.outcome !== RouteOutcome.OK) {
      note(route.outcome, `${who}: ${route.message}`);
      continue;
    }
    if (route.peerZoneCode !== '') {
      note(
        'PEER_ZONE',
        `${who} is hosted by zone ${route.peerZoneCode}, which this platform does not exchange with yet`,
      );
      continue;
    }
    for (const app of route.apps) {
      // One delivery per app, however many recipients lead to it; never to the source itself.
      if (seen.has(app.appId)) continue;
      seen.add(app.appId);
      planned.push({ recipient: i, appId: app.appId, unitCode: app.unitCode });
    }
  }
  throwFirst(problems);
  if (planned.length === 0) {
    throw new FailedPreconditionError(
      'NO_DESTINATION',
      'the recipients lead to no app other than the sender',
    );
  }
  return planned;
}

/** The most fundamental problem decides the code; the message lists all of that kind. */
function throwFirst(problems: Map<RouteOutcome | 'PEER_ZONE', string[]>): void {
  const list = (kind: RouteOutcome | 'PEER_ZONE') => problems.get(kind)?.join('; ');
  const notFound = list(RouteOutcome.NOT_FOUND);
  if (notFound !== undefined) throw new NotFoundError('RECIPIENT_NOT_FOUND', notFound);
  const inactive = list(RouteOutcome.INACTIVE);
  if (inactive !== undefined) throw new FailedPreconditionError('RECIPIENT_INACTIVE', inactive);
  const noApp = list(RouteOutcome.NO_RECEIVING_APP);
  if (noApp !== undefined) throw new FailedPreconditionError('NO_RECEIVING_APP', noApp);
  const notGranted = list(RouteOutcome.NOT_GRANTED);
  if (notGranted !== undefined) throw new PermissionDeniedError('RECIPIENT_NOT_GRANTED', notGranted);
  const peer = list('PEER_ZONE');
  if (peer !== undefined) throw new FailedPreconditionError('PEER_ZONE_UNSUPPORTED', peer);
  const other = [...problems.values()].flat().join('; ');
  if (other !== '') throw new FailedPreconditionError('RECIPIENT_UNREACHABLE', other);
}

function describe(party: NewTransferInput['recipients'][number]): string {
  return 'unitCode' in party ? party.unitCode : party.appId;
}
