/**
 * The one logger: one JSON line per event, `{ level, message, ...fields }`. Workers Logs indexes
 * the fields of a JSON line, so `logger.info('hold expired', { holdId })` is searchable by
 * `holdId`. The console method follows the level (info → console.log, warn → console.warn,
 * error → console.error): the platform takes a line's severity from the method.
 *
 * `logger.with({ requestId })` (or any fields: `{ module: 'activations' }`) binds fields to every
 * line of the logger it returns. An `Error` in the fields is written as its message, so an `error`
 * field stays a string however it was passed; on an error line the first Error's stack is added
 * as `stack`. The logger holds no env and no state: a module-level instance is safe to share.
 */

export type LogLevel = 'info' | 'warn' | 'error'
export type LogFields = Record<string, unknown>

export interface Logger {
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  /** For a level decided at run time (`r.ok ? 'info' : 'warn'`). */
  log(level: LogLevel, message: string, fields?: LogFields): void
  /** A logger that adds `fields` to each line (a call's own fields win over them). */
  with(fields: LogFields): Logger
}

const WRITE: Record<LogLevel, (line: string) => void> = {
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
  error: (line) => console.error(line),
}

/** The JSON line of one event; exported for tests. */
export function formatLine(level: LogLevel, message: string, fields: LogFields = {}): string {
  const entry: LogFields = { level, message }
  let stack: string | undefined
  for (const [key, value] of Object.entries(fields)) {
    if (value instanceof Error) {
      entry[key] = value.message
      stack ??= value.stack
    } else {
      entry[key] = value
    }
  }
  // A field named level or message must not change what the line is.
  entry.level = level
  entry.message = message
  if (level === 'error' && stack !== undefined && entry.stack === undefined) entry.stack = stack
  try {
    return JSON.stringify(entry)
  } catch (e) {
    // A field JSON cannot write (a cycle, a BigInt): keep the event rather than throw from a log call.
    return JSON.stringify({ level, message, logError: `fields not serialisable: ${(e as Error).message}` })
  }
}

export function createLogger(bound: LogFields = {}): Logger {
  const log = (level: LogLevel, message: string, fields: LogFields = {}) => WRITE[level](formatLine(level, message, { ...bound, ...fields }))
  return {
    log,
    info: (message, fields) => log('info', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
    with: (fields) => createLogger({ ...bound, ...fields }),
  }
}

export const logger = createLogger()
