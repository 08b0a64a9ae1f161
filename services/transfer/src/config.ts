import { type BaseConfig, type Env, EnvReader, readBaseConfig } from '#lib/config.js';
import { parseUtcOffset } from './domain/statistics.js';

export const TRANSFER_DEFAULT_PORT = 7103;

const KIB = 1024;
const GIB = 1024 * 1024 * 1024;
const DAY_SECONDS = 24 * 3600;

export interface TransferConfig extends BaseConfig {
  /** The registry, `host:port`, for routing recipients and checking grants. */
  readonly registryAddr: string;
  /** The storage service, `host:port`, for transfer spaces and content. */
  readonly storageAddr: string;
  /** Largest content a transfer may declare, in bytes. */
  readonly maxTransferBytes: number;
  /** Largest content that may travel inline in a request, an offer or an accept answer. */
  readonly inlineMaxBytes: number;
  /** How long an upload space stays open. */
  readonly uploadSpaceTtlSeconds: number;
  /** How long a download space stays open. */
  readonly downloadSpaceTtlSeconds: number;
  /** A transfer's deadline when its policy names none, counted from commit. */
  readonly defaultDeadlineSeconds: number;
  /** How much of the content is read to analyse it against its declared type (Art. 8.4). */
  readonly analyseMaxBytes: number;
  /** The time zone of the statistics' days, minutes east of UTC (Art. 5.12). */
  readonly statsUtcOffsetMinutes: number;
}

export function loadTransferConfig(env: Env = process.env): TransferConfig {
  const reader = new EnvReader(env);
  const base = readBaseConfig(reader, 'transfer', TRANSFER_DEFAULT_PORT);
  const config: TransferConfig = {
    ...base,
    registryAddr: reader.string('REGISTRY_ADDR', '127.0.0.1:7101'),
    storageAddr: reader.string('STORAGE_ADDR', '127.0.0.1:7104'),
    maxTransferBytes: reader.int('LGSP_MAX_TRANSFER_BYTES', 2 * GIB, { min: 1 }),
    inlineMaxBytes: reader.int('LGSP_INLINE_MAX_BYTES', 256 * KIB, { min: 0, max: 4 * 1024 * KIB }),
    uploadSpaceTtlSeconds: reader.int('LGSP_UPLOAD_SPACE_TTL_SECONDS', 3600, { min: 60, max: DAY_SECONDS }),
    downloadSpaceTtlSeconds: reader.int('LGSP_DOWNLOAD_SPACE_TTL_SECONDS', 3600, {
      min: 60,
      max: DAY_SECONDS,
    }),
    defaultDeadlineSeconds: reader.int('LGSP_DEFAULT_DEADLINE_SECONDS', 7 * DAY_SECONDS, {
      min: 60,
      max: 90 * DAY_SECONDS,
    }),
    analyseMaxBytes: reader.int('LGSP_ANALYSE_MAX_BYTES', 16 * 1024 * KIB, { min: 4 * KIB }),
    statsUtcOffsetMinutes: readOffset(reader, 'LGSP_STATS_UTC_OFFSET', '+07:00'),
  };
  reader.done();
  return Object.freeze(config);
}

function readOffset(reader: EnvReader, name: string, fallback: string): number {
  try {
    return parseUtcOffset(reader.string(name, fallback));
  } catch (err) {
    reader.report(`${name}: ${(err as Error).message}`);
    return 0;
  }
}
