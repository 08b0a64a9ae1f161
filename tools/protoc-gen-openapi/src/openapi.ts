/**
 * Builds the OpenAPI 3.1 description of the JSON API from proto descriptors:
 * each RPC a gateway client may call is a POST to `/{package.Service}/{Method}`
 * in the Connect protocol, unary RPCs as plain JSON, streaming RPCs as
 * Connect streams of enveloped JSON messages.
 */
import type {
  DescEnum,
  DescExtension,
  DescFile,
  DescMessage,
  DescMethod,
  FileRegistry,
} from '@bufbuild/protobuf';
import { getOption } from '@bufbuild/protobuf';
import type { GenExtension } from '@bufbuild/protobuf/codegenv2';
import type { MethodOptions } from '@bufbuild/protobuf/wkt';
import {
  commentOf,
  enumSchema,
  exampleOf,
  firstSentence,
  messageSchema,
  refTo,
  type Schema,
} from './schemas.js';

export const ACCESS_EXTENSION = 'lgsp.common.v1.access';
export const ACCESS_ENUM = 'lgsp.common.v1.AccessLevel';
const ACCESS_PREFIX = 'ACCESS_LEVEL_';

export interface BuildOptions {
  /** The files whose services are described (the plugin's files to generate). */
  readonly files: readonly DescFile[];
  readonly registry: FileRegistry;
  /** Services that declare no access level but are open to anyone (the standard health protocol). */
  readonly openServices: readonly string[];
  readonly version: string;
}

/** What a level means, for the operation's description. */
const LEVELS: Readonly<Record<string, string>> = {
  PUBLIC: 'anyone, with or without a signature',
  APP: 'any signed caller: an app, a unit administrator or a province administrator',
  UNIT_ADMIN: 'a unit administrator (of the unit concerned) or a province administrator; signed',
  ADMIN: 'a province administrator only; signed',
};

/** The Connect error codes with the HTTP status a unary call answers them with. */
export const CONNECT_CODES: ReadonlyArray<readonly [string, number, string]> = [
  ['canceled', 499, 'the call was canceled, usually by the caller'],
  ['unknown', 500, 'an error without a more specific code'],
  [
    'invalid_argument',
    400,
    'the request is invalid whatever the state; a BadRequest detail names the fields',
  ],
  ['deadline_exceeded', 504, 'the deadline passed before the call finished'],
  ['not_found', 404, 'the entity does not exist'],
  ['already_exists', 409, 'the entity exists already'],
  ['permission_denied', 403, 'the caller is known but may not do this'],
  ['resource_exhausted', 429, 'a limit or quota was reached'],
  ['failed_precondition', 400, 'the state of the platform does not allow it now'],
  ['aborted', 409, 'a concurrent change won; retry from a fresh read'],
  ['out_of_range', 400, 'a value is beyond what exists (a page, a sequence)'],
  ['unimplemented', 501, 'not implemented (yet) by this platform'],
  ['internal', 500, 'a bug or an invariant broken inside the platform'],
  ['unavailable', 503, 'try again later, with back-off'],
  ['data_loss', 500, 'unrecoverable loss or corruption of data'],
  ['unauthenticated', 401, 'no valid signature; an ErrorInfo detail gives the reason'],
];

const SIGNATURE_HEADERS: ReadonlyArray<readonly [string, string, string]> = [
  ['lgspKeyId', 'lgsp-key-id', 'The access key id of the credential, e.g. `LGSPK7Q2M4X9B3D8F6H1`.'],
  ['lgspAlgorithm', 'lgsp-algorithm', '`HMAC-SHA256`, `HMAC-SHA1` or `RSA-SHA256`.'],
  ['lgspTimestamp', 'lgsp-timestamp', 'The signing time, UTC, whole seconds: `2026-11-24T08:30:00Z`.'],
  ['lgspNonce', 'lgsp-nonce', '16 to 64 characters of `A-Z a-z 0-9 _ -`, new for every request.'],
  [
    'lgspContentSha256',
    'lgsp-content-sha256',
    'Lower-case hex SHA-256 of the request body exactly as sent (for a Connect stream, the enveloped bytes); `STREAMING-UNSIGNED-PAYLOAD` for a client-streaming upload.',
  ],
  [
    'lgspSignature',
    'lgsp-signature',
    'Standard base64 of the HMAC or RSA signature of the string to sign: algorithm, key id, timestamp, nonce, `POST`, path, canonical query, body digest and the hex SHA-256 of the session token (empty without one), each line ended by a newline.',
  ],
];

