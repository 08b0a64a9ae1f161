import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RouteOutcome } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { AppKind, AppStatus, GrantAction, UnitKind } from '#gen/lgsp/registry/v1/resources_pb.js';
import { asAdmin, asApp, asService } from '../../../test/support/callers.js';
import { expectCode, reasonOf, violatedFields } from '../../../test/support/errors.js';
import { startTestRegistry } from './support.js';

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
const admin = asAdmin();
let financeApp: string;
let homeAffairsApp: string;
let jsonOnlyApp: string;

beforeAll(async () => {
  registry = await startTestRegistry();
  const c = registry.client;
  financeApp = (
    await c.registerApp(
      {
        unitCode: '000.00.03.H26',
        name: 'Hệ thống QLVB Sở Tài chính',
        kind: AppKind.DOCUMENT_SYSTEM,
        acceptedContentTypes: ['application/edxml+xml', 'application/pdf'],
        webhookUrl: 'https://qlvb.stc.example.vn/lgsp/hook',
      },
      admin,
    )
  ).app!.id;
  homeAffairsApp = (
    await c.registerApp(
      {
        unitCode: '000.00.02.H26',
        name: 'QLVB Sở Nội vụ',
        kind: AppKind.DOCUMENT_SYSTEM,
        acceptedContentTypes: ['application/*'],
      },
      admin,
    )
  ).app!.id;
  jsonOnlyApp = (
    await c.registerApp(
      {
        unitCode: '000.00.04.H26',
        name: 'Dịch vụ dữ liệu KH&ĐT',
        kind: AppKind.DATA_SERVICE,
        acceptedContentTypes: ['application/json'],
      },
      admin,
    )
  ).app!.id;
});
afterAll(async () => {
  await registry?.close();
});

describe('apps', () => {
  it('registers with an id and shows the webhook only to whom it concerns', async () => {
    expect(financeApp).toMatch(/^app_[0-9a-f]{16}$/);
    const anonymous = await registry.client.getApp({ id: financeApp });
    expect(anonymous.app?.name).toBe('Hệ thống QLVB Sở Tài chính');
    expect(anonymous.app?.webhookUrl).toBe('');
    expect((await registry.client.getApp({ id: financeApp }, admin)).app?.webhookUrl).toContain('https://');
    expect(
      (await registry.client.getApp({ id: financeApp }, asApp(financeApp, '000.00.03.H26'))).app?.webhookUrl,
    ).toContain('https://');
  });

  it('refuses bad input field by field', async () => {
    const error = await expectCode(
      registry.client.registerApp(
        {
          unitCode: '000.00.03',
          name: ' ',
          kind: 0,
          acceptedContentTypes: ['json'],
          webhookUrl: 'http://example.vn/hook',
        },
        admin,
      ),
      Code.InvalidArgument,
    );
    expect(violatedFields(error).sort()).toEqual([
      'accepted_content_types[0]',
      'kind',
      'name',
      'unit_code',
      'webhook_url',
    ]);
  });

  it('refuses apps of unknown or inactive units, and of peer zones', async () => {
    const input = { name: 'x', kind: AppKind.OTHER, acceptedContentTypes: [] };
    await expectCode(
      registry.client.registerApp({ ...input, unitCode: '000.00.77.H26' }, admin),
      Code.NotFound,
    );
    const peer = await expectCode(
      registry.client.registerApp({ ...input, unitCode: '000.00.00.H41' }, admin),
      Code.FailedPrecondition,
    );
    expect(reasonOf(peer)).toBe('UNIT_IN_PEER_ZONE');
  });

  it('updates named fields only and lists by unit', async () => {
    const { app } = await registry.client.updateApp(
      { id: jsonOnlyApp, name: 'Cổng dữ liệu KH&ĐT', description: 'ignored', updatePaths: ['name'] },
      admin,
    );
    expect(app?.name).toBe('Cổng dữ liệu KH&ĐT');
    expect(app?.description).toBe('');
    const unknown = await expectCode(
      registry.client.updateApp({ id: jsonOnlyApp, updatePaths: ['status'] }, admin),
      Code.InvalidArgument,
    );
    expect(violatedFields(unknown)).toEqual(['update_paths[0]']);
    const { apps } = await registry.client.listApps({ unitCode: '000.00.04.H26' });
    expect(apps.map((a) => a.id)).toEqual([jsonOnlyApp]);
  });

  it('retires an app for good', async () => {
    const { app } = await registry.client.registerApp(
      { unitCode: '000.00.05.H26', name: 'Cũ', kind: AppKind.OTHER },
      admin,
    );
    await registry.client.setAppStatus({ id: app!.id, status: AppStatus.RETIRED, reason: 'thay thế' }, admin);
    const error = await expectCode(
      registry.client.setAppStatus({ id: app!.id, status: AppStatus.ACTIVE }, admin),
      Code.FailedPrecondition,
    );
    expect(reasonOf(error)).toBe('APP_RETIRED');
  });
});

