/**
 * The gateway seen by a legacy system: Connect unary calls as JSON over
 * HTTP/1.1 with plain `fetch` (POST /<service>/<method>,
 * content-type application/json), and nothing else.
 */
import { create } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallerKind, CallerSchema } from '#gen/lgsp/common/v1/common_pb.js';
import { CALLER_HEADER, encodeCaller } from '#lib/rpc/caller.js';
import {
  type E2eMesh,
  hmacSigner,
  type JsonAnswer,
  postJson,
  READ_MAX_BYTES,
  startE2eMesh,
} from './support.js';

let e2e: E2eMesh;

beforeAll(async () => {
  e2e = await startE2eMesh();
});

afterAll(async () => {
  await e2e?.close();
});

const call = (method: string, body: unknown, headers: Record<string, string> = {}) =>
  postJson(e2e.url, method, body, { headers });
const asAdmin = (method: string, body: unknown) => postJson(e2e.url, method, body, { signer: e2e.admin });

/** Asserts a successful answer and returns its body. */
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field.
function ok(answer: JsonAnswer): any {
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.contentType).toMatch(/^application\/json/);
  return answer.body;
}

/** Asserts a Connect error answer: its code, and its HTTP status as the Connect protocol maps it. */
function failed(answer: JsonAnswer, code: string, httpStatus: number) {
  expect(answer.body?.code, JSON.stringify(answer.body)).toBe(code);
  expect(answer.status).toBe(httpStatus);
  expect(answer.contentType).toMatch(/^application\/json/);
  expect(typeof answer.body.message).toBe('string');
  return answer.body as { code: string; message: string; details?: Array<{ type: string; debug?: unknown }> };
}

function fieldViolations(body: { details?: Array<{ type: string; debug?: unknown }> }): string[] {
  const detail = body.details?.find((d) => d.type === 'lgsp.common.v1.BadRequest');
  const debug = detail?.debug as { fieldViolations?: Array<{ field: string }> } | undefined;
  return debug?.fieldViolations?.map((v) => v.field) ?? [];
}

function reason(body: { details?: Array<{ type: string; debug?: unknown }> }): string | undefined {
  const detail = body.details?.find((d) => d.type === 'lgsp.common.v1.ErrorInfo');
  return (detail?.debug as { reason?: string } | undefined)?.reason;
}

async function eventCount(): Promise<number> {
  let total = 0;
  let pageToken = '';
  do {
    const page = ok(await call('ListUnitEvents', { pageSize: 200, pageToken }));
    total += page.events?.length ?? 0;
    pageToken = page.nextPageToken ?? '';
  } while (pageToken !== '');
  return total;
}

const unit = (code: string, name: string, parentCode = '000.00.00.H26') => ({
  code,
  name,
  parentCode,
  kind: 'UNIT_KIND_OTHER',
});

describe('search and reads', () => {
  it('finds "Sở Tài chính" first, whatever the case and diacritics', async () => {
    for (const query of ['so tai chinh', 'SỞ TÀI CHÍNH', 'Sở Tài chính']) {
      const { units } = ok(await call('SearchUnits', { query }));
      expect(units[0].code, query).toBe('000.00.03.H26');
    }
  });

  it('pages through a code prefix with pageToken, without overlap or gap', async () => {
    const first = ok(await call('SearchUnits', { query: '000.00.3', pageSize: 5 }));
    expect(first.units).toHaveLength(5);
    expect(first.totalSize).toBeGreaterThan(5);
    expect(first.nextPageToken).toEqual(expect.any(String));
    const codes: string[] = first.units.map((u: { code: string }) => u.code);
    let pageToken: string = first.nextPageToken;
    for (let pages = 1; pageToken !== undefined && pageToken !== ''; pages++) {
      expect(pages, 'page count').toBeLessThan(50);
      const page = ok(await call('SearchUnits', { query: '000.00.3', pageSize: 5, pageToken }));
      codes.push(...page.units.map((u: { code: string }) => u.code));
      pageToken = page.nextPageToken;
    }
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes).toHaveLength(first.totalSize);
    expect(codes.every((c) => c.startsWith('000.00.3'))).toBe(true);
  });

  it('gets a unit in the protobuf JSON mapping', async () => {
    const { unit } = ok(await call('GetUnit', { code: '000.00.03.H26' }));
    expect(unit).toMatchObject({
      code: '000.00.03.H26',
      name: 'Sở Tài chính',
      parentCode: '000.00.00.H26',
      kind: 'UNIT_KIND_DEPARTMENT',
      status: 'UNIT_STATUS_ACTIVE',
    });
    expect(Date.parse(unit.createTime)).not.toBeNaN();
  });

  it('accepts numbers written as strings, as the protobuf JSON mapping allows', async () => {
    const { units } = ok(await call('SearchUnits', { query: '000.00.3', pageSize: '2' }));
    expect(units).toHaveLength(2);
  });
});