const SIGNED: Readonly<Record<string, string[]>> = Object.fromEntries(
  SIGNATURE_HEADERS.map(([scheme]) => [scheme, []]),
);
const SIGNED_WITH_SESSION = { ...SIGNED, lgspSessionToken: [] };

export interface Operation {
  readonly method: DescMethod;
  readonly access: string;
}

/** The RPCs a client may call through the gateway, with their access level (without its prefix). */
export function publicOperations(options: BuildOptions): Operation[] {
  const extension = options.registry.getExtension(ACCESS_EXTENSION);
  if (extension === undefined) throw new Error(`the extension ${ACCESS_EXTENSION} is not among the protos`);
  const levels = options.registry.getEnum(ACCESS_ENUM);
  if (levels === undefined) throw new Error(`the enum ${ACCESS_ENUM} is not among the protos`);
  const operations: Operation[] = [];
  for (const file of options.files) {
    for (const service of file.services) {
      const open = options.openServices.includes(service.typeName);
      for (const method of service.methods) {
        const access = open ? 'PUBLIC' : accessLevel(method, extension, levels);
        // Undeclared (nobody may call it) and INTERNAL (platform services only): the gateway refuses both.
        if (access === 'UNSPECIFIED' || access === 'INTERNAL') continue;
        operations.push({ method, access });
      }
    }
  }
  return operations;
}

function accessLevel(method: DescMethod, extension: DescExtension, levels: DescEnum): string {
  const number = getOption(method, extension as GenExtension<MethodOptions, number>);
  const name = levels.values.find((value) => value.number === number)?.name ?? `${ACCESS_PREFIX}UNSPECIFIED`;
  return name.startsWith(ACCESS_PREFIX) ? name.slice(ACCESS_PREFIX.length) : name;
}