describe('grants', () => {
  it('allows a unit-wide SEND grant, refuses a duplicate and checks it', async () => {
    const { grant } = await registry.client.createGrant(
      {
        subject: { party: { case: 'unitCode', value: '000.00.03.H26' } },
        object: { object: { case: 'unitCode', value: '000.00.02.H26' } },
        action: GrantAction.SEND,
      },
      admin,
    );
    expect(grant?.id).toMatch(/^grt_/);
    const dup = await expectCode(
      registry.client.createGrant(
        {
          subject: { party: { case: 'unitCode', value: '000.00.03.H26' } },
          object: { object: { case: 'unitCode', value: '000.00.02.H26' } },
          action: GrantAction.SEND,
        },
        admin,
      ),
      Code.AlreadyExists,
    );
    expect(reasonOf(dup)).toBe('GRANT_EXISTS');
    const check = await registry.client.checkGrant(
      {
        appId: financeApp,
        object: { party: { case: 'unitCode', value: '000.00.02.H26' } },
        action: GrantAction.SEND,
      },
      asService('transfer'),
    );
    expect(check.allowed).toBe(true);
    const other = await registry.client.checkGrant(
      {
        appId: financeApp,
        object: { party: { case: 'unitCode', value: '000.00.04.H26' } },
        action: GrantAction.SEND,
      },
      asApp(financeApp, '000.00.03.H26'),
    );
    expect(other.allowed).toBe(false);
  });

  it('lets an app see only its own grants, and nobody anonymous', async () => {
    await expectCode(registry.client.listGrants({}), Code.Unauthenticated);
    const own = await registry.client.listGrants({}, asApp(financeApp, '000.00.03.H26'));
    expect(own.grants.length).toBe(1);
    await expectCode(
      registry.client.listGrants(
        { subject: { party: { case: 'appId', value: homeAffairsApp } } },
        asApp(financeApp, '000.00.03.H26'),
      ),
      Code.PermissionDenied,
    );
    await expectCode(
      registry.client.checkGrant(
        {
          appId: homeAffairsApp,
          object: { party: { case: 'unitCode', value: '000.00.03.H26' } },
          action: GrantAction.SEND,
        },
        asApp(financeApp, '000.00.03.H26'),
      ),
      Code.PermissionDenied,
    );
  });

  it('refuses grants on unknown parties', async () => {
    await expectCode(
      registry.client.createGrant(
        {
          subject: { party: { case: 'appId', value: 'app_00000000000000ff' } },
          object: { object: { case: 'anyUnit', value: true } },
          action: GrantAction.CALL,
        },
        admin,
      ),
      Code.NotFound,
    );
  });
});

describe('routing (Art. 5.7)', () => {
  const to = (unitCode: string) => ({ party: { case: 'unitCode' as const, value: unitCode } });

  it('routes each recipient with its own outcome', async () => {
    const { routes } = await registry.client.resolveRecipients({
      recipients: [
        to('000.00.02.H26'),
        to('000.00.77.H26'),
        to('000.00.00.H41'),
        to('000.00.04.H26'),
        to('000.00.06.H26'),
        to('28.22.H17'),
      ],
      contentType: 'application/edxml+xml',
    });
    expect(routes.map((r) => RouteOutcome[r.outcome])).toEqual([
      'OK',
      'NOT_FOUND',
      'OK',
      'NO_RECEIVING_APP',
      'NO_RECEIVING_APP',
      'NOT_FOUND',
    ]);
    expect(routes[0]?.apps.map((a) => a.appId)).toEqual([homeAffairsApp]);
    expect(routes[1]?.message).toContain('000.00.77.H26');
    expect(routes[2]?.peerZoneCode).toBe('H41');
  });

  it('reports NOT_GRANTED for recipients the source may not send to', async () => {
    const { routes } = await registry.client.resolveRecipients(
      {
        recipients: [to('000.00.02.H26'), to('000.00.04.H26')],
        contentType: 'application/json',
        sourceAppId: financeApp,
      },
      asApp(financeApp, '000.00.03.H26'),
    );
    expect(routes.map((r) => RouteOutcome[r.outcome])).toEqual(['OK', 'NOT_GRANTED']);
  });

  it('routes an old code to its successor', async () => {
    await registry.client.createUnit(
      { code: '000.00.70.H26', name: 'Trước', parentCode: '000.00.00.H26', kind: UnitKind.OTHER },
      admin,
    );
    const { app } = await registry.client.registerApp(
      { unitCode: '000.00.70.H26', name: 'R', kind: AppKind.OTHER, acceptedContentTypes: ['*/*'] },
      admin,
    );
    await registry.client.renameUnit(
      { code: '000.00.70.H26', newName: 'Sau', newCode: '000.00.71.H26' },
      admin,
    );
    const { routes } = await registry.client.resolveRecipients({ recipients: [to('000.00.70.H26')] });
    expect(routes[0]?.outcome).toBe(RouteOutcome.OK);
    expect(routes[0]?.unitCodes).toEqual(['000.00.71.H26']);
    expect(routes[0]?.apps.map((a) => a.appId)).toEqual([app!.id]);
  });

  it('refuses routing on behalf of another app', async () => {
    await expectCode(
      registry.client.resolveRecipients(
        { recipients: [to('000.00.02.H26')], sourceAppId: homeAffairsApp },
        asApp(financeApp, '000.00.03.H26'),
      ),
      Code.PermissionDenied,
    );
    const empty = await expectCode(
      registry.client.resolveRecipients({ recipients: [] }),
      Code.InvalidArgument,
    );
    expect(violatedFields(empty)).toEqual(['recipients']);
  });
});
