/**
 * The closed loop of suite 2's workers, as suite 1's load.ts runs it:
 * `concurrency` loops each start an operation, wait for it, and start the
 * next; first for the warm-up (not recorded), then for the measured window,
 * which ends when its time is up (or `maxOps` were recorded) and the
 * operations in flight have finished. Every correct operation's latency is
 * recorded; a failed one is counted with a sample of its message.
 */
import type { WorkerPort } from '../worker-side.js';
import type { LoopResult } from './spec.js';

export interface LoopSettings {
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly concurrency: number;
  readonly maxOps: number;
}

/**
 * Runs `op` in the closed loop. `onRecorded` sees each measured operation's
 * value and index (for detail kept beside the latency); `onMeasuring` runs
 * when the measured window opens (to reset counters).
 */
export async function closedLoop<T>(
  settings: LoopSettings,
  port: WorkerPort,
  op: () => Promise<T>,
  onRecorded: (value: T, index: number) => void = () => {},
  onMeasuring: () => void = () => {},
): Promise<LoopResult> {
  const latencies = new Float64Array(settings.maxOps);
  let recorded = 0;
  let errors = 0;
  let warmupErrors = 0;
  const errorSamples = new Set<string>();

  const phase = async (ms: number, measured: boolean) => {
    const end = performance.now() + ms;
    const loop = async () => {
      while (performance.now() < end && (!measured || recorded < settings.maxOps)) {
        const started = performance.now();
        try {
          const value = await op();
          if (measured && recorded < settings.maxOps) {
            latencies[recorded] = performance.now() - started;
            onRecorded(value, recorded);
            recorded++;
          }
        } catch (error) {
          if (measured) errors++;
          else warmupErrors++;
          if (errorSamples.size < 5) errorSamples.add(error instanceof Error ? error.message : String(error));
        }
      }
    };
    await Promise.all(Array.from({ length: settings.concurrency }, loop));
  };

  await phase(settings.warmupMs, false);
  onMeasuring();
  port.measuring();
  const busyBefore = performance.eventLoopUtilization();
  const started = performance.now();
  await phase(settings.durationMs, true);
  const elapsedMs = performance.now() - started;
  return {
    requests: recorded,
    errors,
    warmupErrors,
    errorSamples: [...errorSamples],
    elapsedMs,
    clientBusy: performance.eventLoopUtilization(busyBefore).utilization,
    latenciesMs: latencies.slice(0, recorded),
  };
}
