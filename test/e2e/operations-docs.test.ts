/**
 * docs/operations.md, "Two questions, answered from the API": the block runs
 * as written against a fresh platform (with FROM and TO set to today, when
 * its traffic happens) and answers what the document shows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ShellDoc } from './docs.support.js';
import { Platform } from './transfers.support.js';

const DOC = new ShellDoc('docs/operations.md');

let platform: Platform;
let scratch: string;

beforeAll(async () => {
  await DOC.requireTools(['bash', 'curl', 'openssl', 'jq', 'xxd', 'date', 'sed', 'cut', 'mktemp']);
  platform = await Platform.start();
  scratch = mkdtempSync(join(tmpdir(), 'lgsp-operations-docs-'));
});

afterAll(async () => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  await platform?.close();
});

it('answers who sent Finance what last month, how much was late, and when Health was offline', async () => {
  const today = new Date(Date.now() + 7 * 3_600_000).toISOString().slice(0, 10);
  const { stdout } = await DOC.runBlock('### Two questions, answered from the API', platform, scratch, {
    FROM: today,
    TO: today,
  });
  const lines = stdout.split('\n').filter((l) => l !== '');
  const at = `${today}`;
  const time = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';
  // What the document shows, with today's date and this run's app id and times.
  const shown: Array<string | RegExp> = [
    'QLVB FINANCE\tAPP_STATUS_ACTIVE',
    'PRESENCE_STATE_OFFLINE',
    'Sở Kế hoạch và Đầu tư\t2\t1',
    'Sở Y tế\t2\t0',
    'unit_code,period_start,period_end,counterparty_unit_code,received_packages,received_expired',
    `000.00.03.H26,${at},${at},000.00.04.H26,2,1`,
    `000.00.03.H26,${at},${at},000.00.16.H26,2,0`,
    '000.00.04.H26\tBáo cáo tháng\tDELIVERY_STATE_EXPIRED',
    new RegExp(`^app_[0-9a-f]{16}\\toffline since ${time}$`),
    new RegExp(`^app_[0-9a-f]{16}\\toffline ${time} to ${time}$`),
    '{"connects":"2","disconnects":"2"}',
  ];
  expect(lines).toHaveLength(shown.length);
  shown.forEach((expected, i) => {
    if (typeof expected === 'string') expect(lines[i]).toBe(expected);
    else expect(lines[i]).toMatch(expected);
  });
  // The document shows the same answers, as comments under their commands.
  for (const expected of shown.filter((s): s is string => typeof s === 'string')) {
    expect(DOC.text).toContain(`# ${expected.replaceAll(today, '2026-11-24')}`);
  }
}, 120_000);
