import { pino, type Logger } from 'pino';
import { UsageError } from './usage.js';

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** pino JSON logs to stderr (never stdout: that is for --json events) or to a file. */
export function createLogger(level: string | undefined, file: string | undefined, name: string): Logger {
  const chosen = level ?? 'warn';
  if (!LEVELS.has(chosen)) throw new UsageError(`--log-level ${chosen} is not one of ${[...LEVELS].join(', ')}`);
  const destination = file ? pino.destination({ dest: file, sync: true, mkdir: true }) : pino.destination({ fd: 2, sync: true });
  return pino({ name, level: chosen }, destination);
}
