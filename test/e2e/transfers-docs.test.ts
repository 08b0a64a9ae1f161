import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, run, ShellDoc } from './docs.support.js';
import { callUnary } from './support.js';
import {
  type App,
  createBody,
  grantSend,
  grpcClients,
  grpcOk,
  newApp,
  newUnit,
  Platform,
} from './transfers.support.js';

const DOC = new ShellDoc('docs/transfers.md');

let platform: Platform;
let scratch: string;

beforeAll(async () => {
  await DOC.requireTools([
    'bash',
    'curl',
    'openssl',
    'jq',
    'xxd',
    'date',
    'head',
    'tail',
    'wc',
    'sed',
    'mktemp',
  ]);
  platform = await Platform.start({ readMaxBytes: 4 * 1024 * 1024 });
  scratch = mkdtempSync(join(tmpdir(), 'lgsp-transfers-docs-'));
});

afterAll(async () => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  await platform?.close();
});

it('runs the JSON walkthrough as written and gets the answers it shows', async () => {
  const { stdout } = await DOC.runBlock('## Walkthrough over Connect JSON', platform, scratch);
  const lines = stdout.split('\n');
  // Every answer the document shows after a command, in its order (times aside).
  const shown = [
    '{"action":"GRANT_ACTION_SEND"}',
    '{"changes":0,"openTransferCount":0}',
    '{"state":"TRANSFER_STATE_DELIVERING","inline":true,"deliveryCount":1}',
    '{"state":"TRANSFER_STATE_REQUESTED","space":{"maxSizeBytes":"150009","chunkSizeBytes":262144}}',
    'resume at 65536',
    '{"code":"failed_precondition","reason":"OFFSET_MISMATCH","expected":"65536"}',
    '{"state":"TRANSFER_STATE_DELIVERING","deliveryCount":1,"maxAttempts":10}',
    '{"pendingDeliveryCount":2}',
    'PRIORITY_FLASH\tGiấy mời họp giao ban',
    'PRIORITY_URGENT\tBáo cáo quyết toán quý I',
    '{"state":"DELIVERY_STATE_DELIVERED","edxmlStatus":"EDXML_STATUS_CODE_ARRIVED"}',
    '"DELIVERY_STATE_ACCEPTED"',
    '{"code":"failed_precondition","reason":"DIGEST_MISMATCH"}',
    '"DELIVERY_STATE_DELIVERED"',
    'TRANSFER_STATE_DELIVERED',
    /^DELIVERY_STATE_DELIVERED\t\d{4}-\d\d-\d\dT[\d:.]+Z$/,
    /^TRANSFER_STATE_DELIVERED\t\d{4}-\d\d-\d\dT[\d:.]+Z$/,
    '{"state":"TRANSFER_STATE_DELIVERED","deliveredCount":1,"sha256":true}',
    '{"changes":5,"hasMore":true}',
    '{"hasMore":false}',
    '{"state":"DELIVERY_STATE_REFUSED","edxmlStatus":"EDXML_STATUS_CODE_REFUSED","refusalReason":"REFUSAL_REASON_WRONG_RECIPIENT"}',
    '"TRANSFER_STATE_CANCELLED"',
    '{"code":"not_found","reason":"RECIPIENT_NOT_FOUND"}',
    'Ban hành nhầm\tTRANSFER_STATE_CANCELLED',
    'Gửi nhầm\tTRANSFER_STATE_REFUSED',
    'Báo cáo quyết toán quý I\tTRANSFER_STATE_DELIVERED',
    'Giấy mời họp giao ban\tTRANSFER_STATE_DELIVERED',
  ];
  expect(lines.filter((l) => l !== '')).toHaveLength(shown.length);
  shown.forEach((expected, i) => {
    if (typeof expected === 'string') expect(lines[i], `line ${i + 1}`).toBe(expected);
    else expect(lines[i], `line ${i + 1}`).toMatch(expected);
  });
  // Every shown answer is also written in the document, as a comment under its command.
  for (const expected of shown) {
    if (typeof expected === 'string') expect(DOC.text).toContain(`# ${expected}`);
  }
}, 90_000);

it('signs gRPC calls as the document does: the gateway takes the headers grpc_headers prints', async () => {
  const source: App = await newApp(platform, await newUnit(platform, 'Nguồn gRPC'), 'QLVB gRPC');
  const destination = await newApp(platform, await newUnit(platform, 'Đích gRPC'), 'QLVB đích');
  await grantSend(platform, source, destination.unitCode);
  const envFile = join(scratch, 'grpc.env');
  const { key } = source.signer;
  if (key.kind !== 'hmac') throw new Error('an HMAC key was expected');
  writeFileSync(
    envFile,
    `LGSP_ACCESS_KEY_ID=${source.signer.accessKeyId}\nLGSP_SECRET_KEY=${String(key.secret)}\n`,
  );

  const headersFor = async (method: string, json: unknown) => {
    const script = `${DOC.block('## The same over gRPC')}\ngrpc_headers "$0" "$1" "$2"`;
    const { stdout } = await run(
      'bash',
      ['-euo', 'pipefail', '-c', script, envFile, method, JSON.stringify(json)],
      {
        cwd: ROOT,
        env: { PATH: process.env['PATH'] ?? '', HOME: scratch, TMPDIR: scratch },
        timeout: 60_000,
      },
    );
    const metadata = new grpc.Metadata();
    for (const line of stdout.split('\n').filter((l) => l !== '')) {
      const at = line.indexOf(': ');
      metadata.set(line.slice(0, at), line.slice(at + 2));
    }
    return metadata;
  };

  const clients = grpcClients(platform);
  try {
    const content = Buffer.from('{"grpc":"đã ký"}');
    const json = createBody({ recipients: [destination.unitCode], content, inline: true });
    const metadata = await headersFor('lgsp.transfer.v1.TransferService/CreateTransfer', json);
    expect(metadata.get('lgsp-content-sha256')[0]).toMatch(/^[0-9a-f]{64}$/);
    // The same message as grpc-js sends it: bytes as Buffers, the rest as in the JSON.
    const request = { ...json, sha256: Buffer.from(json.sha256, 'base64'), inlineContent: content };
    const created = grpcOk(
      await callUnary(clients.transfer, 'createTransfer', request, metadata),
      'CreateTransfer',
    );
    expect(created.transfer.state).toBe('TRANSFER_STATE_DELIVERING');

    const get = { transferId: created.transfer.id };
    const read = grpcOk(
      await callUnary(
        clients.transfer,
        'getTransfer',
        get,
        await headersFor('lgsp.transfer.v1.TransferService/GetTransfer', get),
      ),
    );
    expect(read.transfer.id).toBe(created.transfer.id);
    // Signed for another message, the same headers are refused.
    const other = await callUnary(
      clients.transfer,
      'getTransfer',
      { transferId: 'trf_0123456789abcdef' },
      await headersFor('lgsp.transfer.v1.TransferService/GetTransfer', get),
    );
    expect(other.error?.code).toBe(grpc.status.UNAUTHENTICATED);
  } finally {
    clients.close();
  }
}, 90_000);
