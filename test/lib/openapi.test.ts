/**
 * The OpenAPI description that `buf generate` writes into gen/openapi
 * (tools/protoc-gen-openapi), checked against the generated protobuf-es
 * descriptors: a valid OpenAPI 3.1 document, every RPC a client may call
 * described as the Connect protocol carries it, no internal RPC, every
 * reference resolving, every field in its JSON name.
 */
import { readFileSync } from 'node:fs';
import {
  create,
  createFileRegistry,
  type DescField,
  type DescFile,
  type DescMessage,
  type DescMethod,
  type DescService,
  ScalarType,
} from '@bufbuild/protobuf';
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { Health } from '#gen/grpc/health/v1/health_pb.js';
import { AuthService } from '#gen/lgsp/auth/v1/auth_service_pb.js';
import { AccessLevel } from '#gen/lgsp/common/v1/access_pb.js';
import { NotificationService } from '#gen/lgsp/notification/v1/notification_service_pb.js';
import { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { SsoService } from '#gen/lgsp/sso/v1/sso_service_pb.js';
import { StorageService } from '#gen/lgsp/storage/v1/storage_service_pb.js';
import { TransferService } from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import { accessLevelOf, isProbe } from '#lib/rpc/access.js';
import { openApiPlugin, parseParameter } from '../../tools/protoc-gen-openapi/src/plugin.js';

// biome-ignore lint/suspicious/noExplicitAny: the document is read as plain JSON.
type Json = any;

const SPEC_FILE = new URL('../../gen/openapi/lgsp.openapi.json', import.meta.url);
const spec: Json = JSON.parse(readFileSync(SPEC_FILE, 'utf8'));

/** Every service in proto/, as the gateway routes it (gateway/src/routes/index.ts and the health probe). */
const SERVICES: DescService[] = [
  Health,
  RegistryService,
  AuthService,
  TransferService,
  StorageService,
  NotificationService,
  SsoService,
];

const pathOf = (method: DescMethod) => `/${method.parent.typeName}/${method.name}`;
const levelName = (level: AccessLevel) => AccessLevel[level];

/** What the gateway lets a client call: the probe, and every RPC with a level other than INTERNAL. */
function callable(method: DescMethod): boolean {
  if (isProbe(method.parent.typeName)) return true;
  const level = accessLevelOf(method);
  return level !== AccessLevel.INTERNAL && level !== AccessLevel.UNSPECIFIED;
}

const allMethods = SERVICES.flatMap((service) => service.methods);
const expected = allMethods.filter(callable);
const internal = allMethods.filter((method) => !callable(method));

function resolve(ref: string): Json {
  expect(ref.startsWith('#/'), ref).toBe(true);
  let node: Json = spec;
  for (const part of ref.slice(2).split('/')) {
    node = node?.[part.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return node;
}

function collectRefs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) collectRefs(item, out);
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push(value);
      else collectRefs(value, out);
    }
  }
  return out;
}

