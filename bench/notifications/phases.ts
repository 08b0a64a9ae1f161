/**
 * What the mesh process did during each phase a load announces: its CPU time
 * (every thread: the servers and PGlite on the main thread, the libuv pool,
 * the garbage collector), the main thread's busy share, its memory (RSS
 * sampled every 250 ms, and the servers' V8 heap at the phase's end), the
 * SQL statements and bus messages the probes counted, and the share of the
 * machine other processes took. The load runs in a child process, whose CPU
 * time comes with each phase message: it is taken out of the other load.
 */
import os from 'node:os';
import { type CpuSample, cpuSample } from '../cpu.js';
import {
  type BusCounts,
  busCounts,
  busDelta,
  type SqlCounts,
  sqlCounts,
  sqlDelta,
} from '../transfers/probes.js';

export interface PhaseMeasure {
  readonly name: string;
  readonly wallMs: number;
  /** CPU milliseconds of the mesh process during the phase. */
  readonly cpuMs: number;
  /** cpuMs / wallMs: cores the mesh process kept busy on average. */
  readonly cores: number;
  /** Share of the phase the main thread (every server, and PGlite) was busy. */
  readonly serverBusy: number;
  /** Share of the machine's CPU other processes took (the load's process excepted). */
  readonly otherLoad: number;
  /** CPU milliseconds of the load's process during the phase. */
  readonly clientCpuMs: number;
  readonly rssEndBytes: number;
  readonly rssPeakBytes: number;
  /** The main thread's V8 heap in use and its buffers (`external`) at the phase's end. */
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
  readonly sql: SqlCounts;
  readonly bus: BusCounts;
}

interface Open {
  readonly name: string;
  readonly started: number;
  readonly elu: ReturnType<typeof performance.eventLoopUtilization>;
  readonly cpu: CpuSample;
  readonly clientCpuMs: number;
  readonly sql: SqlCounts;
  readonly bus: BusCounts;
  rssPeak: number;
}

export class PhaseMeter {
  readonly #done: PhaseMeasure[] = [];
  #open: Open | undefined;
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#timer = setInterval(() => {
      if (this.#open !== undefined) {
        this.#open.rssPeak = Math.max(this.#open.rssPeak, process.memoryUsage.rss());
      }
    }, 250);
  }

  /** A phase begins (ending the one before); `clientCpuMs` is the load process's CPU time so far. */
  enter(name: string, clientCpuMs: number): void {
    this.#close(clientCpuMs);
    this.#open = {
      name,
      started: performance.now(),
      elu: performance.eventLoopUtilization(),
      cpu: cpuSample(),
      clientCpuMs,
      sql: sqlCounts(),
      bus: busCounts(),
      rssPeak: process.memoryUsage.rss(),
    };
  }

  /** Ends the last phase and stops sampling; answers every phase, in order. */
  finish(clientCpuMs?: number): PhaseMeasure[] {
    this.#close(clientCpuMs);
    clearInterval(this.#timer);
    return [...this.#done];
  }

  get phases(): readonly PhaseMeasure[] {
    return this.#done;
  }

  #close(clientCpuMs: number | undefined): void {
    const open = this.#open;
    if (open === undefined) return;
    this.#open = undefined;
    const cpu = cpuSample();
    const memory = process.memoryUsage();
    const wallMs = performance.now() - open.started;
    const cpuMs = cpu.own - open.cpu.own;
    const client = clientCpuMs === undefined ? 0 : Math.max(0, clientCpuMs - open.clientCpuMs);
    const machine = cpu.machineTotal - open.cpu.machineTotal;
    const others = cpu.machineBusy - open.cpu.machineBusy - cpuMs - client;
    this.#done.push({
      name: open.name,
      wallMs,
      cpuMs,
      cores: wallMs > 0 ? cpuMs / wallMs : 0,
      serverBusy: performance.eventLoopUtilization(open.elu).utilization,
      otherLoad: machine > 0 ? Math.min(1, Math.max(0, others / machine)) : 0,
      clientCpuMs: client,
      rssEndBytes: memory.rss,
      rssPeakBytes: Math.max(open.rssPeak, memory.rss),
      heapUsedBytes: memory.heapUsed,
      externalBytes: memory.external,
      sql: sqlDelta(open.sql, sqlCounts()),
      bus: busDelta(open.bus, busCounts()),
    });
  }
}

/** The machine's cores, to turn a share of the machine into cores. */
export const MACHINE_CORES = os.cpus().length;
