/** The checks of a transfer request (Art. 8.2): every problem at once, each naming its field. */
import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { Priority } from '#gen/lgsp/common/v1/common_pb.js';
import { TransferProtocol } from '#gen/lgsp/transfer/v1/resources_pb.js';
import {
  type CreateTransferRequest,
  CreateTransferRequestSchema,
} from '#gen/lgsp/transfer/v1/transfer_service_pb.js';
import { InvalidArgumentError } from '#lib/errors.js';
import { loadTransferConfig, type TransferConfig } from '../src/config.js';
import { checkCreateTransfer, MAX_RECIPIENTS, requiredId } from '../src/routes/checks.js';

const config: TransferConfig = {
  ...loadTransferConfig({}),
  inlineMaxBytes: 1024,
  maxTransferBytes: 1_000_000,
};
const NOW = new Date('2026-03-02T08:00:00Z');
const CONTENT = Buffer.from('{"so":"125/QĐ-UBND"}');
const sha = (bytes: Uint8Array) => new Uint8Array(createHash('sha256').update(bytes).digest());

type Init = Parameters<typeof create<typeof CreateTransferRequestSchema>>[1];

function request(fields: Init = {}): CreateTransferRequest {
  return create(CreateTransferRequestSchema, {
    recipients: [{ party: { case: 'unitCode', value: '000.00.04.H26' } }],
    subject: 'Công văn về việc thử',
    priority: Priority.URGENT,
    contentType: 'application/json',
    protocol: TransferProtocol.PLAIN_DATA,
    sizeBytes: BigInt(CONTENT.length),
    sha256: sha(CONTENT),
    ...fields,
  });
}

/** The violations of a request as field → reason; empty when it passes. */
function violations(req: CreateTransferRequest): Record<string, string | undefined> {
  try {
    checkCreateTransfer(req, config, NOW);
    return {};
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return Object.fromEntries((error as InvalidArgumentError).violations.map((v) => [v.field, v.reason]));
  }
}

const unit = (value: string) => ({ party: { case: 'unitCode' as const, value } });
const app = (value: string) => ({ party: { case: 'appId' as const, value } });

