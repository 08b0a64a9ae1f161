/**
 * The client examples of docs/clients.md, run as written against the whole
 * platform: the legacy client in bash (curl, openssl, jq) and the gRPC client
 * with @grpc/grpc-js each send a document and receive it on the other side.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ShellDoc } from './docs.support.js';
import { Platform } from './transfers.support.js';

const DOC = new ShellDoc('docs/clients.md');

let platform: Platform;
let scratch: string;
let work: string;

beforeAll(async () => {
  await DOC.requireTools(['bash', 'curl', 'openssl', 'jq', 'node', 'cmp', 'cut', 'wc', 'sed', 'mktemp']);
  platform = await Platform.start();
  scratch = mkdtempSync(join(tmpdir(), 'lgsp-clients-docs-'));
  work = join(scratch, 'work');
  mkdirSync(work);
  await DOC.runBlock('## Setting up two apps', platform, scratch, { WORK: work });
});

afterAll(async () => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  await platform?.close();
});

/** Runs the block under `heading` and checks its output against the answers the document shows. */
async function runsAsShown(heading: string): Promise<void> {
  const block = DOC.block(heading);
  const shown = [...block.matchAll(/^# ([A-Z]+_[A-Z_]+ ?.*|same bytes)$/gm)].map((m) => m[1]!);
  const { stdout } = await DOC.runBlock(heading, platform, scratch, { WORK: work });
  expect(stdout.split('\n').filter((l) => l !== '')).toEqual(shown);
}

it('runs the legacy client in plain shell: it sends, and the destination receives the same bytes', async () => {
  await runsAsShown('## Legacy systems: `curl` and `openssl`');
});

it('runs the gRPC client with @grpc/grpc-js: it sends, and the destination receives the same bytes', async () => {
  await runsAsShown('## Modern systems: gRPC with `@grpc/grpc-js`');
});
