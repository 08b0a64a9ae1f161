/**
 * One supervised child process of the local cluster: started with its own
 * environment, its output appended to a log file of its own, in a process
 * group of its own (so a Ctrl-C reaches the supervisor only, which then stops
 * everything in order), and stoppable, killable and restartable by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ProcessSpec {
  /** `registry-1`, `gateway-2`, `nats-3`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly logFile: string;
}

/** Every child started by this process, killed when it exits however it exits. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) if (child.pid !== undefined) child.kill('SIGKILL');
  });
}

export class ManagedProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  /** Starts so far, the first included. */
  starts = 0;

  constructor(readonly spec: ProcessSpec) {}

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  get running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Resolves when the current child has exited (at once when none runs). */
  get exited(): Promise<void> {
    return this.#exited;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} runs already (pid ${this.pid})`);
    installExitHook();
    mkdirSync(dirname(this.spec.logFile), { recursive: true });
    const fd = openSync(this.spec.logFile, 'a');
    writeSync(fd, `--- ${new Date().toISOString()} start ${this.name}\n`);
    const child = spawn(this.spec.command, [...this.spec.args], {
      cwd: this.spec.cwd,
      env: { ...this.spec.env },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    this.#child = child;
    this.starts++;
    live.add(child);
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        live.delete(child);
        resolve();
      });
      child.once('error', () => {
        live.delete(child);
        resolve();
      });
    });
  }

  /** Sends `signal` to the child (SIGKILL: a crash) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.#child!.kill(signal);
    await this.#exited;
  }

  /** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.#child!.kill('SIGTERM');
    const timer = setTimeout(() => this.#child?.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** The end of its log, for error messages. */
  logTail(chars = 2_000): string {
    try {
      return readFileSync(this.spec.logFile, 'utf8').slice(-chars);
    } catch {
      return '';
    }
  }
}
