import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Paths whose values are secrets wherever they appear in a logged object. Config objects,
 * connection options and command arguments are logged through these redactions.
 */
const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'key',
  '*.key',
  '*.*.key',
  'secretAccessKey',
  '*.secretAccessKey',
  '*.*.secretAccessKey',
  'token',
  '*.token',
  '*.*.token',
];

/**
 * The root logger: JSON lines on stdout (journald keeps them), one child per module
 * (`log.child({ module: 'link' })`), secrets shown as "[hidden]".
 */
export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream, copyTo?: NodeJS.WritableStream): Logger {
  const main = destination ?? pino.destination({ dest: 1, sync: false });
  const streams = copyTo
    ? pino.multistream([
        { stream: main, level: 'trace' },
        { stream: copyTo, level: 'trace' },
      ])
    : main;
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[hidden]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    streams,
  );
}

/** A logger that writes nothing, for library use and tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
