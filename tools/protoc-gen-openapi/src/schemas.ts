/**
 * JSON Schemas (OpenAPI 3.1) for protobuf messages and enums in the proto3
 * JSON mapping that Connect uses: camelCase field names, 64-bit integers as
 * decimal strings, enums by name, bytes as base64, the well-known types in
 * their special forms (Timestamp as RFC 3339, Duration as "1.5s", ...).
 */
import { type DescEnum, type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import { getComments } from '@bufbuild/protoplugin';

/** A JSON Schema object, as OpenAPI 3.1 embeds it. */
export type Schema = { [key: string]: unknown };

export const refTo = (typeName: string): string => `#/components/schemas/${typeName}`;

/** The comment of a proto element, with the leading space of each line removed; '' without one. */
export function commentOf(desc: Parameters<typeof getComments>[0]): string {
  const text = getComments(desc).leading ?? '';
  const lines = text.split('\n').map((line) => (line.startsWith(' ') ? line.slice(1) : line).trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  while (lines.length > 0 && lines[0] === '') lines.shift();
  return lines.join('\n');
}

/** The first sentence of a comment, on one line: an operation's summary. */
export function firstSentence(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' ').trim();
  const end = flat.search(/[.;:](\s|$)/);
  return end === -1 ? flat : flat.slice(0, end + 1);
}

const INT64_PATTERN = '^-?[0-9]+$';
const UINT64_PATTERN = '^[0-9]+$';

export function scalarSchema(type: ScalarType): Schema {
  switch (type) {
    case ScalarType.DOUBLE:
      return { type: 'number', format: 'double' };
    case ScalarType.FLOAT:
      return { type: 'number', format: 'float' };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: 'integer', format: 'int32' };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: 'integer', format: 'uint32', minimum: 0, maximum: 4294967295 };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: 'string', format: 'int64', pattern: INT64_PATTERN };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: 'string', format: 'uint64', pattern: UINT64_PATTERN };
    case ScalarType.BOOL:
      return { type: 'boolean' };
    case ScalarType.STRING:
      return { type: 'string' };
    case ScalarType.BYTES:
      return { type: 'string', format: 'byte', contentEncoding: 'base64' };
  }
}

const WRAPPERS: Readonly<Record<string, ScalarType>> = {
  'google.protobuf.DoubleValue': ScalarType.DOUBLE,
  'google.protobuf.FloatValue': ScalarType.FLOAT,
  'google.protobuf.Int64Value': ScalarType.INT64,
  'google.protobuf.UInt64Value': ScalarType.UINT64,
  'google.protobuf.Int32Value': ScalarType.INT32,
  'google.protobuf.UInt32Value': ScalarType.UINT32,
  'google.protobuf.BoolValue': ScalarType.BOOL,
  'google.protobuf.StringValue': ScalarType.STRING,
  'google.protobuf.BytesValue': ScalarType.BYTES,
};

/**
 * The schema of a well-known type whose JSON form is not an object of its
 * fields, or undefined for an ordinary message.
 */
export function wellKnownSchema(message: DescMessage): Schema | undefined {
  const wrapped = WRAPPERS[message.typeName];
  if (wrapped !== undefined) {
    return { ...scalarSchema(wrapped), description: `A ${message.name}: the bare value, or absent.` };
  }
  switch (message.typeName) {
    case 'google.protobuf.Timestamp':
      return {
        type: 'string',
        format: 'date-time',
        description:
          'A point in time as an RFC 3339 string in UTC with the "Z" suffix and 0, 3, 6 or 9 fractional digits, e.g. "2026-11-24T08:30:00Z" or "2026-11-24T08:30:00.250Z".',
        examples: ['2026-11-24T08:30:00Z'],
      };
    case 'google.protobuf.Duration':
      return {
        type: 'string',
        pattern: '^-?[0-9]+(\\.[0-9]{1,9})?s$',
        description:
          'A span of time as seconds with the "s" suffix and up to 9 fractional digits, e.g. "30s" or "1.5s".',
        examples: ['1.5s'],
      };
    case 'google.protobuf.FieldMask':
      return {
        type: 'string',
        description: 'Field paths in camelCase, separated by commas, e.g. "name,parentCode".',
      };
    case 'google.protobuf.Empty':
      return { type: 'object', additionalProperties: false, description: 'Nothing: the empty object `{}`.' };
    case 'google.protobuf.Struct':
      return { type: 'object', description: 'Any JSON object.' };
    case 'google.protobuf.Value':
      return { description: 'Any JSON value.' };
    case 'google.protobuf.ListValue':
      return { type: 'array', items: {}, description: 'Any JSON array.' };
    case 'google.protobuf.NullValue':
      return { type: 'null' };
    case 'google.protobuf.Any':
      return {
        type: 'object',
        required: ['@type'],
        properties: { '@type': { type: 'string', description: 'The type URL of the message it holds.' } },
        description: 'A message of any type: "@type" names it, its fields follow.',
      };
    default:
      return undefined;
  }
}

export function enumSchema(desc: DescEnum): Schema {
  const lines = [commentOf(desc), '', 'Values (sent and answered by name; the number is accepted too):', ''];
  for (const value of desc.values) {
    const comment = commentOf(value).replace(/\s*\n\s*/g, ' ');
    lines.push(`- \`${value.name}\` (${value.number})${comment === '' ? '' : `: ${comment}`}`);
  }
  return {
    type: 'string',
    title: desc.name,
    description: lines.join('\n').trim(),
    enum: desc.values.map((value) => value.name),
    'x-lgsp-enum-values': desc.values.map((value) => ({
      name: value.name,
      number: value.number,
      description: commentOf(value),
    })),
  };
}

