/**
 * Memory sampled while the large transfer runs, every 100 ms and at each
 * phase boundary: the process's resident set (what the requirement bounds,
 * every thread together) and this thread's V8 isolate — its heap in use plus
 * the memory of its buffers (`external`, which includes every Buffer and
 * ArrayBuffer). Sampled on the main thread, the isolate figure is the
 * servers'; sampled in the load worker, it is the client's. That splits the
 * process's growth between the two ends of each stream, which in a
 * deployment are separate processes.
 */

export interface MemoryReading {
  readonly rss: number;
  readonly isolate: number;
}

function read(): MemoryReading {
  const m = process.memoryUsage();
  return { rss: m.rss, isolate: m.heapUsed + m.external };
}

const max = (a: MemoryReading, b: MemoryReading): MemoryReading => ({
  rss: Math.max(a.rss, b.rss),
  isolate: Math.max(a.isolate, b.isolate),
});

export class MemorySampler {
  readonly start = read();
  /** The highest readings since the start, and since the current phase began. */
  peak: MemoryReading = this.start;
  phasePeak: MemoryReading = this.start;
  samples = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(intervalMs = 100) {
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): MemoryReading {
    const now = read();
    this.samples++;
    this.peak = max(this.peak, now);
    this.phasePeak = max(this.phasePeak, now);
    return now;
  }

  /** Ends the current phase: answers its peak, and starts the next phase's peak from the reading now. */
  nextPhase(): MemoryReading {
    const now = this.sample();
    const ended = this.phasePeak;
    this.phasePeak = now;
    return ended;
  }

  stop(): { start: MemoryReading; peak: MemoryReading; samples: number } {
    clearInterval(this.#timer);
    this.sample();
    return { start: this.start, peak: this.peak, samples: this.samples };
  }
}