export function buildOpenApi(options: BuildOptions): Schema {
  const operations = publicOperations(options);
  const paths: Record<string, Schema> = {};
  const tags: Schema[] = [];
  const wanted = new Set<string>(['lgsp.common.v1.ErrorInfo', 'lgsp.common.v1.BadRequest']);
  for (const { method, access } of operations) {
    const service = method.parent;
    if (!tags.some((tag) => tag['name'] === service.typeName)) {
      tags.push({ name: service.typeName, description: commentOf(service) });
    }
    wanted.add(method.input.typeName);
    wanted.add(method.output.typeName);
    paths[`/${service.typeName}/${method.name}`] = { post: operation(method, access) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'LGSP JSON API',
      version: options.version,
      description: INTRO,
    },
    servers: [{ url: '/', description: 'The gateway that serves this document.' }],
    tags,
    paths,
    components: {
      schemas: { ...schemasOf(options.registry, wanted), ...CONNECT_SCHEMAS },
      responses: {
        ConnectError: {
          description: `A Connect error. The HTTP status follows the code:\n\n${CONNECT_CODES.map(
            ([code, status, meaning]) => `- \`${code}\` (HTTP ${status}): ${meaning}`,
          ).join('\n')}`,
          content: { 'application/json': { schema: { $ref: refTo('connect.Error') } } },
        },
      },
      parameters: PARAMETERS,
      securitySchemes: securitySchemes(),
    },
  };
}

const INTRO = `Every RPC that a client may call through the LGSP gateway, generated from the platform's Protobuf definitions. The same RPCs are served as gRPC and gRPC-Web on the same port; this document describes the Connect protocol with JSON, which needs nothing but HTTP/1.1 and a JSON library.

**Calls.** Each RPC is \`POST /{package.Service}/{Method}\`. A unary RPC takes the request message as a JSON body (\`Content-Type: application/json\`) and answers \`200\` with the response message, or a non-200 status with a Connect error. Streaming RPCs use \`application/connect+json\`: a sequence of enveloped messages (one flags byte, the JSON's length as 4 bytes big-endian, the JSON), ended on the answering side by an end-of-stream message (flags 2) that carries the error, if any; their HTTP status is 200 even on error.

**JSON mapping** (proto3 JSON): fields in camelCase; 64-bit integers as decimal strings; enums by name; bytes as standard base64; \`google.protobuf.Timestamp\` as an RFC 3339 string (\`2026-11-24T08:30:00Z\`); \`google.protobuf.Duration\` as seconds with an \`s\` (\`1.5s\`); at most one member of a oneof. Fields with their default value (0, "", false, [], the first enum value) are left out of answers. The gateway refuses fields it does not know.

**Access.** Each operation gives its access level (\`x-lgsp-access\`): PUBLIC (anyone), APP (any signed caller), UNIT_ADMIN, ADMIN. RPCs internal to the platform are not exposed and not listed. Every call except a PUBLIC one is signed with the \`lgsp-*\` headers as docs/auth.md describes (the request-signing protocol of the platform, with test vectors); \`clients/shell/lgsp-call\` does it in bash.`;

function operation(method: DescMethod, access: string): Schema {
  const comment = commentOf(method);
  const kind = method.methodKind;
  const streaming = kind !== 'unary';
  const notes = [comment, `**Access: ${access}** — ${LEVELS[access] ?? access}.`];
  if (kind === 'server_streaming') {
    notes.push(
      `**Server streaming.** Send one enveloped \`${method.input.typeName}\` with \`Content-Type: application/connect+json\`; the answer is a stream of enveloped \`${method.output.typeName}\` messages, ended by an end-of-stream message (\`connect.EndStream\`). The HTTP status is 200 even when the stream ends in error: read the end message. The body digest of a signed call covers the enveloped bytes.`,
    );
  } else if (kind === 'client_streaming') {
    notes.push(
      `**Client streaming.** Send enveloped \`${method.input.typeName}\` messages with \`Content-Type: application/connect+json\`, then close the request body; the answer is one enveloped \`${method.output.typeName}\`, then an end-of-stream message (\`connect.EndStream\`). A signed call sends \`lgsp-content-sha256: STREAMING-UNSIGNED-PAYLOAD\`.`,
    );
  } else if (kind === 'bidi_streaming') {
    notes.push(
      `**Bidirectional streaming.** Enveloped \`${method.input.typeName}\` messages in, enveloped \`${method.output.typeName}\` messages out (\`application/connect+json\`, HTTP/2 only), ended by an end-of-stream message.`,
    );
  }
  const mediaType = streaming ? 'application/connect+json' : 'application/json';
  const request: Schema = {
    schema: { $ref: refTo(method.input.typeName) },
    example: exampleOf(method.input),
  };
  const responses: Schema = {
    '200': {
      description: streaming
        ? `A stream of enveloped \`${method.output.typeName}\` messages, then a \`connect.EndStream\` message.`
        : `The \`${method.output.typeName}\`.`,
      content: { [mediaType]: { schema: { $ref: refTo(method.output.typeName) } } },
    },
  };
  if (!streaming) responses['default'] = { $ref: '#/components/responses/ConnectError' };
  return {
    operationId: `${method.parent.typeName}.${method.name}`,
    tags: [method.parent.typeName],
    summary: firstSentence(comment) || method.name,
    description: notes.filter((n) => n !== '').join('\n\n'),
    ...(method.deprecated ? { deprecated: true } : {}),
    parameters: [
      ...(streaming ? [] : [{ $ref: '#/components/parameters/ConnectProtocolVersion' }]),
      { $ref: '#/components/parameters/ConnectTimeoutMs' },
      { $ref: '#/components/parameters/RequestId' },
    ],
    security: access === 'PUBLIC' ? [{}, SIGNED, SIGNED_WITH_SESSION] : [SIGNED, SIGNED_WITH_SESSION],
    requestBody: {
      required: true,
      description: streaming
        ? `Enveloped \`${method.input.typeName}\` messages.`
        : `The \`${method.input.typeName}\` as JSON.`,
      content: { [mediaType]: request },
    },
    responses,
    'x-lgsp-access': access,
    'x-lgsp-method-kind': kind,
    'x-lgsp-rpc': `${method.parent.typeName}/${method.name}`,
  };
}

/** The schemas of the wanted messages and enums and of every type they reach, sorted by name. */
function schemasOf(registry: FileRegistry, wanted: Set<string>): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  const queue = [...wanted];
  for (let typeName = queue.shift(); typeName !== undefined; typeName = queue.shift()) {
    if (out[typeName] !== undefined) continue;
    const desc: DescMessage | DescEnum | undefined =
      registry.getMessage(typeName) ?? registry.getEnum(typeName);
    if (desc === undefined) throw new Error(`unknown type ${typeName}`);
    const refs = new Set<string>();
    out[typeName] = desc.kind === 'message' ? messageSchema(desc, refs) : enumSchema(desc);
    queue.push(...refs);
  }
  return Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((name) => [name, out[name]!]),
  );
}

const CONNECT_SCHEMAS: Record<string, Schema> = {
  'connect.Error': {
    type: 'object',
    title: 'Connect error',
    description:
      'The body of a failed unary call, and the `error` of a stream that ended in error. LGSP attaches an `lgsp.common.v1.BadRequest` detail to `invalid_argument` and an `lgsp.common.v1.ErrorInfo` detail (a machine-readable reason) to the other codes.',
    required: ['code'],
    properties: {
      code: {
        type: 'string',
        enum: CONNECT_CODES.map(([code]) => code),
        description: 'The Connect error code.',
      },
      message: { type: 'string', description: 'What went wrong, in English, for a developer.' },
      details: { type: 'array', items: { $ref: refTo('connect.ErrorDetail') } },
    },
  },
  'connect.ErrorDetail': {
    type: 'object',
    title: 'Connect error detail',
    required: ['type', 'value'],
    properties: {
      type: {
        type: 'string',
        description:
          'The detail\'s message type, e.g. "lgsp.common.v1.ErrorInfo" or "lgsp.common.v1.BadRequest".',
      },
      value: {
        type: 'string',
        format: 'byte',
        contentEncoding: 'base64',
        description: 'The detail in the Protobuf binary format, base64 without padding.',
      },
      debug: {
        description: 'The same detail as JSON, for reading: `details[i].debug.reason` of an ErrorInfo.',
        anyOf: [{ $ref: refTo('lgsp.common.v1.ErrorInfo') }, { $ref: refTo('lgsp.common.v1.BadRequest') }],
      },
    },
  },
  'connect.EndStream': {
    type: 'object',
    title: 'Connect end-of-stream message',
    description:
      'The last enveloped message of a Connect stream answer (flags 2): `{}` when the stream ended cleanly, otherwise its error.',
    properties: {
      error: { $ref: refTo('connect.Error') },
      metadata: {
        type: 'object',
        description: 'Trailers: header names mapped to lists of values.',
        additionalProperties: { type: 'array', items: { type: 'string' } },
      },
    },
  },
};

const PARAMETERS: Record<string, Schema> = {
  ConnectProtocolVersion: {
    name: 'Connect-Protocol-Version',
    in: 'header',
    required: false,
    description: 'The Connect protocol version; `1` when sent.',
    schema: { type: 'string', enum: ['1'] },
  },
  ConnectTimeoutMs: {
    name: 'Connect-Timeout-Ms',
    in: 'header',
    required: false,
    description:
      "The caller's deadline in milliseconds. Without it, unary calls have the gateway's default deadline and streams none.",
    schema: { type: 'string', pattern: '^[0-9]{1,10}$' },
  },
  RequestId: {
    name: 'x-request-id',
    in: 'header',
    required: false,
    description:
      'A request id of your choosing (1 to 128 characters of `A-Z a-z 0-9 . _ -`), repeated in the logs and the audit log; otherwise the gateway assigns one.',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' },
  },
};

function securitySchemes(): Record<string, Schema> {
  const schemes: Record<string, Schema> = {};
  for (const [scheme, header, description] of SIGNATURE_HEADERS) {
    schemes[scheme] = {
      type: 'apiKey',
      in: 'header',
      name: header,
      description: `${description} One of the request-signature headers, sent together; see docs/auth.md.`,
    };
  }
  schemes['lgspSessionToken'] = {
    type: 'apiKey',
    in: 'header',
    name: 'lgsp-session-token',
    description:
      'A session token (Art. 10.3), only for calls made under one; the signature then covers its SHA-256. See docs/auth.md.',
  };
  return schemes;
}
