/**
 * Bad input to the transfer flows, end to end through the gateway: each is
 * answered with a clear code and reason, leaves nothing half-written (no
 * transfer, no status change), and is in the audit log, recorded by the
 * service that refused it. The mesh here takes request bodies up to 512 KiB,
 * so that inline content over the 256 KiB inline limit reaches the service.
 */
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditOutcome } from '#gen/lgsp/common/v1/audit_pb.js';
import { grpcFrame, signRequest } from '#lib/auth/signing.js';
import { REQUEST_ID_HEADER } from '#lib/rpc/caller.js';
import { edxmlDocument } from '../../services/transfer/test/edxml-fixtures.js';
import { uniqueName } from '../support/env.js';
import type { JsonAnswer, Signer } from './support.js';
import {
  type App,
  type AuditTrail,
  call,
  chunksOf,
  createBody,
  downloadJson,
  downloadStream,
  followAudit,
  type GrpcClients,
  getTransfer,
  grantSend,
  grpcCall,
  grpcClients,
  grpcRefusal,
  type Json,
  newApp,
  newUnit,
  ok,
  Platform,
  pendingDelivery,
  purged,
  REGISTRY,
  type Refusal,
  refusalOf,
  refused,
  STORAGE,
  sendJson,
  sha256b64,
  TRANSFER,
  type TransferRequest,
  transferReaches,
  uploadJson,
  uploadStream,
} from './transfers.support.js';

const READ_MAX_BYTES = 512 * 1024;

let platform: Platform;
let audit: AuditTrail;
let grpcs: GrpcClients;

beforeAll(async () => {
  platform = await Platform.start({ readMaxBytes: READ_MAX_BYTES });
  audit = await followAudit(platform);
  grpcs = grpcClients(platform);
});

afterAll(async () => {
  grpcs?.close();
  await audit?.stop();
  await platform?.close();
});

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** A source in a unit of its own, and a destination unit with one app it may send to. */
async function pair(): Promise<{ source: App; destination: App }> {
  const source = await newApp(platform, await newUnit(platform, 'Đơn vị nguồn'), 'QLVB nguồn');
  const destination = await newApp(platform, await newUnit(platform, 'Đơn vị nhận'), 'QLVB nhận');
  await grantSend(platform, source, destination.unitCode);
  return { source, destination };
}

/**
 * Calls, expects a refusal with `code` and `reason`, and checks that exactly
 * one refusal of that RPC with that reason is in the audit log, recorded by `by`.
 */
async function expectRefusal(
  service: string,
  method: string,
  body: unknown,
  signer: Signer,
  code: string,
  reason: string,
  by: 'transfer' | 'storage' | 'gateway' = service === STORAGE ? 'storage' : 'transfer',
): Promise<Refusal> {
  const requestId = uniqueName('trf');
  const answer = await call(platform, service, method, body, signer, { requestId });
  const refusal = refused(answer, code, reason);
  await expectAudited(requestId, `${service}/${method}`, reason, by);
  return refusal;
}

async function expectAudited(requestId: string, action: string, reason: string, by: string): Promise<void> {
  const events = await audit.eventsOf(requestId);
  expect(events.map((e) => [e.action, AuditOutcome[e.outcome], e.reason, e.source])).toEqual([
    [action, 'REFUSED', reason, by],
  ]);
  expect(events[0]!.actor?.appId).not.toBeUndefined();
}

/** The source has no transfer and no status change: nothing was written. */
async function expectNothingWritten(source: App): Promise<void> {
  const listed = ok(await call(platform, TRANSFER, 'ListTransfers', {}, source.signer));
  expect(listed.transfers ?? []).toEqual([]);
  const session = ok(await call(platform, TRANSFER, 'OpenSession', {}, source.signer));
  expect(session.changes ?? []).toEqual([]);
  expect(session.openTransferCount ?? 0).toBe(0);
}

const request = (
  destination: App,
  content: Buffer,
  extra: Partial<TransferRequest> = {},
): TransferRequest => ({
  recipients: [destination.unitCode],
  content,
  inline: true,
  ...extra,
});

// ---------------------------------------------------------------------------