/** The schema of one value of a field: its element for a list, its value for a map. */
function valueSchema(field: DescField, refs: Set<string>): Schema {
  const ref = (target: DescMessage | DescEnum): Schema => {
    refs.add(target.typeName);
    return { $ref: refTo(target.typeName) };
  };
  switch (field.fieldKind) {
    case 'scalar':
      return scalarSchema(field.scalar);
    case 'enum':
      return ref(field.enum);
    case 'message':
      return ref(field.message);
    case 'list':
      if (field.listKind === 'scalar') return scalarSchema(field.scalar);
      return ref(field.listKind === 'enum' ? field.enum : field.message);
    case 'map':
      if (field.mapKind === 'scalar') return scalarSchema(field.scalar);
      return ref(field.mapKind === 'enum' ? field.enum : field.message);
  }
}

export function fieldSchema(field: DescField, refs: Set<string>): Schema {
  let schema: Schema;
  if (field.fieldKind === 'list') {
    schema = { type: 'array', items: valueSchema(field, refs) };
  } else if (field.fieldKind === 'map') {
    const keys =
      field.mapKey === ScalarType.STRING
        ? undefined
        : field.mapKey === ScalarType.BOOL
          ? { enum: ['true', 'false'] }
          : { pattern: '^-?[0-9]+$' };
    schema = {
      type: 'object',
      additionalProperties: valueSchema(field, refs),
      ...(keys === undefined ? {} : { propertyNames: keys }),
    };
  } else {
    schema = valueSchema(field, refs);
  }
  const notes: string[] = [];
  const comment = commentOf(field);
  if (comment !== '') notes.push(comment);
  if (field.oneof !== undefined) {
    const others = field.oneof.fields.filter((f) => f !== field).map((f) => `\`${f.jsonName}\``);
    notes.push(`One of the oneof \`${field.oneof.name}\`: set at most one of it and ${others.join(', ')}.`);
  }
  return {
    ...schema,
    ...(notes.length === 0 ? {} : { description: notes.join('\n\n') }),
    ...(field.deprecated ? { deprecated: true } : {}),
    'x-proto-name': field.name,
  };
}

export function messageSchema(message: DescMessage, refs: Set<string>): Schema {
  const known = wellKnownSchema(message);
  if (known !== undefined) return { title: message.name, ...known };
  const properties: Record<string, Schema> = {};
  for (const field of message.fields) properties[field.jsonName] = fieldSchema(field, refs);
  const lines = [commentOf(message)];
  const pairs: string[][] = [];
  const oneofs: Record<string, string[]> = {};
  for (const oneof of message.oneofs) {
    const names = oneof.fields.map((f) => f.jsonName);
    oneofs[oneof.name] = names;
    lines.push(`Oneof \`${oneof.name}\`: at most one of ${names.map((n) => `\`${n}\``).join(', ')}.`);
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) pairs.push([names[i]!, names[j]!]);
    }
  }
  return {
    type: 'object',
    title: message.name,
    description: lines.filter((l) => l !== '').join('\n\n'),
    properties,
    additionalProperties: false,
    ...(pairs.length === 0 ? {} : { not: { anyOf: pairs.map((pair) => ({ required: pair })) } }),
    ...(Object.keys(oneofs).length === 0 ? {} : { 'x-lgsp-oneofs': oneofs }),
    ...(message.deprecated ? { deprecated: true } : {}),
  };
}

const EXAMPLE_DEPTH = 3;

/**
 * A request body to start from: every field of the message with a
 * placeholder of its type (the first member only of a oneof), nested
 * messages down to a few levels.
 */
export function exampleOf(message: DescMessage, depth = 0): unknown {
  const known = wellKnownExample(message);
  if (known !== undefined) return known;
  const out: Record<string, unknown> = {};
  if (depth >= EXAMPLE_DEPTH) return out;
  for (const field of message.fields) {
    if (field.oneof !== undefined && field.oneof.fields[0] !== field) continue;
    if (field.fieldKind === 'list') {
      out[field.jsonName] = [];
    } else if (field.fieldKind === 'map') {
      out[field.jsonName] = {};
    } else if (field.fieldKind === 'scalar') {
      out[field.jsonName] = scalarExample(field.scalar);
    } else if (field.fieldKind === 'enum') {
      out[field.jsonName] = (field.enum.values[1] ?? field.enum.values[0])?.name;
    } else {
      out[field.jsonName] = exampleOf(field.message, depth + 1);
    }
  }
  return out;
}

function wellKnownExample(message: DescMessage): unknown {
  const wrapped = WRAPPERS[message.typeName];
  if (wrapped !== undefined) return scalarExample(wrapped);
  switch (message.typeName) {
    case 'google.protobuf.Timestamp':
      return '2026-11-24T08:30:00Z';
    case 'google.protobuf.Duration':
      return '30s';
    case 'google.protobuf.FieldMask':
      return '';
    case 'google.protobuf.Value':
      return null;
    case 'google.protobuf.ListValue':
      return [];
    default:
      return undefined;
  }
}

function scalarExample(type: ScalarType): unknown {
  switch (type) {
    case ScalarType.BOOL:
      return false;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return '';
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return '0';
    default:
      return 0;
  }
}
