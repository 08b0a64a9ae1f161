/**
 * A PostgreSQL server of its own (initdb + pg_ctl from the installed
 * binaries) in a directory of its own, on a port of its own: what the fault
 * tests restart, so that a server other people use is never touched. The
 * server refuses to run as root; as root it runs as the `postgres` user.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface PrivatePostgresOptions {
  /** Where the data directory, socket and log live; created if missing. */
  readonly dir: string;
  readonly port: number;
}

/** The newest installed `…/postgresql/<version>/bin`, or the one of `pg_ctl` on PATH. */
export function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(root, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v pg_ctl'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? join(found, '..') : undefined;
}

export class PrivatePostgres {
  readonly bin: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly #asUser: string | undefined;

  constructor(readonly options: PrivatePostgresOptions) {
    const bin = findPostgresBin();
    if (bin === undefined) throw new Error('no PostgreSQL binaries (initdb, pg_ctl) are installed');
    this.bin = bin;
    this.dataDir = join(options.dir, 'data');
    this.logFile = join(options.dir, 'postgres.log');
    this.#asUser = process.getuid?.() === 0 ? 'postgres' : undefined;
  }

  /** `postgres://postgres@127.0.0.1:<port>/<database>`. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.options.port}/${database}`;
  }

  /** The server's pid, from its lock file. */
  #pid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Runs a PostgreSQL tool without blocking the event loop (the load goes on meanwhile). */
  async #run(tool: string, args: readonly string[]): Promise<string> {
    const command = join(this.bin, tool);
    const [file, argv] =
      this.#asUser === undefined
        ? [command, [...args]]
        : ['runuser', ['-u', this.#asUser, '--', command, ...args]];
    const { stdout } = await execFileAsync(file, argv, { encoding: 'utf8' });
    return stdout;
  }

  /** initdb (first time only), then start; resolves when it accepts connections. */
  async start(): Promise<void> {
    mkdirSync(this.options.dir, { recursive: true });
    if (this.#asUser !== undefined) {
      const uid = Number(execFileSync('id', ['-u', this.#asUser], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', this.#asUser], { encoding: 'utf8' }).trim());
      chownSync(this.options.dir, uid, gid);
    }
    if (!existsSync(join(this.dataDir, 'PG_VERSION'))) {
      await this.#run('initdb', [
        '-D',
        this.dataDir,
        '-U',
        'postgres',
        '--auth=trust',
        '-E',
        'UTF8',
        '--no-sync',
      ]);
    }
    await this.#pgCtl('start');
    // If this process ends without stop(), the server goes too (SIGQUIT: immediate shutdown).
    process.once('exit', this.#stopOnExit);
  }

  readonly #stopOnExit = () => {
    const pid = this.#pid();
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // gone already
      }
    }
  };

  async #pgCtl(action: 'start' | 'stop-immediate' | 'stop-fast'): Promise<void> {
    if (action === 'start') {
      const serverOptions = [
        `-p ${this.options.port}`,
        "-c listen_addresses='127.0.0.1'",
        `-c unix_socket_directories='${this.options.dir}'`,
        '-c max_connections=400',
        // A crash of the server process loses nothing the OS already holds; only a machine crash would.
        '-c fsync=off',
      ].join(' ');
      await this.#run('pg_ctl', [
        '-D',
        this.dataDir,
        '-l',
        this.logFile,
        '-o',
        serverOptions,
        '-w',
        '-t',
        '60',
        'start',
      ]);
    } else {
      const mode = action === 'stop-immediate' ? 'immediate' : 'fast';
      await this.#run('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    }
  }

  async running(): Promise<boolean> {
    try {
      await this.#run('pg_ctl', ['-D', this.dataDir, 'status']);
      return true;
    } catch {
      return false;
    }
  }

  /** Stops the server as a crash would (immediate: no checkpoint, recovery at the next start), then starts it. */
  async restart(): Promise<void> {
    await this.#pgCtl('stop-immediate');
    await this.#pgCtl('start');
  }

  /** Stops the server (fast: sessions ended, a checkpoint written) and removes nothing. */
  async stop(): Promise<void> {
    process.off('exit', this.#stopOnExit);
    if (await this.running()) await this.#pgCtl('stop-fast');
  }
}