describe('an administrator flow', () => {
  it('creates, renames with a new code, resolves the old code, registers apps, grants and routes', async () => {
    const created = ok(
      await asAdmin('CreateUnit', { ...unit('000.00.90.H26', 'Sở A'), decisionRef: '1/QĐ' }),
    );
    expect(created.unit).toMatchObject({ code: '000.00.90.H26', status: 'UNIT_STATUS_ACTIVE' });

    const renamed = ok(
      await asAdmin('RenameUnit', {
        code: '000.00.90.H26',
        newName: 'Sở A (mới)',
        newCode: '000.00.94.H26',
        decisionRef: '2/QĐ',
      }),
    );
    expect(renamed.unit).toMatchObject({ code: '000.00.94.H26', name: 'Sở A (mới)' });

    const resolved = ok(await call('ResolveUnitCode', { code: '000.00.90.H26' }));
    expect(resolved.unit).toMatchObject({ code: '000.00.90.H26', status: 'UNIT_STATUS_SUPERSEDED' });
    expect(resolved.current.map((u: { code: string }) => u.code)).toEqual(['000.00.94.H26']);
    expect(resolved.path).toHaveLength(1);

    const receiver = ok(
      await asAdmin('RegisterApp', {
        unitCode: '000.00.94.H26',
        name: 'QLVB Sở A',
        kind: 'APP_KIND_DOCUMENT_SYSTEM',
        acceptedContentTypes: ['application/edxml+xml'],
      }),
    ).app;
    expect(receiver.id).toMatch(/^app_[0-9a-f]{16}$/);
    const sender = ok(
      await asAdmin('RegisterApp', {
        unitCode: '000.00.03.H26',
        name: 'QLVB Sở Tài chính',
        kind: 'APP_KIND_DOCUMENT_SYSTEM',
        acceptedContentTypes: ['application/edxml+xml'],
      }),
    ).app;

    // Sở Nội vụ can receive, but the sender holds no grant for it.
    ok(
      await asAdmin('RegisterApp', {
        unitCode: '000.00.02.H26',
        name: 'QLVB Sở Nội vụ',
        kind: 'APP_KIND_DOCUMENT_SYSTEM',
        acceptedContentTypes: ['application/*'],
      }),
    );

    const { grant } = ok(
      await asAdmin('CreateGrant', {
        subject: { unitCode: '000.00.03.H26' },
        object: { unitCode: '000.00.94.H26' },
        action: 'GRANT_ACTION_SEND',
        note: 'e2e',
      }),
    );
    expect(grant.id).toMatch(/^grt_/);

    // The old code routes to the renamed unit's app; the unit the sender may not send to is reported, not failed.
    const { routes } = ok(
      await asAdmin('ResolveRecipients', {
        recipients: [{ unitCode: '000.00.90.H26' }, { unitCode: '000.00.02.H26' }],
        contentType: 'application/edxml+xml',
        sourceAppId: sender.id,
      }),
    );
    expect(routes).toHaveLength(2);
    expect(routes[0]).toMatchObject({
      recipient: { unitCode: '000.00.90.H26' },
      outcome: 'ROUTE_OUTCOME_OK',
      unitCodes: ['000.00.94.H26'],
      apps: [{ appId: receiver.id, unitCode: '000.00.94.H26' }],
    });
    expect(routes[1]).toMatchObject({
      recipient: { unitCode: '000.00.02.H26' },
      outcome: 'ROUTE_OUTCOME_NOT_GRANTED',
    });
  });
});

