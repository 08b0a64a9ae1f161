import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level?: string;
  readonly service?: string;
}

/**
 * JSON logs on stdout, one line per event. Secrets never reach a log: the
 * redaction list covers every field name that may carry one.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: options.level ?? 'info',
    base: options.service === undefined ? {} : { service: options.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        '*.secret',
        '*.secretKey',
        '*.password',
        '*.authorization',
        '*.token',
        'req.headers.authorization',
      ],
      censor: '[redacted]',
    },
  });
}

/** A logger that writes nothing, for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
