/**
 * docs/notifications.md, run as written: the Subscribe walkthrough over
 * Connect JSON streaming with curl (bash, curl, openssl, xxd, dd, jq and
 * clients/shell/lgsp-call) against a mesh, checking every answer the document
 * shows. The tools are required: without them the suite fails, it never skips.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Platform } from './transfers.support.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs/notifications.md'), 'utf8');

let platform: Platform;
let scratch: string;

beforeAll(async () => {
  const missing: string[] = [];
  for (const tool of [
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
  ]) {
    await run('bash', ['-c', 'command -v "$1"', 'probe', tool]).catch(() => missing.push(tool));
  }
  if (missing.length > 0)
    throw new Error(`docs/notifications.md needs these tools on PATH: ${missing.join(', ')}`);
  platform = await Platform.start({ readMaxBytes: 4 * 1024 * 1024 });
  scratch = mkdtempSync(join(tmpdir(), 'lgsp-notifications-docs-'));
});

afterAll(async () => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  await platform?.close();
});

/** The first ```sh block after `heading`. */
function block(heading: string): string {
  const at = DOC.indexOf(heading);
  if (at < 0) throw new Error(`docs/notifications.md has no "${heading}"`);
  const found = /```sh\n([\s\S]*?)```/.exec(DOC.slice(at))?.[1];
  if (found === undefined) throw new Error(`no sh block after "${heading}"`);
  return found;
}

it('runs the Subscribe walkthrough over Connect JSON streaming as written and gets the answers it shows', async () => {
  const { stdout } = await run(
    'bash',
    ['-euo', 'pipefail', '-c', block('### Over Connect JSON with `curl`')],
    {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: scratch,
        TMPDIR: scratch,
        GW: platform.url,
        ADMIN_ENV: platform.mesh.adminEnvFile,
      },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
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
  for (const expected of shown) expect(DOC).toContain(`# ${expected}`);
}, 90_000);
