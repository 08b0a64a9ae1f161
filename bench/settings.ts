/** The command line of `npm run bench`: what to run and how long. */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const SUITE_NAMES = ['registry', 'transfers', 'notifications', 'gateway'] as const;
export type SuiteName = (typeof SUITE_NAMES)[number];

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const USAGE = `usage: npm run bench -- [options]

  --suite          registry, transfers, notifications, gateway or all (default all); repeat or
                   comma-separate to pick several
  --duration       measured seconds per scenario (default 5, at most 120)
  --warmup         warm-up seconds per scenario, not measured (default 1, at most 60)
  --concurrency    requests (suite 1) or transfers (suite 2) in flight (default 16, at most 256);
                   the gateway suite always runs 1, 16 and 128
  --max-requests   stop measuring a scenario after this many requests (default 1000000)
  --large-bytes    size of suite 2's large transfer, in bytes or with a K, M or G suffix
                   (binary: 64M = 64 MiB; default 1G, at least 1M, at most 2G)
  --receivers      recipient apps in suite 2, each with its own polling receiver (default 4, at most 32)
  --poll-ms        how long a receiver waits before polling again after a poll that found nothing new
                   (default 20, at most 5000)
  --apps           apps of suite 3 that subscribe and heartbeat, 500 of them also the fan-out's
                   recipients (default 5000, at least 10, at most 9900)
  --out            where to write latest.md and latest.json (default bench/reports)

Environment: DATABASE_URL (a real PostgreSQL instead of PGlite), NATS_URL (a real
NATS JetStream instead of the in-process bus), BENCH_LOG_LEVEL (mesh logs, default silent).`;

export interface Settings {
  readonly suites: readonly SuiteName[];
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly concurrency: number;
  readonly maxRequests: number;
  readonly largeBytes: number;
  readonly receivers: number;
  readonly pollMs: number;
  /** Suite 3: apps holding a stream and heartbeating; the first 500 are also the fan-out's recipients. */
  readonly apps: number;
  readonly outDir: string;
}

/** A wrong command line: reported with the usage, without a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The settings, or undefined when only the usage was asked for. */
export function readSettings(argv: readonly string[] = process.argv.slice(2)): Settings | undefined {
  let values: ReturnType<typeof parseOptions>['values'];
  try {
    values = parseOptions(argv).values;
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  }
  if (values.help === true) {
    console.log(USAGE);
    return undefined;
  }
  const number = (name: string, raw: string | undefined, fallback: number, min: number, max: number) => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new UsageError(`--${name} must be a number between ${min} and ${max}, got "${raw}"\n\n${USAGE}`);
    }
    return value;
  };
  return {
    suites: readSuites(values.suite),
    durationMs: Math.round(number('duration', values.duration, 5, 0.1, 120) * 1000),
    warmupMs: Math.round(number('warmup', values.warmup, 1, 0, 60) * 1000),
    concurrency: Math.round(number('concurrency', values.concurrency, 16, 1, 256)),
    maxRequests: Math.round(number('max-requests', values['max-requests'], 1_000_000, 1, 10_000_000)),
    largeBytes: readBytes(values['large-bytes']),
    receivers: Math.round(number('receivers', values.receivers, 4, 1, 32)),
    pollMs: Math.round(number('poll-ms', values['poll-ms'], 20, 0, 5000)),
    apps: Math.round(number('apps', values.apps, 5000, 10, 9900)),
    outDir: values.out ?? fileURLToPath(new URL('./reports', import.meta.url)),
  };
}

function parseOptions(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      suite: { type: 'string', multiple: true },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string' },
      'max-requests': { type: 'string' },
      'large-bytes': { type: 'string' },
      receivers: { type: 'string' },
      'poll-ms': { type: 'string' },
      apps: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
}

function readSuites(raw: readonly string[] | undefined): SuiteName[] {
  const names = (raw ?? ['all']).flatMap((value) => value.split(',')).map((value) => value.trim());
  if (names.includes('all')) return [...SUITE_NAMES];
  const chosen = new Set<SuiteName>();
  for (const name of names) {
    const suite = SUITE_NAMES.find((known) => known === name);
    if (suite === undefined) {
      throw new UsageError(
        `--suite must be one of ${SUITE_NAMES.join(', ')} or all, got "${name}"\n\n${USAGE}`,
      );
    }
    chosen.add(suite);
  }
  // Always in the documented order, whatever the order on the command line.
  return SUITE_NAMES.filter((name) => chosen.has(name));
}

/** `1073741824`, `1G`, `64M`, `512K` (binary multiples). */
function readBytes(raw: string | undefined): number {
  if (raw === undefined) return GiB;
  const match = /^(\d+)\s*([KMG]?)(?:i?B)?$/i.exec(raw.trim());
  const unit = { '': 1, K: KiB, M: MiB, G: GiB }[(match?.[2] ?? '').toUpperCase()];
  const bytes = match === null || unit === undefined ? Number.NaN : Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes < MiB || bytes > 2 * GiB) {
    throw new UsageError(`--large-bytes must be between 1M and 2G, got "${raw}"\n\n${USAGE}`);
  }
  return bytes;
}
