import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** `json` for machines, `pretty` for people; `auto` picks pretty when stdout is a terminal. */
  format?: 'json' | 'pretty' | 'auto';
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const format = options.format ?? 'auto';
  const destination = options.destination ?? process.stdout;
  const usePretty = format === 'pretty' || (format === 'auto' && (destination as NodeJS.WriteStream).isTTY === true);
  if (usePretty) {
    // Synchronous so that nothing logged just before exit is lost.
    return pino({ level }, pretty({ sync: true, destination: destination as NodeJS.WritableStream & { fd?: number }, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino({ level, base: undefined }, destination as NodeJS.WritableStream & { write(msg: string): void });
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
