/**
 * A request body that does not decode, refused before Connect sees it.
 *
 * Connect decodes the request before any interceptor runs, and answers a
 * protobuf body that does not parse with `internal` (its binary parser uses
 * that code for requests and answers alike). A server that reads the body
 * whole anyway (signed requests, `digestBody`) can check it first and answer
 * `invalid_argument` in the client's own protocol: a Connect JSON error, a
 * Connect end-of-stream message, or a gRPC / gRPC-Web status.
 */
import type http from 'node:http';

/** Why the body does not decode as the request of the method at `path`; undefined when it does, or when unknown. */
export type BodyCheck = (path: string, contentType: string, body: Buffer) => string | undefined;

/** Writes an `invalid_argument` answer in the protocol the request used. */
export function refuseBody(
  req: Pick<http.IncomingMessage, 'headers' | 'httpVersionMajor'>,
  res: http.ServerResponse,
  message: string,
): void {
  if (res.headersSent) return;
  const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
  const status = { 'grpc-status': '3', 'grpc-message': encodeURIComponent(message) };
  if (contentType.startsWith('application/grpc-web')) {
    // gRPC-Web carries the trailers as a last frame of the body (flag 0x80).
    const trailers = Buffer.from(`grpc-status:3\r\ngrpc-message:${status['grpc-message']}\r\n`);
    const head = Buffer.alloc(5);
    head[0] = 0x80;
    head.writeUInt32BE(trailers.length, 1);
    res.writeHead(200, { 'content-type': 'application/grpc-web+proto', ...status });
    res.end(Buffer.concat([head, trailers]));
    return;
  }
  if (contentType.startsWith('application/grpc')) {
    res.writeHead(200, { 'content-type': 'application/grpc' });
    res.addTrailers(status);
    res.end();
    return;
  }
  const error = { code: 'invalid_argument', message };
  if (contentType.startsWith('application/connect+')) {
    // Connect streaming: HTTP 200 and one end-of-stream message carrying the error.
    const json = Buffer.from(JSON.stringify({ error }));
    const head = Buffer.alloc(5);
    head[0] = 0b10;
    head.writeUInt32BE(json.length, 1);
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    res.end(Buffer.concat([head, json]));
    return;
  }
  res.writeHead(400, { 'content-type': 'application/json' });
  res.end(JSON.stringify(error));
}
