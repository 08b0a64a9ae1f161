/**
 * The gateway seen by a plain gRPC client: `@grpc/grpc-js` over cleartext
 * HTTP/2, with the service loaded from the .proto sources by
 * `@grpc/proto-loader`. Nothing here uses the project's generated client.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BadRequestSchema,
  CallerKind,
  CallerSchema,
  ErrorInfoSchema,
} from '#gen/lgsp/common/v1/common_pb.js';
import { CALLER_HEADER } from '#lib/rpc/caller.js';
import {
  bearer,
  callUnary,
  decodeRpcStatus,
  type E2eMesh,
  loadGrpcService,
  startE2eMesh,
} from './support.js';

let e2e: E2eMesh;
let registry: grpc.Client;

beforeAll(async () => {
  e2e = await startE2eMesh();
  const RegistryService = loadGrpcService(
    'lgsp/registry/v1/registry_service.proto',
    'lgsp.registry.v1.RegistryService',
  );
  registry = new RegistryService(e2e.address, grpc.credentials.createInsecure());
});

afterAll(async () => {
  registry?.close();
  await e2e?.close();
});

const newUnit = (code: string) => ({
  code,
  name: 'Ban Quản lý các khu công nghiệp',
  parentCode: '000.00.00.H26',
  kind: 'UNIT_KIND_DEPARTMENT',
  decisionRef: '12/QĐ-UBND',
});

function statusDetails(error: grpc.ServiceError) {
  const [raw] = error.metadata.get('grpc-status-details-bin');
  expect(Buffer.isBuffer(raw), 'grpc-status-details-bin trailer').toBe(true);
  return decodeRpcStatus(raw as Buffer);
}

describe('public reads', () => {
  it('finds "Sở Tài chính" first from "so tai chinh"', async () => {
    const { response, error } = await callUnary(registry, 'searchUnits', { query: 'so tai chinh' });
    expect(error).toBeUndefined();
    expect(response.units[0].code).toBe('000.00.03.H26');
    expect(response.units[0].name).toBe('Sở Tài chính');
    expect(response.totalSize).toBeGreaterThanOrEqual(1);
  });

  it('gets a unit with its enums and timestamps', async () => {
    const { response, error } = await callUnary(registry, 'getUnit', { code: '000.00.03.H26' });
    expect(error).toBeUndefined();
    expect(response.unit).toMatchObject({
      code: '000.00.03.H26',
      parentCode: '000.00.00.H26',
      kind: 'UNIT_KIND_DEPARTMENT',
      status: 'UNIT_STATUS_ACTIVE',
    });
    expect(Number(response.unit.createTime.seconds)).toBeGreaterThan(1_600_000_000);
  });

  it('refuses a malformed code with INVALID_ARGUMENT and a BadRequest naming the field', async () => {
    const { error } = await callUnary(registry, 'getUnit', { code: '28.22.H17' });
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const status = statusDetails(error!);
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    // connect-node percent-encodes grpc-message with encodeURIComponent, grpc-js decodes it with
    // decodeURI, which leaves reserved characters (":" → "%3A", "," → "%2C") encoded in `details`.
    // The status in the details trailer carries the message as sent.
    expect(status.message).toMatch(/^code: must have four dot-separated groups/);
    expect(decodeURIComponent(error!.details)).toBe(status.message);
    const detail = status.details.find(
      (d) => d.typeUrl === `type.googleapis.com/${BadRequestSchema.typeName}`,
    );
    expect(detail, JSON.stringify(status.details.map((d) => d.typeUrl))).toBeDefined();
    const badRequest = fromBinary(BadRequestSchema, detail!.value);
    expect(badRequest.fieldViolations.map((v) => v.field)).toEqual(['code']);
    expect(badRequest.fieldViolations[0]?.description).not.toBe('');
  });

  it('answers NOT_FOUND for a code never issued', async () => {
    const { error } = await callUnary(registry, 'getUnit', { code: '000.00.99.H26' });
    expect(error?.code).toBe(grpc.status.NOT_FOUND);
    const status = statusDetails(error!);
    const info = status.details.find((d) => d.typeUrl.endsWith(`/${ErrorInfoSchema.typeName}`));
    expect(fromBinary(ErrorInfoSchema, info!.value).reason).toBe('UNIT_NOT_FOUND');
  });
});

describe('administration', () => {
  it('creates a unit with the bearer token in metadata', async () => {
    const { response, error } = await callUnary(
      registry,
      'createUnit',
      newUnit('000.00.90.H26'),
      bearer(e2e.token),
    );
    expect(error).toBeUndefined();
    expect(response.unit).toMatchObject({ code: '000.00.90.H26', status: 'UNIT_STATUS_ACTIVE' });
    const read = await callUnary(registry, 'getUnit', { code: '000.00.90.H26' });
    expect(read.response.unit.name).toBe('Ban Quản lý các khu công nghiệp');
  });

  it('answers UNAUTHENTICATED without a token, and writes nothing', async () => {
    const { error } = await callUnary(registry, 'createUnit', newUnit('000.00.91.H26'));
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await callUnary(registry, 'getUnit', { code: '000.00.91.H26' })).error?.code).toBe(
      grpc.status.NOT_FOUND,
    );
  });

  it('answers UNAUTHENTICATED with a wrong token, and writes nothing', async () => {
    const wrong = `${e2e.token.slice(0, -1)}${e2e.token.endsWith('A') ? 'B' : 'A'}`;
    for (const metadata of [bearer(wrong), bearer('short'), basic()]) {
      const { error } = await callUnary(registry, 'createUnit', newUnit('000.00.91.H26'), metadata);
      expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
      const status = statusDetails(error!);
      const info = status.details.find((d) => d.typeUrl.endsWith(`/${ErrorInfoSchema.typeName}`));
      expect(fromBinary(ErrorInfoSchema, info!.value).reason).toBe('CREDENTIAL_REJECTED');
    }
    // A wrong token is refused even for a public read: the caller meant to authenticate.
    expect((await callUnary(registry, 'getUnit', { code: '000.00.03.H26' }, bearer(wrong))).error?.code).toBe(
      grpc.status.UNAUTHENTICATED,
    );
    expect((await callUnary(registry, 'getUnit', { code: '000.00.91.H26' })).error?.code).toBe(
      grpc.status.NOT_FOUND,
    );
  });

  it('does not trust a caller entry sent by the client', async () => {
    const metadata = new grpc.Metadata();
    const forged = create(CallerSchema, {
      kind: CallerKind.OPERATOR,
      subject: 'operator:x',
      roles: ['admin'],
    });
    metadata.set(CALLER_HEADER, Buffer.from(toBinary(CallerSchema, forged)));
    const { error } = await callUnary(registry, 'createUnit', newUnit('000.00.92.H26'), metadata);
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('answers ALREADY_EXISTS for a duplicate code', async () => {
    const first = await callUnary(registry, 'createUnit', newUnit('000.00.93.H26'), bearer(e2e.token));
    expect(first.error).toBeUndefined();
    const { error } = await callUnary(registry, 'createUnit', newUnit('000.00.93.H26'), bearer(e2e.token));
    expect(error?.code).toBe(grpc.status.ALREADY_EXISTS);
    const seeded = await callUnary(registry, 'createUnit', newUnit('000.00.03.H26'), bearer(e2e.token));
    expect(seeded.error?.code).toBe(grpc.status.ALREADY_EXISTS);
  });
});

function basic(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Basic ${Buffer.from('admin:admin').toString('base64')}`);
  return metadata;
}
