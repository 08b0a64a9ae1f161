/**
 * The gateway's check of a signed request's body (lib/rpc/body-check.ts):
 * it must decode as the method's request in the content type it claims —
 * protobuf or JSON, enveloped for Connect streaming, length-prefixed for gRPC
 * and gRPC-Web. Strict JSON (no unknown fields), as Connect decodes it here.
 */
import { type DescMethod, type DescService, fromBinary, fromJsonString } from '@bufbuild/protobuf';
import type { BodyCheck } from '#lib/rpc/body-check.js';

const MESSAGE_MAX = 300;

export function bodyCheck(services: readonly DescService[]): BodyCheck {
  const methods = new Map<string, DescMethod>();
  for (const service of services) {
    for (const method of service.methods) methods.set(`/${service.typeName}/${method.name}`, method);
  }
  return (path, contentType, body) => {
    const method = methods.get(path);
    if (method === undefined) return undefined;
    const type = contentType.split(';')[0]!.trim().toLowerCase();
    try {
      for (const message of messagesOf(type, body)) {
        if (message.json)
          fromJsonString(method.input, message.bytes.toString('utf8'), { ignoreUnknownFields: false });
        else fromBinary(method.input, message.bytes);
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return `the body is not a valid ${method.input.typeName} (${type}): ${reason}`.slice(0, MESSAGE_MAX);
    }
    return undefined;
  };
}

interface Message {
  readonly json: boolean;
  readonly bytes: Buffer;
}

/** The messages of a body, by content type; none for a type this check does not know. */
function messagesOf(type: string, body: Buffer): Message[] {
  switch (type) {
    case 'application/json':
      return [{ json: true, bytes: body }];
    case 'application/proto':
      return [{ json: false, bytes: body }];
    case 'application/connect+json':
      return framed(body, true);
    case 'application/connect+proto':
    case 'application/grpc':
    case 'application/grpc+proto':
    case 'application/grpc-web':
    case 'application/grpc-web+proto':
      return framed(body, false);
    default:
      return [];
  }
}

/** Length-prefixed messages (a flags byte, a 4-byte big-endian length); compressed ones are left to Connect. */
function framed(body: Buffer, json: boolean): Message[] {
  const out: Message[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 5) throw new Error('a message frame is cut short');
    const flags = body[at]!;
    const length = body.readUInt32BE(at + 1);
    if (body.length - at - 5 < length) throw new Error('a message frame is longer than the body');
    if ((flags & 0b1) === 0 && (flags & 0b10) === 0)
      out.push({ json, bytes: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}