describe('bad input', () => {
  it('answers a malformed JSON body with HTTP 400 invalid_argument', async () => {
    // An empty body is not an empty message either: Connect JSON needs at least "{}".
    for (const body of ['{"code":', 'not json', '{"code":"000.00.03.H26"}}', '']) {
      failed(await postJson(e2e.url, 'GetUnit', body, { raw: true }), 'invalid_argument', 400);
    }
  });

  it('answers a body of the wrong shape with invalid_argument', async () => {
    failed(await call('SearchUnits', { query: 'so', pageSize: 'abc' }), 'invalid_argument', 400);
    failed(await call('SearchUnits', { query: 'so', pageSize: 1.5 }), 'invalid_argument', 400);
    failed(await call('GetUnit', { code: 42 }), 'invalid_argument', 400);
    failed(await call('GetUnit', { code: { nested: true } }), 'invalid_argument', 400);
    failed(await call('GetUnit', ['000.00.03.H26']), 'invalid_argument', 400);
    failed(await call('ResolveRecipients', { recipients: 'all' }), 'invalid_argument', 400);
  });

  it('refuses an unknown field, so that a misspelt field is not silently dropped', async () => {
    const body = failed(
      await call('CreateUnit', { code: '000.00.96.H26', name: 'x', parrentCode: '000.00.00.H26' }),
      'invalid_argument',
      400,
    );
    expect(body.message).toContain('parrentCode');
    failed(await call('GetUnit', { code: '000.00.96.H26' }), 'not_found', 404);
  });

  it('refuses a body over readMaxBytes with resource_exhausted and writes nothing', async () => {
    const before = await eventCount();
    const body = JSON.stringify(unit('000.00.95.H26', 'x'.repeat(READ_MAX_BYTES + 1)));
    expect(Buffer.byteLength(body)).toBeGreaterThan(READ_MAX_BYTES);
    const answer = await postJson(e2e.url, 'CreateUnit', body, { raw: true, signer: e2e.admin });
    failed(answer, 'resource_exhausted', 429);
    failed(await call('GetUnit', { code: '000.00.95.H26' }), 'not_found', 404);
    expect(await eventCount()).toBe(before);
  });

  it.each(['28.22.H17', '999.010.01.H22'])(
    'refuses the malformed code %s, naming the field in the details',
    async (code) => {
      const body = failed(await call('GetUnit', { code }), 'invalid_argument', 400);
      const detail = body.details?.find((d) => d.type === 'lgsp.common.v1.BadRequest');
      const debug = detail?.debug as { fieldViolations: Array<{ field: string; description: string }> };
      expect(debug.fieldViolations[0]?.field).toBe('code');
      expect(debug.fieldViolations[0]?.description).not.toBe('');
      expect(fieldViolations(body)).toEqual(['code']);
    },
  );

  it('refuses merging into a dissolved unit with failed_precondition, and writes nothing', async () => {
    ok(await asAdmin('CreateUnit', unit('000.00.81.H26', 'Nhập')));
    ok(await asAdmin('CreateUnit', unit('000.00.83.H26', 'Giải thể')));
    const dissolved = ok(await asAdmin('DissolveUnit', { code: '000.00.83.H26', reason: 'e2e' }));
    expect(dissolved.unit.status).toBe('UNIT_STATUS_DISSOLVED');
    const before = await eventCount();
    const body = failed(
      await asAdmin('MergeUnits', { codes: ['000.00.81.H26'], intoCode: '000.00.83.H26' }),
      'failed_precondition',
      400,
    );
    expect(reason(body)).toBe('UNIT_NOT_ACTIVE');
    expect(await eventCount()).toBe(before);
    expect(ok(await call('GetUnit', { code: '000.00.81.H26' })).unit.status).toBe('UNIT_STATUS_ACTIVE');
  });

  it('refuses an unknown parent with not_found', async () => {
    const body = failed(
      await asAdmin('CreateUnit', unit('000.00.86.H26', 'Mồ côi', '000.00.77.H26')),
      'not_found',
      404,
    );
    expect(reason(body)).toBe('UNIT_NOT_FOUND');
    failed(await call('GetUnit', { code: '000.00.86.H26' }), 'not_found', 404);
  });

  it('refuses a cycle through MoveUnit with failed_precondition', async () => {
    ok(await asAdmin('CreateUnit', unit('000.00.87.H26', 'Cha')));
    ok(await asAdmin('CreateUnit', unit('000.01.87.H26', 'Con', '000.00.87.H26')));
    ok(await asAdmin('CreateUnit', unit('000.02.87.H26', 'Cháu', '000.01.87.H26')));
    const body = failed(
      await asAdmin('MoveUnit', { code: '000.00.87.H26', newParentCode: '000.02.87.H26' }),
      'failed_precondition',
      400,
    );
    expect(reason(body)).toBe('TREE_CYCLE');
    expect(ok(await call('GetUnit', { code: '000.00.87.H26' })).unit.parentCode).toBe('000.00.00.H26');
  });

  it('answers a wrong content type with HTTP 415', async () => {
    for (const contentType of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      const res = await fetch(`${e2e.url}/lgsp.registry.v1.RegistryService/GetUnit`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: JSON.stringify({ code: '000.00.03.H26' }),
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      expect(res.status, contentType).toBe(415);
    }
  });

  it('answers a GET to an unknown path with 404', async () => {
    for (const path of ['/', '/nope', '/lgsp.registry.v1.RegistryService/NoSuchMethod']) {
      const res = await fetch(`${e2e.url}${path}`, { signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      expect(res.status, path).toBe(404);
    }
  });
});

describe('authentication', () => {
  it('does not let a client-supplied caller header grant admin', async () => {
    const forged = encodeCaller(
      create(CallerSchema, { kind: CallerKind.OPERATOR, subject: 'operator:forged', roles: ['admin'] }),
    );
    const body = failed(
      await call('CreateUnit', unit('000.00.88.H26', 'Giả mạo'), { [CALLER_HEADER]: forged }),
      'unauthenticated',
      401,
    );
    expect(reason(body)).toBe('AUTHENTICATION_REQUIRED');
    failed(await call('GetUnit', { code: '000.00.88.H26' }), 'not_found', 404);
  });

  it('refuses a request signed with a wrong secret, and accepts the right one', async () => {
    const wrongSecret = hmacSigner(e2e.admin.accessKeyId, 'not-the-secret-of-this-key');
    const wrong = failed(
      await postJson(e2e.url, 'CreateUnit', unit('000.00.89.H26', 'Sai khóa'), { signer: wrongSecret }),
      'unauthenticated',
      401,
    );
    expect(reason(wrong)).toBe('BAD_SIGNATURE');
    failed(await call('GetUnit', { code: '000.00.89.H26' }), 'not_found', 404);
    ok(await asAdmin('CreateUnit', unit('000.00.89.H26', 'Đúng khóa')));
  });

  it('refuses the old bearer credential: only signed requests authenticate', async () => {
    const body = failed(
      await call('CreateUnit', unit('000.00.84.H26', 'Bearer'), { authorization: 'Bearer nope' }),
      'unauthenticated',
      401,
    );
    expect(reason(body)).toBe('AUTHENTICATION_REQUIRED');
  });
});