describe('recipients', () => {
  it('refuses a recipient that does not exist: NOT_FOUND RECIPIENT_NOT_FOUND, naming it', async () => {
    const { source, destination } = await pair();
    for (const missing of ['000.99.98.H26', 'app_00000000000000ff']) {
      for (const inline of [true, false]) {
        const body = createBody(
          request(destination, json({ a: 1 }), { recipients: [destination.unitCode, missing], inline }),
        );
        const refusal = await expectRefusal(
          TRANSFER,
          'CreateTransfer',
          body,
          source.signer,
          'not_found',
          'RECIPIENT_NOT_FOUND',
        );
        expect(refusal.message).toContain(missing);
        expect(refusal.message).toContain('recipients[1]');
      }
    }
    await expectNothingWritten(source);
  });

  it('refuses a dissolved unit: FAILED_PRECONDITION RECIPIENT_INACTIVE', async () => {
    const { source, destination } = await pair();
    ok(
      await call(
        platform,
        REGISTRY,
        'DissolveUnit',
        { code: destination.unitCode, decisionRef: '99/QĐ-UBND', reason: 'sáp nhập' },
        platform.admin,
      ),
    );
    await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      createBody(request(destination, json({ a: 1 }))),
      source.signer,
      'failed_precondition',
      'RECIPIENT_INACTIVE',
    );
    // Its app was suspended with it.
    await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      createBody(request(destination, json({ a: 1 }), { recipients: [destination.id] })),
      source.signer,
      'failed_precondition',
      'RECIPIENT_INACTIVE',
    );
    await expectNothingWritten(source);
  });

  it('refuses a recipient the source holds no SEND grant for: PERMISSION_DENIED RECIPIENT_NOT_GRANTED', async () => {
    const { source, destination } = await pair();
    const elsewhere = await newApp(platform, await newUnit(platform), 'QLVB không được cấp quyền');
    for (const recipients of [
      [elsewhere.unitCode],
      [elsewhere.id],
      [destination.unitCode, elsewhere.unitCode],
    ]) {
      await expectRefusal(
        TRANSFER,
        'CreateTransfer',
        createBody(request(destination, json({ a: 1 }), { recipients, inline: false })),
        source.signer,
        'permission_denied',
        'RECIPIENT_NOT_GRANTED',
      );
    }
    await expectNothingWritten(source);
  });

  it('refuses a unit without an app for the content type, and a unit of a peer zone', async () => {
    const { source } = await pair();
    const pdfOnly = await newApp(platform, await newUnit(platform), 'Chỉ nhận PDF', ['application/pdf']);
    await grantSend(platform, source, pdfOnly.unitCode);
    await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      createBody(request(pdfOnly, json({ a: 1 }))),
      source.signer,
      'failed_precondition',
      'NO_RECEIVING_APP',
    );
    await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      createBody(request(pdfOnly, json({ a: 1 }), { recipients: ['000.00.00.H41'] })),
      source.signer,
      'failed_precondition',
      'PEER_ZONE_UNSUPPORTED',
    );
    await expectNothingWritten(source);
  });
});

// ---------------------------------------------------------------------------

