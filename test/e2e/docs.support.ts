/**
 * What the suites that run a document's shell examples as written share:
 * the tools those examples need (required, never skipped), the `sh` block
 * under a heading, and a bash run against a mesh with nothing of this
 * process's environment but PATH.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Platform } from './transfers.support.js';

export const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export class ShellDoc {
  readonly text: string;

  constructor(readonly path: string) {
    this.text = readFileSync(join(ROOT, path), 'utf8');
  }

  /** Fails, naming them, when tools the examples use are not on PATH. */
  async requireTools(tools: readonly string[]): Promise<void> {
    const missing: string[] = [];
    for (const tool of tools) {
      await run('bash', ['-c', 'command -v "$1"', 'probe', tool]).catch(() => missing.push(tool));
    }
    if (missing.length > 0) throw new Error(`${this.path} needs these tools on PATH: ${missing.join(', ')}`);
  }

  /** The first ```sh block after `heading`. */
  block(heading: string): string {
    const at = this.text.indexOf(heading);
    if (at < 0) throw new Error(`${this.path} has no "${heading}"`);
    const found = /```sh\n([\s\S]*?)```/.exec(this.text.slice(at))?.[1];
    if (found === undefined) throw new Error(`no sh block after "${heading}"`);
    return found;
  }

  /** Runs the block under `heading` with `set -euo pipefail`, GW and ADMIN_ENV pointing at the mesh. */
  runBlock(heading: string, platform: Platform, scratch: string, env: Record<string, string> = {}) {
    return run('bash', ['-euo', 'pipefail', '-c', this.block(heading)], {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: scratch,
        TMPDIR: scratch,
        GW: platform.url,
        ADMIN_ENV: platform.mesh.adminEnvFile,
        ...env,
      },
      // A block starts many processes (curl, openssl, node): slow on a saturated machine.
      timeout: 150_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  }
}
