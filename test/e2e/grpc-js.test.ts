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
  callUnary,
  decodeRpcStatus,
  type E2eMesh,
  hmacSigner,
  loadGrpcService,
  type Signer,
  signedMetadata,
  startE2eMesh,
} from './support.js';

const RegistryService = loadGrpcService(
  'lgsp/registry/v1/registry_service.proto',
  'lgsp.registry.v1.RegistryService',
);
let e2e: E2eMesh;
let registry: grpc.Client;

beforeAll(async () => {
  e2e = await startE2eMesh();
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

/** A call signed by `signer` (the first administrator unless told). */
function signedCall(method: string, request: object, signer: Signer = e2e.admin) {
  return callUnary(registry, method, request, signedMetadata(RegistryService, method, request, signer));
}

function reasonOf(error: grpc.ServiceError): string {
  const info = statusDetails(error).details.find((d) => d.typeUrl.endsWith(`/${ErrorInfoSchema.typeName}`));
  expect(info, 'ErrorInfo detail').toBeDefined();
  return fromBinary(ErrorInfoSchema, info!.value).reason;
}

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
    expect(reasonOf(error!)).toBe('UNIT_NOT_FOUND');
  });
});

describe('administration', () => {
  it('creates a unit with a request signed in metadata', async () => {
    const { response, error } = await signedCall('createUnit', newUnit('000.00.90.H26'));
    expect(error).toBeUndefined();
    expect(response.unit).toMatchObject({ code: '000.00.90.H26', status: 'UNIT_STATUS_ACTIVE' });
    const read = await callUnary(registry, 'getUnit', { code: '000.00.90.H26' });
    expect(read.response.unit.name).toBe('Ban Quản lý các khu công nghiệp');
  });

  it('answers UNAUTHENTICATED without a signature, and writes nothing', async () => {
    const { error } = await callUnary(registry, 'createUnit', newUnit('000.00.91.H26'));
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(reasonOf(error!)).toBe('AUTHENTICATION_REQUIRED');
    expect((await callUnary(registry, 'getUnit', { code: '000.00.91.H26' })).error?.code).toBe(
      grpc.status.NOT_FOUND,
    );
  });

  it('answers UNAUTHENTICATED to a wrong signature, and writes nothing', async () => {
    const wrongSecret = hmacSigner(e2e.admin.accessKeyId, 'not-the-secret-of-this-key');
    const unknownKey = hmacSigner('AKNOSUCHKEY00000', 'whatever');
    const attempts: Array<[grpc.Metadata, string]> = [
      [signedMetadata(RegistryService, 'createUnit', newUnit('000.00.91.H26'), wrongSecret), 'BAD_SIGNATURE'],
      [signedMetadata(RegistryService, 'createUnit', newUnit('000.00.91.H26'), unknownKey), 'UNKNOWN_KEY'],
      // Signed for another message than the one sent: the body digest gives it away.
      [
        signedMetadata(RegistryService, 'createUnit', newUnit('000.00.94.H26'), e2e.admin),
        'CONTENT_DIGEST_MISMATCH',
      ],
      [basic(), 'AUTHENTICATION_REQUIRED'],
    ];
    for (const [metadata, reason] of attempts) {
      const { error } = await callUnary(registry, 'createUnit', newUnit('000.00.91.H26'), metadata);
      expect(error?.code, reason).toBe(grpc.status.UNAUTHENTICATED);
      expect(reasonOf(error!)).toBe(reason);
    }
    // A bad signature is refused even for a public read: the caller meant to authenticate.
    const read = { code: '000.00.03.H26' };
    const { error } = await callUnary(
      registry,
      'getUnit',
      read,
      signedMetadata(RegistryService, 'getUnit', read, wrongSecret),
    );
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
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
    const first = await signedCall('createUnit', newUnit('000.00.93.H26'));
    expect(first.error).toBeUndefined();
    const { error } = await signedCall('createUnit', newUnit('000.00.93.H26'));
    expect(error?.code).toBe(grpc.status.ALREADY_EXISTS);
    const seeded = await signedCall('createUnit', newUnit('000.00.03.H26'));
    expect(seeded.error?.code).toBe(grpc.status.ALREADY_EXISTS);
  });
});

function basic(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Basic ${Buffer.from('admin:admin').toString('base64')}`);
  return metadata;
}