describe('the generated OpenAPI description', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(spec.openapi).toMatch(/^3\.1\.\d+$/);
    const result = await validate(structuredClone(spec));
    expect(result.valid, JSON.stringify(result)).toBe(true);
  });

  it('describes every RPC a client may call, and nothing else', () => {
    expect(expected.length).toBeGreaterThan(60);
    expect(internal.length).toBeGreaterThan(0);
    expect(Object.keys(spec.paths).sort()).toEqual(expected.map(pathOf).sort());
    for (const method of internal) expect(spec.paths[pathOf(method)], pathOf(method)).toBeUndefined();
    const text = JSON.stringify(spec);
    for (const method of internal) {
      expect(text.includes(`${method.parent.typeName}/${method.name}`), method.name).toBe(false);
    }
  });

  it('gives each RPC its access level, kind, protocol and description', () => {
    for (const method of expected) {
      const op = spec.paths[pathOf(method)].post;
      expect(op, pathOf(method)).toBeDefined();
      const level = isProbe(method.parent.typeName) ? 'PUBLIC' : levelName(accessLevelOf(method));
      expect(op['x-lgsp-access'], method.name).toBe(level);
      expect(op.description).toContain(`Access: ${level}`);
      expect(op['x-lgsp-method-kind']).toBe(method.methodKind);
      expect(op.summary.length, method.name).toBeGreaterThan(0);
      expect(op.tags).toEqual([method.parent.typeName]);
      const media = method.methodKind === 'unary' ? 'application/json' : 'application/connect+json';
      expect(Object.keys(op.requestBody.content)).toEqual([media]);
      expect(Object.keys(op.responses['200'].content)).toEqual([media]);
      expect(op.requestBody.content[media].schema.$ref).toBe(`#/components/schemas/${method.input.typeName}`);
      expect(op.responses['200'].content[media].schema.$ref).toBe(
        `#/components/schemas/${method.output.typeName}`,
      );
      if (method.methodKind === 'unary') {
        expect(op.responses.default.$ref).toBe('#/components/responses/ConnectError');
      } else {
        expect(op.description).toMatch(/enveloped/);
      }
      // Anyone may call a PUBLIC RPC unsigned; the others need the signature headers.
      expect(op.security.some((requirement: object) => Object.keys(requirement).length === 0)).toBe(
        level === 'PUBLIC',
      );
      for (const requirement of op.security) {
        for (const scheme of Object.keys(requirement)) {
          expect(spec.components.securitySchemes[scheme], scheme).toBeDefined();
        }
      }
    }
    const streams = expected.filter((method) => method.methodKind !== 'unary').map(pathOf);
    expect(streams).toContain('/lgsp.notification.v1.NotificationService/Subscribe');
    expect(streams).toContain('/lgsp.storage.v1.StorageService/Download');
    expect(streams).toContain('/lgsp.storage.v1.StorageService/Upload');
  });

  it('resolves every reference', () => {
    const refs = collectRefs(spec);
    expect(refs.length).toBeGreaterThan(100);
    for (const ref of new Set(refs)) expect(resolve(ref), ref).toBeDefined();
  });

  it('has a schema for every message and enum reachable from an RPC, fields in their JSON names', () => {
    const seen = new Set<string>();
    const visit = (message: DescMessage) => {
      if (seen.has(message.typeName)) return;
      seen.add(message.typeName);
      const schema = spec.components.schemas[message.typeName];
      expect(schema, message.typeName).toBeDefined();
      if (message.typeName.startsWith('google.protobuf.')) return;
      expect(Object.keys(schema.properties)).toEqual(message.fields.map((f) => f.jsonName));
      for (const field of message.fields) {
        checkField(field, schema.properties[field.jsonName]);
        const target = field.message ?? field.enum;
        if (target?.kind === 'enum') {
          expect(spec.components.schemas[target.typeName].enum).toEqual(target.values.map((v) => v.name));
        } else if (target !== undefined) {
          visit(target);
        }
      }
    };
    for (const method of expected) {
      visit(method.input);
      visit(method.output);
    }
    expect(seen.size).toBeGreaterThan(100);
  });

  it('maps the well-known types and errors as the Connect JSON mapping does', () => {
    const schemas = spec.components.schemas;
    expect(schemas['google.protobuf.Timestamp']).toMatchObject({ type: 'string', format: 'date-time' });
    expect(schemas['google.protobuf.Duration'].type).toBe('string');
    expect(new RegExp(schemas['google.protobuf.Duration'].pattern).test('1.5s')).toBe(true);
    const error = resolve(spec.components.responses.ConnectError.content['application/json'].schema.$ref);
    expect(Object.keys(error.properties)).toEqual(['code', 'message', 'details']);
    expect(error.properties.code.enum).toContain('unauthenticated');
    expect(error.properties.code.enum).toHaveLength(16);
    const headers = Object.values(spec.components.securitySchemes).map((s: Json) => s.name);
    expect(headers).toEqual(
      expect.arrayContaining(['lgsp-key-id', 'lgsp-timestamp', 'lgsp-nonce', 'lgsp-signature']),
    );
    // A oneof is a set of alternative properties: at most one may be present.
    const notice = schemas['lgsp.notification.v1.SubscribeResponse'];
    expect(notice['x-lgsp-oneofs']).toEqual({ event: ['notice', 'heartbeat'] });
    expect(notice.not.anyOf).toEqual([{ required: ['notice', 'heartbeat'] }]);
  });
});

