/**
 * The SDK and CLI blocks of docs/clients.md, run as written against the
 * whole platform after its "Setting up two apps" block, in a fresh HOME: each
 * `# ` line of a block is the output the document promises.
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
  await DOC.requireTools(['bash', 'jq', 'node', 'npx', 'cmp', 'cut', 'head']);
  platform = await Platform.start();
  scratch = mkdtempSync(join(tmpdir(), 'lgsp-sdk-cli-docs-'));
  work = join(scratch, 'work');
  mkdirSync(work);
  await DOC.runBlock('## Setting up two apps', platform, scratch, { WORK: work });
}, 180_000);

afterAll(async () => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  await platform?.close();
});

async function runsAsShown(heading: string): Promise<void> {
  const shown = [...DOC.block(heading).matchAll(/^# (.*)$/gm)].map((m) => m[1]!);
  const { stdout } = await DOC.runBlock(heading, platform, scratch, { WORK: work });
  expect(stdout.split('\n').filter((l) => l !== '')).toEqual(shown);
}

it('runs the SDK examples as the SDK section shows them', async () => {
  await runsAsShown('With `npm start` running and the two apps of "Setting up two apps"');
}, 180_000);

it('runs the CLI round trip as the CLI section shows it', async () => {
  await runsAsShown('A round trip with the two apps of "Setting up two apps"');
}, 180_000);
