import { pino, type Logger, type LoggerOptions as PinoOptions } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** `json` for machines, `pretty` for people; `auto` picks pretty when stdout is a terminal. */
  format?: 'json' | 'pretty' | 'auto';
  destination?: NodeJS.WritableStream;
}

/** The bindings of a child logger as parsed from pino's pre-serialised text, cached per text. */
const boundFields = new WeakMap<Logger, { text: string; fields: Record<string, unknown> }>();

function boundFieldsOf(logger: Logger): Record<string, unknown> {
  const text = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
  const cached = boundFields.get(logger);
  if (cached?.text === text) return cached.fields;
  const fields = text === '' ? {} : logger.bindings();
  boundFields.set(logger, { text, fields });
  return fields;
}

/**
 * Drops from a log call's fields those its logger already binds with the same value. The host
 * binds `{ exporter: id }` (or receiver, processor, …) on each component's logger, and
 * components also name themselves in their log calls; pino writes both, so a line read
 * `"exporter":"file","exporter":"file"`. A field bound with a different value is kept: the
 * call's value is news, and JSON readers take the last one.
 */
function dropBoundFields(this: Logger, args: Parameters<Logger['info']>, method: Logger['info']): void {
  const [first] = args;
  if (first !== null && typeof first === 'object' && !(first instanceof Error)) {
    const bound = boundFieldsOf(this);
    const fields = first as Record<string, unknown>;
    const repeated = Object.keys(fields).filter((key) => Object.hasOwn(bound, key) && bound[key] === fields[key]);
    if (repeated.length > 0) {
      const rest = { ...fields };
      for (const key of repeated) delete rest[key];
      args = [rest, ...args.slice(1)] as typeof args;
    }
  }
  method.apply(this, args as Parameters<Logger['info']>);
}

const common: PinoOptions = { hooks: { logMethod: dropBoundFields as NonNullable<PinoOptions['hooks']>['logMethod'] } };

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const format = options.format ?? 'auto';
  const destination = options.destination ?? process.stdout;
  const usePretty = format === 'pretty' || (format === 'auto' && (destination as NodeJS.WriteStream).isTTY === true);
  if (usePretty) {
    // Synchronous so that nothing logged just before exit is lost.
    return pino(
      { ...common, level },
      pretty({ sync: true, destination: destination as NodeJS.WritableStream & { fd?: number }, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }),
    );
  }
  return pino({ ...common, level, base: undefined }, destination as NodeJS.WritableStream & { write(msg: string): void });
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