function checkField(field: DescField, schema: Json): void {
  const what = `${field.parent.typeName}.${field.name}`;
  expect(schema, what).toBeDefined();
  expect(schema['x-proto-name']).toBe(field.name);
  const value =
    field.fieldKind === 'list'
      ? schema.items
      : field.fieldKind === 'map'
        ? schema.additionalProperties
        : schema;
  if (field.fieldKind === 'list') expect(schema.type, what).toBe('array');
  if (field.fieldKind === 'map') expect(schema.type, what).toBe('object');
  const scalar =
    field.fieldKind === 'scalar' ||
    (field.fieldKind === 'list' && field.listKind === 'scalar') ||
    (field.fieldKind === 'map' && field.mapKind === 'scalar')
      ? (field as { scalar: ScalarType }).scalar
      : undefined;
  if (scalar === undefined) {
    expect(value.$ref, what).toBe(`#/components/schemas/${(field.message ?? field.enum)?.typeName}`);
    return;
  }
  switch (scalar) {
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      expect(value.type, what).toBe('string');
      break;
    case ScalarType.BYTES:
      expect(value, what).toMatchObject({ type: 'string', contentEncoding: 'base64' });
      break;
    case ScalarType.BOOL:
      expect(value.type, what).toBe('boolean');
      break;
    case ScalarType.STRING:
      expect(value.type, what).toBe('string');
      break;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      expect(value.type, what).toBe('number');
      break;
    default:
      expect(value.type, what).toBe('integer');
  }
}

describe('protoc-gen-openapi', () => {
  it('refuses options it does not know', () => {
    expect(parseParameter('open_service=a.B,open_service=c.D,version=v2').openServices).toEqual([
      'a.B',
      'c.D',
    ]);
    expect(() => parseParameter('target=ts')).toThrow(/unknown option "target"/);
  });

  it('produces the committed paths and schemas from the descriptors the code was generated from', () => {
    // The embedded descriptors carry no comments, so only the structure is compared.
    const files: DescFile[] = [];
    const add = (file: DescFile) => {
      if (files.includes(file)) return;
      for (const dependency of file.dependencies) add(dependency);
      files.push(file);
    };
    for (const service of SERVICES) add(service.file);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files.map((f) => f.proto) }));
    expect(registry.getFile('lgsp/common/v1/access.proto')).toBeDefined();
    const response = openApiPlugin.run(
      create(CodeGeneratorRequestSchema, {
        parameter: 'open_service=grpc.health.v1.Health',
        fileToGenerate: files.filter((f) => !f.name.startsWith('google/')).map((f) => f.proto.name),
        protoFile: files.map((f) => f.proto),
      }),
    );
    const json = response.file.find((f) => f.name === 'openapi/lgsp.openapi.json');
    const html = response.file.find((f) => f.name === 'openapi/lgsp.html');
    expect(html?.content).toMatch(/^<!doctype html>/);
    const fresh = JSON.parse(json?.content ?? '{}');
    expect(Object.keys(fresh.paths)).toEqual(Object.keys(spec.paths));
    expect(Object.keys(fresh.components.schemas)).toEqual(Object.keys(spec.components.schemas));
    for (const path of Object.keys(spec.paths)) {
      expect(fresh.paths[path].post['x-lgsp-access']).toBe(spec.paths[path].post['x-lgsp-access']);
    }
  });
});
