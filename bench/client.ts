/**
 * The clients the bench drives, shared by the load workers and by the
 * credential set-up on the main thread: gRPC with a `@grpc/grpc-js` generic
 * client, and Connect JSON with `fetch`. Either can sign every request it
 * sends the way a real client does (docs/auth.md): it encodes the message,
 * signs the bytes exactly as they go on the wire with a fresh nonce and
 * timestamp, and sends the signature headers with them. Signing therefore
 * costs the client what it costs a real one, once per request.
 */
import { createPrivateKey } from 'node:crypto';
import http from 'node:http';
import {
  type DescMessage,
  type DescMethodUnary,
  fromBinary,
  fromJson,
  type MessageShape,
  toBinary,
  toJson,
} from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { grpcFrame, type SigningKey, signRequest } from '#lib/auth/signing.js';
import type { SignerSpec, Target } from './scenarios.js';

/** An access key and the key material that signs with it, ready to use. */
export interface Signer {
  readonly accessKeyId: string;
  readonly key: SigningKey;
}

/** Parses the private key once: parsing a PEM per request would be a cost no real client pays. */
export function signerOf(spec: SignerSpec): Signer {
  const { key } = spec;
  return {
    accessKeyId: spec.accessKeyId,
    key:
      key.kind === 'hmac'
        ? { kind: 'hmac', secret: key.secret }
        : { kind: 'rsa', privateKey: createPrivateKey(key.privateKeyPem) },
  };
}

/** One connection to one server; unary calls only, which is all the bench makes. */
export interface RpcClient {
  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    request: MessageShape<I>,
  ): Promise<MessageShape<O>>;
  close(): void;
}

const DEADLINE_MS = 10_000;

export function clientFor(target: Target, signer?: Signer): RpcClient {
  if (target.protocol === 'grpc') return grpcClient(target.address, signer);
  return target.client === 'node-http'
    ? nodeHttpJsonClient(target.baseUrl, signer)
    : jsonClient(target.baseUrl, signer);
}

/** `/<service>/<method>`: the path of both protocols, and what the signature covers. */
function pathOf(method: DescMethodUnary): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** The signature headers of one request, or none for an unsigned client. */
function signatureHeaders(signer: Signer | undefined, path: string, body: Uint8Array | string) {
  return signer === undefined ? {} : signRequest({ method: 'POST', url: path, body, ...signer });
}

/**
 * A grpc-js generic client: protobuf-es encodes, grpc-js carries. The message
 * is encoded before the call rather than in grpc-js's serializer, because a
 * signature covers the framed bytes and so must see them first; grpc-js then
 * sends those bytes as they are (it does not compress unless asked to).
 */
export function grpcClient(address: string, signer?: Signer): RpcClient {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const asIs = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    unary: (method, request) => {
      const path = pathOf(method);
      const bytes = toBinary(method.input, request);
      const metadata = new grpc.Metadata();
      for (const [name, value] of Object.entries(signatureHeaders(signer, path, grpcFrame(bytes)))) {
        metadata.set(name, value);
      }
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          path,
          asIs,
          (answer: Buffer) => fromBinary(method.output, answer),
          bytes,
          metadata,
          { deadline: Date.now() + DEADLINE_MS },
          (error, answer) => {
            if (error !== null) reject(error);
            else if (answer === undefined) reject(new Error('no answer'));
            else resolve(answer);
          },
        );
      });
    },
    close: () => client.close(),
  };
}

/** Connect unary JSON: POST /<service>/<method> with the message as JSON, the answer parsed as JSON. */
export function jsonClient(baseUrl: string, signer?: Signer): RpcClient {
  return {
    unary: async (method, request) => {
      const path = pathOf(method);
      const body = JSON.stringify(toJson(method.input, request));
      const res = await fetch(`${baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signatureHeaders(signer, path, body) },
        body,
        signal: AbortSignal.timeout(DEADLINE_MS),
      });
      const json: unknown = await res.json();
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(json).slice(0, 200)}`);
      return fromJson(method.output, json as never);
    },
    close: () => {},
  };
}

/**
 * Connect unary JSON with `node:http` and a keep-alive agent: the same
 * requests and connections as `jsonClient` (one per request in flight), with
 * less client work per request than `fetch`, so that a loader on one core
 * falls behind a fast server later.
 */
export function nodeHttpJsonClient(baseUrl: string, signer?: Signer): RpcClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const origin = new URL(baseUrl);
  return {
    unary: (method, request) => {
      const path = pathOf(method);
      const body = JSON.stringify(toJson(method.input, request));
      const headers = {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        ...signatureHeaders(signer, path, body),
      };
      return new Promise((resolve, reject) => {
        const req = http.request(
          {
            agent,
            host: origin.hostname,
            port: origin.port,
            method: 'POST',
            path,
            headers,
            timeout: DEADLINE_MS,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('error', reject);
            res.on('end', () => {
              try {
                const json: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
                if (res.statusCode !== 200) {
                  reject(new Error(`HTTP ${res.statusCode}: ${JSON.stringify(json).slice(0, 200)}`));
                } else {
                  resolve(fromJson(method.output, json as never));
                }
              } catch (error) {
                reject(error);
              }
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error(`no answer within ${DEADLINE_MS} ms`)));
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}
