/**
 * Memory sampled while the large transfer runs, every 100 ms and at each
 * phase boundary: the process's resident set (what the requirement bounds,
 * every thread together) and this thread's V8 isolate — its heap in use plus
 * the memory of its buffers (`external`, which includes every Buffer and
 * ArrayBuffer). Sampled on the main thread, the isolate figure is the
 * servers'; sampled in the load worker, it is the client's. That splits the
 * process's growth between the two ends of each stream, which in a
 * deployment are separate processes.
 *
 * What the transfer added is taken as the largest **rise** of a reading over
 * any earlier one of the transfer (its start included), not only the peak
 * over the start: memory that earlier work hands back to the system while the
 * transfer runs would otherwise lower the baseline under the transfer's own
 * growth and hide it.
 */

export interface MemoryReading {
  readonly rss: number;
  readonly isolate: number;
}

function read(): MemoryReading {
  const m = process.memoryUsage();
  return { rss: m.rss, isolate: m.heapUsed + m.external };
}

export interface MemorySummary {
  readonly start: MemoryReading;
  readonly peak: MemoryReading;
  /** The largest rise over an earlier reading. */
  readonly rise: MemoryReading;
  readonly samples: number;
}

const higher = (a: MemoryReading, b: MemoryReading): MemoryReading => ({
  rss: Math.max(a.rss, b.rss),
  isolate: Math.max(a.isolate, b.isolate),
});
const lower = (a: MemoryReading, b: MemoryReading): MemoryReading => ({
  rss: Math.min(a.rss, b.rss),
  isolate: Math.min(a.isolate, b.isolate),
});
const NONE: MemoryReading = { rss: 0, isolate: 0 };

export class MemorySampler {
  readonly start = read();
  #peak = this.start;
  /** The lowest readings since the start: each reading's rise is measured over them. */
  #low = this.start;
  #rise = NONE;
  #phaseRise = NONE;
  #samples = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(intervalMs = 100) {
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): MemoryReading {
    const now = read();
    this.#samples++;
    this.#peak = higher(this.#peak, now);
    this.#low = lower(this.#low, now);
    const rise = { rss: now.rss - this.#low.rss, isolate: now.isolate - this.#low.isolate };
    this.#rise = higher(this.#rise, rise);
    this.#phaseRise = higher(this.#phaseRise, rise);
    return now;
  }

  /** Ends the current phase: answers the largest rise of a reading during it, and starts the next phase. */
  nextPhase(): MemoryReading {
    this.sample();
    const ended = this.#phaseRise;
    this.#phaseRise = NONE;
    return ended;
  }

  stop(): MemorySummary {
    clearInterval(this.#timer);
    this.sample();
    return { start: this.start, peak: this.#peak, rise: this.#rise, samples: this.#samples };
  }
}