describe('checkCreateTransfer', () => {
  it('returns the request as the service keeps it', () => {
    const input = checkCreateTransfer(
      request({
        recipients: [unit(' 000.00.04.h26 '), app('app_0123456789abcdef')],
        subject: '  Công văn  ',
        contentType: ' Application/JSON ',
        idempotencyKey: 'qlvb:2024-125',
        inlineContent: CONTENT,
      }),
      config,
      NOW,
    );
    expect(input).toMatchObject({
      recipients: [{ unitCode: '000.00.04.H26' }, { appId: 'app_0123456789abcdef' }],
      subject: 'Công văn',
      priority: Priority.URGENT,
      contentType: 'application/json',
      protocol: 'plain_data',
      sizeBytes: BigInt(CONTENT.length),
      idempotencyKey: 'qlvb:2024-125',
      policy: { maxAttempts: 20 },
    });
    expect(Buffer.from(input.inlineContent!).equals(CONTENT)).toBe(true);
    expect(input.requestDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('takes an unspecified priority as normal, and no key or content as none', () => {
    const input = checkCreateTransfer(request({ priority: Priority.UNSPECIFIED }), config, NOW);
    expect(input.priority).toBe(Priority.NORMAL);
    expect(input.idempotencyKey).toBeUndefined();
    expect(input.inlineContent).toBeUndefined();
  });

  it('accepts a well-formed request', () => {
    expect(violations(request())).toEqual({});
  });

  it.each<[string, Init, Record<string, string>]>([
    ['no recipient', { recipients: [] }, { recipients: 'REQUIRED' }],
    [
      'a malformed unit code',
      { recipients: [unit('28.22.H17')] },
      { 'recipients[0].unit_code': 'UNIT_CODE_FORMAT' },
    ],
    [
      'a malformed app id',
      { recipients: [unit('000.00.04.H26'), app('app_x')] },
      { 'recipients[1].app_id': 'ID_FORMAT' },
    ],
    [
      'a party that names nothing',
      { recipients: [{ party: { case: undefined } }] },
      { 'recipients[0]': 'REQUIRED' },
    ],
    [
      'a unit named twice (in another case)',
      { recipients: [unit('000.00.04.H26'), unit('000.00.04.h26')] },
      { 'recipients[1]': 'DUPLICATE' },
    ],
    [
      'an app named twice',
      { recipients: [app('app_0123456789abcdef'), app('app_0123456789abcdef')] },
      { 'recipients[1]': 'DUPLICATE' },
    ],
    ['no subject', { subject: '   ' }, { subject: 'REQUIRED' }],
    ['a subject over 500 characters', { subject: 'x'.repeat(501) }, { subject: 'TOO_LONG' }],
    ['an unknown priority', { priority: 9 as Priority }, { priority: 'UNKNOWN_PRIORITY' }],
    ['no content type', { contentType: '' }, { content_type: 'REQUIRED' }],
    ['a content type that is no media type', { contentType: 'json' }, { content_type: 'MEDIA_TYPE_FORMAT' }],
    [
      'a content type over 255 characters',
      { contentType: `application/${'x'.repeat(250)}` },
      { content_type: 'MEDIA_TYPE_FORMAT' },
    ],
    ['no protocol', { protocol: TransferProtocol.UNSPECIFIED }, { protocol: 'REQUIRED' }],
    ['a size of 0', { sizeBytes: 0n }, { size_bytes: 'OUT_OF_RANGE' }],
    ['a negative size', { sizeBytes: -5n }, { size_bytes: 'OUT_OF_RANGE' }],
    ['a size over the maximum', { sizeBytes: 1_000_001n }, { size_bytes: 'TOO_LARGE' }],
    ['a digest of 31 bytes', { sha256: new Uint8Array(31) }, { sha256: 'SHA256_FORMAT' }],
    ['no digest', { sha256: new Uint8Array() }, { sha256: 'SHA256_FORMAT' }],
    [
      'an idempotency key with a space',
      { idempotencyKey: 'so 125' },
      { idempotency_key: 'IDEMPOTENCY_KEY_FORMAT' },
    ],
    [
      'an idempotency key of 129 characters',
      { idempotencyKey: 'k'.repeat(129) },
      { idempotency_key: 'IDEMPOTENCY_KEY_FORMAT' },
    ],
    [
      'a policy deadline in the past',
      { policy: { deadline: timestampFromDate(new Date(NOW.getTime() - 1000)) } },
      { 'policy.deadline': 'DEADLINE_PAST' },
    ],
    [
      'a policy with 101 attempts',
      { policy: { maxAttempts: 101 } },
      { 'policy.max_attempts': 'OUT_OF_RANGE' },
    ],
    [
      'inline content over the inline limit',
      { inlineContent: new Uint8Array(1025), sizeBytes: 1025n, sha256: sha(new Uint8Array(1025)) },
      { inline_content: 'TOO_LARGE' },
    ],
    [
      'inline content of another size than declared',
      { inlineContent: CONTENT, sizeBytes: 3n },
      { inline_content: 'SIZE_MISMATCH' },
    ],
    [
      'inline content of another digest than declared',
      { inlineContent: CONTENT, sha256: sha(Buffer.from('x')) },
      { inline_content: 'DIGEST_MISMATCH' },
    ],
  ])('refuses %s', (_what, fields, expected) => {
    expect(violations(request(fields))).toEqual(expected);
  });

  it('names every problem of a request at once', () => {
    expect(
      Object.keys(
        violations(
          request({
            recipients: [unit('x')],
            subject: '',
            contentType: 'json',
            protocol: TransferProtocol.UNSPECIFIED,
            sizeBytes: 0n,
            sha256: new Uint8Array(3),
          }),
        ),
      ).sort(),
    ).toEqual(['content_type', 'protocol', 'recipients[0].unit_code', 'sha256', 'size_bytes', 'subject']);
  });

  it(`accepts ${MAX_RECIPIENTS} recipients and refuses one more`, () => {
    const code = (i: number) =>
      `000.${String(Math.floor(i / 100)).padStart(2, '0')}.${String(i % 100).padStart(2, '0')}.H26`;
    const many = Array.from({ length: MAX_RECIPIENTS + 1 }, (_, i) => unit(code(i)));
    expect(violations(request({ recipients: many.slice(0, MAX_RECIPIENTS) }))).toEqual({});
    expect(violations(request({ recipients: many }))).toEqual({ recipients: 'TOO_MANY' });
  });

  it('gives an identical retry the same request digest, and a different one another', () => {
    const digest = (fields: Init) => checkCreateTransfer(request(fields), config, NOW).requestDigest;
    const key = { idempotencyKey: 'retry-1' };
    expect(digest(key)).toBe(digest(key));
    // The content is covered by its declared digest: sending it inline or not is the same request.
    expect(digest({ ...key, inlineContent: CONTENT })).toBe(digest(key));
    expect(digest({ ...key, subject: 'Another subject' })).not.toBe(digest(key));
    expect(digest({ ...key, priority: Priority.FLASH })).not.toBe(digest(key));
    expect(digest({ ...key, recipients: [unit('000.00.05.H26')] })).not.toBe(digest(key));
  });
});

describe('requiredId', () => {
  it('accepts an id of its kind and refuses anything else with ID_FORMAT', () => {
    expect(requiredId('transfer_id', ' trf_0123456789abcdef ', 'trf')).toBe('trf_0123456789abcdef');
    for (const [raw, reason] of [
      ['', 'REQUIRED'],
      ['dlv_0123456789abcdef', 'ID_FORMAT'],
      ['trf_0123', 'ID_FORMAT'],
      ["trf_0123456789abcdef' or 1=1", 'ID_FORMAT'],
    ] as const) {
      try {
        requiredId('transfer_id', raw, 'trf');
        expect.unreachable(`${raw} passed`);
      } catch (error) {
        expect((error as InvalidArgumentError).violations).toEqual([
          expect.objectContaining({ field: 'transfer_id', reason }),
        ]);
      }
    }
  });
});