describe('the request itself', () => {
  it('refuses malformed fields with INVALID_ARGUMENT naming each one', async () => {
    const { source } = await pair();
    const refusal = await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      {
        recipients: [{ unitCode: '28.22.H17' }],
        subject: '',
        contentType: 'json',
        sizeBytes: '0',
        sha256: Buffer.from('short').toString('base64'),
        idempotencyKey: 'có dấu',
      },
      source.signer,
      'invalid_argument',
      'INVALID_ARGUMENT',
    );
    expect(refusal.violations).toEqual({
      'recipients[0].unit_code': 'UNIT_CODE_FORMAT',
      subject: 'REQUIRED',
      content_type: 'MEDIA_TYPE_FORMAT',
      protocol: 'REQUIRED',
      size_bytes: 'OUT_OF_RANGE',
      sha256: 'SHA256_FORMAT',
      idempotency_key: 'IDEMPOTENCY_KEY_FORMAT',
    });
    await expectNothingWritten(source);
  });

  it.each([
    ['GetTransfer', { transferId: 'trf_123' }, 'transfer_id'],
    ['CommitTransfer', { transferId: "trf_0123456789abcdef' --" }, 'transfer_id'],
    ['CancelTransfer', { transferId: 'dlv_0123456789abcdef' }, 'transfer_id'],
    ['GetDeliveryStatus', { transferId: '../etc/passwd' }, 'transfer_id'],
    ['AcceptDelivery', { deliveryId: 'trf_0123456789abcdef' }, 'delivery_id'],
    ['RefuseDelivery', { deliveryId: 'x', reason: 'REFUSAL_REASON_DUPLICATE' }, 'delivery_id'],
  ])('refuses %s with an id that is not one: INVALID_ARGUMENT ID_FORMAT', async (method, body, field) => {
    const { source } = await pair();
    const refusal = await expectRefusal(
      TRANSFER,
      method,
      body,
      source.signer,
      'invalid_argument',
      'INVALID_ARGUMENT',
    );
    expect(refusal.violations).toEqual({ [field]: 'ID_FORMAT' });
  });

  /** A body sent as it is, signed over its exact bytes, with a request id to find its audit event. */
  async function postRaw(source: App, body: Uint8Array | string, contentType: string) {
    const path = `/${TRANSFER}/CreateTransfer`;
    const requestId = uniqueName('raw');
    const headers = signRequest({ method: 'POST', url: path, body, ...source.signer });
    const res = await fetch(`${platform.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType, [REQUEST_ID_HEADER]: requestId, ...headers },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { requestId, status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  const MALFORMED_JSON = [
    '{"recipients": [{"unitCode": "000.00.04.H26"}',
    '[1, 2, 3]',
    '{"sizeBytes": {"a": 1}}',
    '{"protocol": "TRANSFER_PROTOCOL_FAX"}',
  ];

  async function sendMalformedJson(source: App) {
    const answers = [];
    for (const body of MALFORMED_JSON) {
      const answer = await postRaw(source, body, 'application/json');
      expect(answer.body?.code, `${body}: ${JSON.stringify(answer.body)}`).toBe('invalid_argument');
      expect(answer.status).toBe(400);
      expect(answer.body.message).not.toBe('');
      answers.push(answer);
    }
    return answers;
  }

  it('refuses malformed JSON bodies with INVALID_ARGUMENT', async () => {
    const { source } = await pair();
    await sendMalformedJson(source);
    await expectNothingWritten(source);
  });

  // Connect decodes the body before any interceptor runs: the gateway checks a
  // signed body itself first, and records the refusal (lib/rpc/body-check.ts).
  it('records the refusals of bodies that do not decode in the audit log', async () => {
    const { source } = await pair();
    const answers = await sendMalformedJson(source);
    const recorded = await Promise.all(
      answers.map((a) =>
        audit.eventsOf(a.requestId).then((events) => events.map((e) => AuditOutcome[e.outcome])),
      ),
    );
    expect(recorded).toEqual(MALFORMED_JSON.map(() => ['REFUSED']));
  });

  // Connect alone would answer these INTERNAL (its binary parser raises Internal
  // for requests and answers alike); the gateway's body check answers first.
  it.each([
    // Field 1 (recipients), length-delimited, claiming far more bytes than follow.
    ['a length past its end', [0x0a, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x01]],
    // Field 1 with wire type 7, which does not exist.
    ['a wire type that does not exist', [0x0f, 0x01, 0x02]],
  ])(
    'refuses a malformed protobuf body (%s) with INVALID_ARGUMENT, over Connect and gRPC',
    async (_what, bytes) => {
      const { source } = await pair();
      const garbage = Buffer.from(bytes);
      const answer = await postRaw(source, garbage, 'application/proto');
      expect.soft(answer.body?.code, JSON.stringify(answer.body)).toBe('invalid_argument');
      expect.soft(answer.status).toBe(400);

      // The same bytes as a gRPC message, sent as they are by a raw grpc-js client.
      const path = `/${TRANSFER}/CreateTransfer`;
      const raw = new grpc.Client(platform.address, grpc.credentials.createInsecure());
      const metadata = new grpc.Metadata();
      const signed = signRequest({ method: 'POST', url: path, body: grpcFrame(garbage), ...source.signer });
      for (const [name, value] of Object.entries(signed)) metadata.set(name, value);
      const error = await new Promise<grpc.ServiceError | null>((resolve) =>
        raw.makeUnaryRequest(
          path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          garbage,
          metadata,
          { deadline: Date.now() + 10_000 },
          (err) => resolve(err),
        ),
      );
      raw.close();
      expect.soft(error?.code, error?.message).toBe(grpc.status.INVALID_ARGUMENT);
      await expectNothingWritten(source);
    },
  );

  it('refuses inline content over the inline limit (256 KiB): upload it instead', async () => {
    const { source, destination } = await pair();
    const big = Buffer.alloc(300_000, 'a');
    const refusal = await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      createBody(request(destination, big, { contentType: 'text/plain' })),
      source.signer,
      'invalid_argument',
      'INVALID_ARGUMENT',
    );
    expect(refusal.violations).toEqual({ inline_content: 'TOO_LARGE' });
    await expectNothingWritten(source);
  });

  it("answers a body past the gateway's limit with RESOURCE_EXHAUSTED, also on a connection used before", async () => {
    const { source, destination } = await pair();
    const huge = JSON.stringify(
      createBody(request(destination, Buffer.alloc(READ_MAX_BYTES, 'b'), { contentType: 'text/plain' })),
    );
    // A keep-alive connection of its own (one socket), so that what happens to it stays here.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (method: string, body: string) =>
      new Promise<string>((resolve) => {
        const path = `/${TRANSFER}/${method}`;
        const headers = signRequest({ method: 'POST', url: path, body, ...source.signer });
        const req = http.request(
          `${platform.url}${path}`,
          {
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', ...headers },
            timeout: 10_000,
          },
          (res) => {
            const parts: Buffer[] = [];
            res.on('data', (part: Buffer) => parts.push(part));
            res.on('end', () => {
              const text = Buffer.concat(parts).toString();
              resolve(res.statusCode === 200 ? 'ok' : (JSON.parse(text) as { code: string }).code);
            });
          },
        );
        req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
        req.end(body);
      });
    const outcomes: string[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        // A request that keeps the HTTP/1.1 connection alive, then one the gateway must refuse on it.
        outcomes.push(await post('ListTransfers', '{}'));
        outcomes.push(await post('CreateTransfer', huge));
      }
    } finally {
      agent.destroy();
    }
    expect(outcomes).toEqual(['ok', 'resource_exhausted', 'ok', 'resource_exhausted']);
    await expectNothingWritten(source);
  });

  it('refuses inline content of another digest or size than declared: INVALID_ARGUMENT', async () => {
    const { source, destination } = await pair();
    const content = json({ so: 1 });
    const body = createBody(request(destination, content));
    const wrongDigest = { ...body, sha256: sha256b64(json({ so: 2 })) };
    expect(
      (
        await expectRefusal(
          TRANSFER,
          'CreateTransfer',
          wrongDigest,
          source.signer,
          'invalid_argument',
          'INVALID_ARGUMENT',
        )
      ).violations,
    ).toEqual({ inline_content: 'DIGEST_MISMATCH' });
    const wrongSize = { ...body, sizeBytes: String(content.length + 1) };
    expect(
      (
        await expectRefusal(
          TRANSFER,
          'CreateTransfer',
          wrongSize,
          source.signer,
          'invalid_argument',
          'INVALID_ARGUMENT',
        )
      ).violations,
    ).toEqual({ inline_content: 'SIZE_MISMATCH' });
    await expectNothingWritten(source);
  });

  it('refuses a request that is not signed by an app', async () => {
    const { destination } = await pair();
    const body = createBody(request(destination, json({ a: 1 })));
    const anonymous = await call(platform, TRANSFER, 'CreateTransfer', body, undefined);
    refused(anonymous, 'unauthenticated', 'AUTHENTICATION_REQUIRED');
    // The administrator is an operator, not an app: it does not send transfers.
    await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      body,
      platform.admin,
      'permission_denied',
      'APP_REQUIRED',
    );
  });
});

// ---------------------------------------------------------------------------

describe('content that does not match its declared type (Art. 8.4)', () => {
  it('refuses inline JSON that is not JSON, before anything is stored', async () => {
    const { source, destination } = await pair();
    await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      createBody(request(destination, Buffer.from('<html>không phải JSON</html>'))),
      source.signer,
      'failed_precondition',
      'CONTENT_TYPE_MISMATCH',
    );
    await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      createBody(request(destination, Buffer.from('plain text'), { contentType: 'application/pdf' })),
      source.signer,
      'failed_precondition',
      'CONTENT_TYPE_MISMATCH',
    );
    await expectNothingWritten(source);
  });

  it('fails an uploaded transfer whose content is not what it says at commit, and drops the content', async () => {
    const { source, destination } = await pair();
    const content = Buffer.from('a;b;c\n'.repeat(20_000));
    const created = ok(
      await call(
        platform,
        TRANSFER,
        'CreateTransfer',
        createBody(request(destination, content, { inline: false, contentType: 'application/json' })),
        source.signer,
      ),
    );
    await uploadJson(platform, source, created.uploadSpace, content);
    const refusal = await expectRefusal(
      TRANSFER,
      'CommitTransfer',
      { transferId: created.transfer.id },
      source.signer,
      'failed_precondition',
      'CONTENT_TYPE_MISMATCH',
    );
    expect(refusal.metadata['transfer_id']).toBe(created.transfer.id);
    const failed = await transferReaches(platform, source, created.transfer.id, 'TRANSFER_STATE_FAILED');
    expect(failed.stateReason).toMatch(/JSON/);
    await purged(platform, source, created.uploadSpace.blobId);
  });

  it('refuses an EDXML transfer whose content is no edXML package: EDXML_HEADER_MISSING', async () => {
    const { source, destination } = await pair();
    await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      createBody(
        request(destination, json({ vanBan: 1 }), {
          contentType: 'application/edxml+xml',
          protocol: 'TRANSFER_PROTOCOL_EDXML',
        }),
      ),
      source.signer,
      'failed_precondition',
      'EDXML_HEADER_MISSING',
    );
    await expectNothingWritten(source);
  });

  it('refuses an edXML package that does not address every unit recipient', async () => {
    const { source, destination } = await pair();
    const other = await newApp(platform, await newUnit(platform), 'QLVB thứ hai');
    await grantSend(platform, source, other.unitCode);
    const document = edxmlDocument({ from: source.unitCode, to: [destination.unitCode] });
    await expectRefusal(
      TRANSFER,
      'CreateTransfer',
      createBody({
        recipients: [destination.unitCode, other.unitCode],
        content: Buffer.from(document),
        inline: true,
        contentType: 'application/edxml+xml',
        protocol: 'TRANSFER_PROTOCOL_EDXML',
      }),
      source.signer,
      'failed_precondition',
      'EDXML_RECIPIENTS_DISAGREE',
    );
    await expectNothingWritten(source);
  });

  it.each([
    ['in the default namespace', ''],
    ['with the edXML: prefix', 'edXML:'],
  ])('accepts a valid edXML package %s and shows its header facts', async (_what, prefix) => {
    const { source, destination } = await pair();
    const other = await newApp(platform, await newUnit(platform), 'QLVB thứ hai');
    await grantSend(platform, source, other.unitCode);
    const document = Buffer.from(
      edxmlDocument({
        prefix,
        from: source.unitCode,
        to: [destination.unitCode, other.unitCode],
        codeNumber: '2024',
        codeNotation: 'UBND-VP',
        promulgationDate: '2024/06/03',
        subject: 'V/v triển khai LGSP',
      }),
    );
    const transfer = await sendJson(platform, source, {
      recipients: [destination.unitCode, other.unitCode],
      content: document,
      inline: document.length < 200_000,
      contentType: 'application/edxml+xml',
      protocol: 'TRANSFER_PROTOCOL_EDXML',
    });
    expect(transfer.contentMetadata).toEqual({
      from_organ_id: source.unitCode,
      to_organ_ids: `${destination.unitCode},${other.unitCode}`,
      code_number: '2024',
      code_notation: 'UBND-VP',
      promulgation_date: '2024/06/03',
      document_id: 'H26.2024.0001',
      subject: 'V/v triển khai LGSP',
    });
    // The destination sees the same document, byte for byte.
    const delivery = await pendingDelivery(platform, destination, transfer.id);
    expect(delivery.protocol).toBe('TRANSFER_PROTOCOL_EDXML');
  });
});

// ---------------------------------------------------------------------------

describe('uploads', () => {
  async function uploading(contentType = 'text/plain', size = 100_000) {
    const { source, destination } = await pair();
    const content = Buffer.alloc(size, 'u');
    const created = ok(
      await call(
        platform,
        TRANSFER,
        'CreateTransfer',
        createBody(request(destination, content, { inline: false, contentType })),
        source.signer,
      ),
    );
    return { source, destination, content, transfer: created.transfer, space: created.uploadSpace };
  }

  const chunk = (space: Json, offset: number, bytes: Buffer) => ({
    blobId: space.blobId,
    uploadToken: space.uploadToken,
    offset: String(offset),
    chunk: bytes.toString('base64'),
  });

  it('refuses a piece at the wrong offset, telling the expected one; the stream header too', async () => {
    const { source, content, space } = await uploading();
    let refusal = await expectRefusal(
      STORAGE,
      'UploadChunk',
      chunk(space, 10, content.subarray(10, 20)),
      source.signer,
      'failed_precondition',
      'OFFSET_MISMATCH',
    );
    expect(refusal.metadata).toMatchObject({ expected_offset: '0', offset: '10' });
    await uploadJson(platform, source, space, content.subarray(0, 40_000));
    refusal = await expectRefusal(
      STORAGE,
      'UploadChunk',
      chunk(space, 80_000, content.subarray(80_000, 90_000)),
      source.signer,
      'failed_precondition',
      'OFFSET_MISMATCH',
    );
    expect(refusal.metadata['expected_offset']).toBe('40000');
    // Resending a piece already stored whole is harmless.
    const again = ok(
      await call(
        platform,
        STORAGE,
        'UploadChunk',
        chunk(space, 0, content.subarray(0, 40_000)),
        source.signer,
      ),
    );
    expect(again.receivedBytes).toBe('40000');

    const stream = await uploadStream(
      grpcs,
      source.signer,
      { blobId: space.blobId, uploadToken: space.uploadToken, offset: 0 },
      [content.subarray(0, 1000)],
    );
    expect(grpcRefusal(stream.error)).toMatchObject({
      code: 'FAILED_PRECONDITION',
      reason: 'OFFSET_MISMATCH',
      metadata: { expected_offset: '40000' },
    });
  });

  it('refuses more bytes than declared: OUT_OF_RANGE SIZE_EXCEEDED', async () => {
    const { source, content, space } = await uploading('text/plain', 50_000);
    await uploadJson(platform, source, space, content.subarray(0, 40_000));
    await expectRefusal(
      STORAGE,
      'UploadChunk',
      chunk(space, 40_000, Buffer.alloc(10_001, 'u')),
      source.signer,
      'out_of_range',
      'SIZE_EXCEEDED',
    );
  });

  it('refuses a commit before the upload is complete: UPLOAD_INCOMPLETE with how far it got', async () => {
    const { source, content, space, transfer } = await uploading();
    let refusal = await expectRefusal(
      TRANSFER,
      'CommitTransfer',
      { transferId: transfer.id },
      source.signer,
      'failed_precondition',
      'UPLOAD_INCOMPLETE',
    );
    expect(refusal.metadata).toMatchObject({ received_bytes: '0', size_bytes: '100000' });
    await uploadJson(platform, source, space, content.subarray(0, 40_000));
    refusal = await expectRefusal(
      TRANSFER,
      'CommitTransfer',
      { transferId: transfer.id },
      source.signer,
      'failed_precondition',
      'UPLOAD_INCOMPLETE',
    );
    expect(refusal.metadata['received_bytes']).toBe('40000');
    // Nothing changed: the upload goes on and the commit then succeeds.
    await uploadJson(platform, source, space, content, 40_000);
    const committed = ok(
      await call(platform, TRANSFER, 'CommitTransfer', { transferId: transfer.id }, source.signer),
    );
    expect(committed.transfer.state).toBe('TRANSFER_STATE_DELIVERING');
  });

  it('drops content whose digest does not match: DATA_LOSS on the last piece, CONTENT_DROPPED at commit', async () => {
    const { source, destination } = await pair();
    const declared = Buffer.alloc(90_000, 'd');
    const sent = Buffer.alloc(90_000, 'e');
    const created = ok(
      await call(
        platform,
        TRANSFER,
        'CreateTransfer',
        createBody(request(destination, declared, { inline: false, contentType: 'text/plain' })),
        source.signer,
      ),
    );
    const space = created.uploadSpace;
    await uploadJson(platform, source, space, sent.subarray(0, 80_000));
    await expectRefusal(
      STORAGE,
      'UploadChunk',
      chunk(space, 80_000, sent.subarray(80_000)),
      source.signer,
      'data_loss',
      'DIGEST_MISMATCH',
    );
    await expectRefusal(
      TRANSFER,
      'CommitTransfer',
      { transferId: created.transfer.id },
      source.signer,
      'failed_precondition',
      'CONTENT_DROPPED',
    );
    await transferReaches(platform, source, created.transfer.id, 'TRANSFER_STATE_FAILED');
    const blob = await purged(platform, source, space.blobId);
    expect(blob.purgeReason).toBe('PURGE_REASON_DIGEST_MISMATCH');
    expect(await pendingDeliveryCount(destination)).toBe(0);
  });

  it('drops a streamed upload whose digest does not match: the stream ends with DATA_LOSS', async () => {
    const { source, destination } = await pair();
    const declared = Buffer.alloc(70_000, 'd');
    const created = ok(
      await call(
        platform,
        TRANSFER,
        'CreateTransfer',
        createBody(request(destination, declared, { inline: false, contentType: 'text/plain' })),
        source.signer,
      ),
    );
    const space = created.uploadSpace;
    const outcome = await uploadStream(
      grpcs,
      source.signer,
      { blobId: space.blobId, uploadToken: space.uploadToken, offset: 0 },
      chunksOf(Buffer.alloc(70_000, 'x'), 32 * 1024),
    );
    expect(grpcRefusal(outcome.error)).toMatchObject({ code: 'DATA_LOSS', reason: 'DIGEST_MISMATCH' });
    refused(
      await call(platform, TRANSFER, 'CommitTransfer', { transferId: created.transfer.id }, source.signer),
      'failed_precondition',
      'CONTENT_DROPPED',
    );
    await purged(platform, source, space.blobId);
  });

  it("refuses an upload into another app's space: NOT_FOUND with its token and with another", async () => {
    const { source, content, space } = await uploading();
    const { space: mine, source: other } = await uploading();
    // With the owner's token (leaked): to anyone but the owner the blob does not exist.
    await expectRefusal(
      STORAGE,
      'UploadChunk',
      chunk(space, 0, content.subarray(0, 100)),
      other.signer,
      'not_found',
      'BLOB_NOT_FOUND',
    );
    // With its own token of another space: not this blob's token.
    await expectRefusal(
      STORAGE,
      'UploadChunk',
      { ...chunk(space, 0, content.subarray(0, 100)), uploadToken: mine.uploadToken },
      other.signer,
      'not_found',
      'BLOB_NOT_FOUND',
    );
    const stream = await uploadStream(
      grpcs,
      other.signer,
      { blobId: space.blobId, uploadToken: space.uploadToken, offset: 0 },
      [content.subarray(0, 100)],
    );
    expect(grpcRefusal(stream.error)).toMatchObject({ code: 'NOT_FOUND', reason: 'BLOB_NOT_FOUND' });
    // Nothing of it arrived.
    const status = ok(
      await call(
        platform,
        STORAGE,
        'GetUploadStatus',
        { blobId: space.blobId, uploadToken: space.uploadToken },
        source.signer,
      ),
    );
    expect(status.receivedBytes ?? '0').toBe('0');
  });

  it('answers a blob id of another app and one that does not exist alike, so ids cannot be probed', async () => {
    const { space } = await uploading();
    const { source: prober, space: own } = await uploading();
    const missing = 'blb_00000000000000ff';
    const answersFor = async (blobId: string) => {
      const piece = { blobId, uploadToken: own.uploadToken, offset: '0', chunk: 'AAAA' };
      const upload = refusalOfCall(await call(platform, STORAGE, 'UploadChunk', piece, prober.signer));
      const status = refusalOfCall(
        await call(
          platform,
          STORAGE,
          'GetUploadStatus',
          { blobId, uploadToken: own.uploadToken },
          prober.signer,
        ),
      );
      const download = refusalOfCall(
        await call(
          platform,
          STORAGE,
          'DownloadChunk',
          { blobId, downloadToken: own.uploadToken, offset: '0' },
          prober.signer,
        ),
      );
      return { upload, status, download };
    };
    expect(space.blobId).not.toBe(missing);
    expect(await answersFor(space.blobId)).toEqual(await answersFor(missing));
    expect((await answersFor(missing)).upload).toBe('not_found BLOB_NOT_FOUND');
  });

  /**
   * An upload space lives an hour (LGSP_UPLOAD_SPACE_TTL_SECONDS, at least 60 s,
   * and the embedded mesh takes no override). The test moves the expiry of the
   * space into the past in the storage's and the transfer's tables, as the
   * clock would.
   */
  it('refuses an upload after the space expired, and the transfer expires with its staged bytes', async () => {
    const { source, content, space, transfer } = await uploading();
    await uploadJson(platform, source, space, content.subarray(0, 40_000));
    const past = new Date(Date.now() - 1_000);
    const storageDb = platform.mesh.database.forSchema<{ blobs: { id: string; expire_at: Date | null } }>(
      `${platform.schemaPrefix}storage`,
    );
    await storageDb.updateTable('blobs').set({ expire_at: past }).where('id', '=', space.blobId).execute();
    const refusal = await expectRefusal(
      STORAGE,
      'UploadChunk',
      chunk(space, 40_000, content.subarray(40_000, 80_000)),
      source.signer,
      'failed_precondition',
      'UPLOAD_SPACE_EXPIRED',
    );
    expect(refusal.metadata['expire_time']).toBe(past.toISOString());

    const transferDb = platform.mesh.database.forSchema<{
      transfers: { id: string; upload_expires_at: Date | null };
    }>(`${platform.schemaPrefix}transfer`);
    await transferDb
      .updateTable('transfers')
      .set({ upload_expires_at: past })
      .where('id', '=', transfer.id)
      .execute();
    const expired = await transferReaches(platform, source, transfer.id, 'TRANSFER_STATE_EXPIRED');
    expect(expired.stateReason).toMatch(/upload space expired/);
    expect((await purged(platform, source, space.blobId)).purgeReason).toBe('PURGE_REASON_EXPIRED');
    // Committing an expired transfer answers with the transfer as it ended.
    const late = ok(
      await call(platform, TRANSFER, 'CommitTransfer', { transferId: transfer.id }, source.signer),
    );
    expect(late.transfer.state).toBe('TRANSFER_STATE_EXPIRED');
  });
});

/** "code REASON" of an error answer. */
function refusalOfCall(answer: JsonAnswer): string {
  const refusal = refusalOf(answer);
  return `${refusal.code} ${refusal.reason}`;
}

async function pendingDeliveryCount(app: App): Promise<number> {
  return ok(await call(platform, TRANSFER, 'OpenSession', {}, app.signer)).pendingDeliveryCount ?? 0;
}

// ---------------------------------------------------------------------------

describe('receiving', () => {
  it('refuses a confirmation with the wrong digest: DIGEST_MISMATCH, the delivery stays ACCEPTED', async () => {
    const { source, destination } = await pair();
    const content = json({ thongTin: 'đầy đủ' });
    const transfer = await sendJson(platform, source, request(destination, content));
    const delivery = await pendingDelivery(platform, destination, transfer.id);
    const accepted = ok(
      await call(platform, TRANSFER, 'AcceptDelivery', { deliveryId: delivery.id }, destination.signer),
    );
    const got = await downloadJson(platform, destination, accepted.downloadSpace);
    const wrong = Buffer.from(got);
    wrong[0] = wrong[0]! ^ 1;
    const refusal = await expectRefusal(
      TRANSFER,
      'ConfirmDelivery',
      { deliveryId: delivery.id, sha256: sha256b64(wrong), sizeBytes: String(got.length) },
      destination.signer,
      'failed_precondition',
      'DIGEST_MISMATCH',
    );
    expect(refusal.metadata['expected_size_bytes']).toBe(String(content.length));
    await expectRefusal(
      TRANSFER,
      'ConfirmDelivery',
      { deliveryId: delivery.id, sha256: sha256b64(got), sizeBytes: String(got.length + 1) },
      destination.signer,
      'failed_precondition',
      'DIGEST_MISMATCH',
    );
    const { deliveries } = await getTransfer(platform, source, transfer.id);
    expect(deliveries[0].state).toBe('DELIVERY_STATE_ACCEPTED');
    // Fetched again and confirmed right, it is delivered.
    const again = await downloadJson(platform, destination, accepted.downloadSpace);
    ok(
      await call(
        platform,
        TRANSFER,
        'ConfirmDelivery',
        { deliveryId: delivery.id, sha256: sha256b64(again), sizeBytes: String(again.length) },
        destination.signer,
      ),
    );
    await transferReaches(platform, source, transfer.id, 'TRANSFER_STATE_DELIVERED');
  });

  it('refuses a download by an app that is not a recipient, and a token for another blob', async () => {
    const { source, destination } = await pair();
    const first = await sendJson(platform, source, request(destination, json({ n: 1 })));
    const second = await sendJson(platform, source, request(destination, json({ n: 2 })));
    const d1 = await pendingDelivery(platform, destination, first.id);
    const space = ok(
      await call(platform, TRANSFER, 'AcceptDelivery', { deliveryId: d1.id }, destination.signer),
    ).downloadSpace;
    // The source owns the blob but was granted no download: to it, with this token, there is no such blob.
    await expectRefusal(
      STORAGE,
      'DownloadChunk',
      { blobId: space.blobId, downloadToken: space.downloadToken, offset: '0' },
      source.signer,
      'not_found',
      'BLOB_NOT_FOUND',
    );
    // A token of one blob does not open another.
    await expectRefusal(
      STORAGE,
      'DownloadChunk',
      { blobId: second.blobId, downloadToken: space.downloadToken, offset: '0' },
      destination.signer,
      'not_found',
      'BLOB_NOT_FOUND',
    );
    const streamed = await downloadStream(grpcs, destination.signer, {
      blobId: second.blobId,
      downloadToken: space.downloadToken,
    });
    expect(grpcRefusal(streamed.error)).toMatchObject({
      code: 'NOT_FOUND',
      reason: 'BLOB_NOT_FOUND',
    });
    expect(streamed.bytes.length).toBe(0);
    // An app that is no recipient cannot accept, so it never holds a token.
    const stranger = await newApp(platform, await newUnit(platform), 'Không liên quan');
    await expectRefusal(
      TRANSFER,
      'AcceptDelivery',
      { deliveryId: d1.id },
      stranger.signer,
      'not_found',
      'DELIVERY_NOT_FOUND',
    );
  });

  it('refuses a refusal without its explanation, and a delivery that is already final', async () => {
    const { source, destination } = await pair();
    const transfer = await sendJson(platform, source, request(destination, json({ n: 3 })));
    const delivery = await pendingDelivery(platform, destination, transfer.id);
    const refusal = await expectRefusal(
      TRANSFER,
      'RefuseDelivery',
      { deliveryId: delivery.id, reason: 'REFUSAL_REASON_OTHER' },
      destination.signer,
      'invalid_argument',
      'INVALID_ARGUMENT',
    );
    expect(refusal.violations).toEqual({ message: 'REQUIRED' });
    ok(
      await call(
        platform,
        TRANSFER,
        'RefuseDelivery',
        { deliveryId: delivery.id, reason: 'REFUSAL_REASON_INVALID_CONTENT' },
        destination.signer,
      ),
    );
    await expectRefusal(
      TRANSFER,
      'AcceptDelivery',
      { deliveryId: delivery.id },
      destination.signer,
      'failed_precondition',
      'DELIVERY_FINAL',
    );
  });
});

// ---------------------------------------------------------------------------

describe('status over gRPC', () => {
  it('answers a transfer id that is not one with INVALID_ARGUMENT naming the field', async () => {
    const { source } = await pair();
    const requestId = uniqueName('grpc');
    const outcome = await grpcCall(
      grpcs,
      'GetTransfer',
      { transferId: 'not-an-id' },
      source.signer,
      requestId,
    );
    expect(grpcRefusal(outcome.error)).toMatchObject({
      code: 'INVALID_ARGUMENT',
      violations: { transfer_id: 'ID_FORMAT' },
    });
    await expectAudited(requestId, `${TRANSFER}/GetTransfer`, 'INVALID_ARGUMENT', 'transfer');
    const missing = await grpcCall(
      grpcs,
      'GetTransfer',
      { transferId: 'trf_0123456789abcdef' },
      source.signer,
    );
    expect(grpcRefusal(missing.error)).toMatchObject({ code: 'NOT_FOUND', reason: 'TRANSFER_NOT_FOUND' });
  });
});
