/**
 * The README's five-minute tour, run as written (bash + curl) against a mesh,
 * so the documentation cannot drift from what the gateway really answers.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type E2eMesh, startE2eMesh } from './support.js';

const run = promisify(execFile);
let e2e: E2eMesh;

beforeAll(async () => {
  e2e = await startE2eMesh();
});
afterAll(async () => {
  await e2e?.close();
});

function tourScript(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /## A five-minute tour[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (block === undefined) throw new Error('README has no tour block');
  return block;
}

it('runs the README tour and gets the answers it describes', async () => {
  const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', tourScript()], {
    env: { ...process.env, GW: e2e.url, ADMIN_ENV: e2e.mesh.adminEnvFile },
    timeout: 30_000,
  });
  const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
  const answers = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const [search, prefix, malformed, unsigned, created, app, renamed, resolved, routes, time, ready] = answers;
  expect(JSON.stringify(search)).toContain('"code":"000.00.03.H26"');
  expect((prefix as { units: unknown[] }).units).toHaveLength(3);
  expect(malformed).toMatchObject({ code: 'invalid_argument' });
  expect(unsigned).toMatchObject({ code: 'unauthenticated' });
  expect(created).toMatchObject({ unit: { code: '000.00.50.H26' } });
  expect(app).toMatchObject({ app: { unitCode: '000.00.50.H26' } });
  expect(renamed).toMatchObject({ unit: { code: '000.00.51.H26' } });
  expect(resolved).toMatchObject({
    unit: { status: 'UNIT_STATUS_SUPERSEDED' },
    current: [{ code: '000.00.51.H26' }],
  });
  expect((routes as { routes: Array<{ outcome: string }> }).routes.map((r) => r.outcome)).toEqual([
    'ROUTE_OUTCOME_OK',
    'ROUTE_OUTCOME_NOT_FOUND',
    'ROUTE_OUTCOME_OK',
  ]);
  const serverTime = Date.parse((time as { serverTime: string }).serverTime);
  expect(Math.abs(serverTime - Date.now())).toBeLessThan(60_000);
  expect(ready).toMatchObject({ status: 'ready' });
  expect(stdout).toContain('lgsp_rpc_server_requests_total');
});
