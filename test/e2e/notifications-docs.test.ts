import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ShellDoc } from './docs.support.js';
import { Platform } from './transfers.support.js';

const DOC = new ShellDoc('docs/notifications.md');

let platform: Platform;
let scratch: string;

beforeAll(async () => {
  await DOC.requireTools([
    'bash',
    'curl',
    'openssl',
    'jq',
    'xxd',
    'dd',
    'date',
    'sed',
    'wc',
    'grep',
    'timeout',
    'mktemp',
    'node',
    'seq',
  ]);
  platform = await Platform.start({ readMaxBytes: 4 * 1024 * 1024 });
  scratch = mkdtempSync(join(tmpdir(), 'lgsp-notifications-docs-'));
});

afterAll(async () => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  await platform?.close();
});

it('runs the Subscribe walkthrough over Connect JSON streaming as written and gets the answers it shows', async () => {
  const { stdout } = await DOC.runBlock('### Over Connect JSON with `curl`', platform, scratch);
  const lines = stdout.split('\n').filter((l) => l !== '');
  // Every answer the document shows after a command, in its order.
  const shown = [
    '{"latestSequence":"0","unackedCount":0}',
    '{"sequence":"1","priority":"PRIORITY_URGENT","subject":"Giấy mời họp","soKyHieu":"27/GM-SCT"}',
    'DELIVERY_STATE_DELIVERED',
    '1\tDELIVERY_STATE_DELIVERED\tTRANSFER_STATE_DELIVERING',
    '2\t(the transfer)\tTRANSFER_STATE_DELIVERED',
    '{"ackedCount":1}',
    '{"latestSequence":"1","unackedCount":0}',
    '{"code":"out_of_range","reason":"AFTER_SEQUENCE_AHEAD"}',
  ];
  expect(lines).toEqual(shown);
  // Every shown answer is also written in the document, as a comment under its command.
  for (const expected of shown) expect(DOC.text).toContain(`# ${expected}`);
}, 90_000);

it('runs the webhook walkthrough with the example receiver and gets the answers it shows', async () => {
  const { stdout } = await DOC.runBlock('### Walkthrough', platform, scratch);
  const lines = stdout.split('\n').filter((l) => l !== '');
  const shown = [
    'WEBHOOK_STATE_ACTIVE',
    '{"verified":true,"subject":"Đề nghị phối hợp","soKyHieu":"112/SCT-QLTM"}',
    '1\tWEBHOOK_ATTEMPT_OUTCOME_SUCCEEDED\t204',
    '{"waiting":0}',
    '401',
  ];
  expect(lines).toEqual(shown);
  for (const expected of shown) expect(DOC.text).toContain(`# ${expected}`);
}, 90_000);
