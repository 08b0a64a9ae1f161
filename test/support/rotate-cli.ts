/** Runs a service's rotate-master-key command as a child process, as an operator would. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TEST_DATABASE_URL } from './env.js';

const run = promisify(execFile);

export interface RotateResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function rotateCli(
  service: 'auth' | 'storage' | 'notification' | 'sso',
  schema: string,
  keys: { current: Uint8Array; previous?: Uint8Array },
  args: string[] = [],
  extraEnv: Record<string, string> = {},
): Promise<RotateResult> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: TEST_DATABASE_URL,
    DB_SCHEMA: schema,
    LGSP_MASTER_KEY: Buffer.from(keys.current).toString('base64'),
    LOG_LEVEL: 'silent',
    ...extraEnv,
  };
  if (keys.previous === undefined) delete env['LGSP_MASTER_KEY_PREVIOUS'];
  else env['LGSP_MASTER_KEY_PREVIOUS'] = Buffer.from(keys.previous).toString('base64');
  return run(
    process.execPath,
    ['--import', 'tsx', `services/${service}/src/bin/rotate-master-key.ts`, ...args],
    { env, cwd: new URL('../../', import.meta.url).pathname },
  ).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}
