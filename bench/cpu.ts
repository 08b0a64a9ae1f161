/**
 * CPU time of the machine and of this process, to tell what the run itself
 * used from what other processes took meanwhile.
 */
import os from 'node:os';

/** CPU time of the whole machine and of this process (every thread), in milliseconds. */
export interface CpuSample {
  readonly machineBusy: number;
  readonly machineTotal: number;
  readonly own: number;
}

export function cpuSample(): CpuSample {
  let busy = 0;
  let total = 0;
  for (const { times } of os.cpus()) {
    const used = times.user + times.nice + times.sys + times.irq;
    busy += used;
    total += used + times.idle;
  }
  const own = process.cpuUsage();
  return { machineBusy: busy, machineTotal: total, own: (own.user + own.system) / 1000 };
}

/**
 * What other processes took of the machine since `start`: a bench sharing its
 * cores with a build or a test run measures that contention, not the code,
 * and its ratios cannot be trusted.
 */
export function otherLoadSince(start: CpuSample, end: CpuSample = cpuSample()): number {
  const total = end.machineTotal - start.machineTotal;
  const others = end.machineBusy - start.machineBusy - (end.own - start.own);
  return total > 0 ? Math.min(1, Math.max(0, others / total)) : 0;
}

/** CPU milliseconds this process (every thread: servers, load worker, libuv pool) used since `start`. */
export function ownCpuMsSince(start: CpuSample, end: CpuSample = cpuSample()): number {
  return end.own - start.own;
}
