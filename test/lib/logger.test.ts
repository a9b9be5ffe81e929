import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest'
import { createLogger, formatLine, logger } from '../../src/lib/logger'

let out: Record<'log' | 'warn' | 'error', MockInstance>

beforeEach(() => {
  out = {
    log: vi.spyOn(console, 'log').mockImplementation(() => {}),
    warn: vi.spyOn(console, 'warn').mockImplementation(() => {}),
    error: vi.spyOn(console, 'error').mockImplementation(() => {}),
  }
})
afterEach(() => vi.restoreAllMocks())

/** The lines written to each console method, parsed. */
const written = () => ({
  log: out.log.mock.calls.map((c) => JSON.parse(String(c[0]))),
  warn: out.warn.mock.calls.map((c) => JSON.parse(String(c[0]))),
  error: out.error.mock.calls.map((c) => JSON.parse(String(c[0]))),
})

describe('logger', () => {
  it('writes one JSON line with level, message and the fields, as one string argument', () => {
    logger.info('hold expired', { holdId: 'hld_1', amount: 1_500_000, nested: { a: [1, 2] }, gone: undefined })
    expect(out.log).toHaveBeenCalledTimes(1)
    expect(out.log.mock.calls[0]!.length).toBe(1)
    const line = String(out.log.mock.calls[0]![0])
    expect(line).not.toContain('\n')
    expect(JSON.parse(line)).toEqual({ level: 'info', message: 'hold expired', holdId: 'hld_1', amount: 1_500_000, nested: { a: [1, 2] } })
    expect(Object.keys(JSON.parse(line)).slice(0, 2), line).toEqual(['level', 'message'])
  })

  it('routes info to console.log, warn to console.warn, error to console.error', () => {
    logger.info('i')
    logger.warn('w', { n: 1 })
    logger.error('e', { n: 2 })
    expect(written()).toEqual({
      log: [{ level: 'info', message: 'i' }],
      warn: [{ level: 'warn', message: 'w', n: 1 }],
      error: [{ level: 'error', message: 'e', n: 2 }],
    })
  })

  it('log(level, …) routes by the level given at run time', () => {
    for (const level of ['info', 'warn', 'error'] as const) logger.log(level, `as ${level}`, { level: 'spoofed', message: 'spoofed' })
    expect(written()).toEqual({
      log: [{ level: 'info', message: 'as info' }],
      warn: [{ level: 'warn', message: 'as warn' }],
      error: [{ level: 'error', message: 'as error' }],
    })
  })

  it('with() binds fields (the request id) to every line; a call’s own fields win; the parent is unchanged', () => {
    const req = logger.with({ requestId: 'req_abc' })
    const mod = req.with({ module: 'activations', step: 'bound' })
    mod.warn('refund failed', { activationId: 'act_1', step: 'own' })
    req.error('boom')
    logger.info('plain')
    const w = written()
    expect(w.warn).toEqual([{ level: 'warn', message: 'refund failed', requestId: 'req_abc', module: 'activations', step: 'own', activationId: 'act_1' }])
    expect(w.error).toEqual([{ level: 'error', message: 'boom', requestId: 'req_abc' }])
    expect(w.log).toEqual([{ level: 'info', message: 'plain' }])
  })

  it('a destructured log method keeps its bound fields', () => {
    const { log } = createLogger({ job: 'sweeper' })
    log('warn', 'step failed', { step: 'x' })
    expect(written().warn).toEqual([{ level: 'warn', message: 'step failed', job: 'sweeper', step: 'x' }])
  })
})

describe('error serialisation', () => {
  const failure = () => {
    const e = new Error('D1_ERROR: no such table')
    e.stack = 'Error: D1_ERROR: no such table\n    at run (db.ts:1:1)'
    return e
  }

  it('an Error field is written as its message; on an error line its stack is added as `stack`', () => {
    logger.error('metrics flush failed', { requestId: 'req_1', error: failure() })
    expect(written().error).toEqual([
      { level: 'error', message: 'metrics flush failed', requestId: 'req_1', error: 'D1_ERROR: no such table', stack: 'Error: D1_ERROR: no such table\n    at run (db.ts:1:1)' },
    ])
  })

  it('below error level the message only, no stack', () => {
    logger.warn('batch failed', { error: failure() })
    logger.info('retried', { cause: failure() })
    expect(written().warn).toEqual([{ level: 'warn', message: 'batch failed', error: 'D1_ERROR: no such table' }])
    expect(written().log).toEqual([{ level: 'info', message: 'retried', cause: 'D1_ERROR: no such table' }])
  })

  it('an explicit stack field is kept; string and non-Error values pass through as they are', () => {
    logger.error('x', { error: failure(), stack: 'given' })
    logger.error('y', { error: 'already text', thrown: { code: 42 } })
    expect(written().error).toEqual([
      { level: 'error', message: 'x', error: 'D1_ERROR: no such table', stack: 'given' },
      { level: 'error', message: 'y', error: 'already text', thrown: { code: 42 } },
    ])
  })

  it('fields JSON cannot write still give a line rather than a throw', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(() => logger.error('cyclic', { cyclic })).not.toThrow()
    const [line] = written().error
    expect(line).toMatchObject({ level: 'error', message: 'cyclic' })
    expect(line.logError).toMatch(/not serialisable/)
    expect(JSON.parse(formatLine('warn', 'big', { n: 1n }))).toMatchObject({ level: 'warn', message: 'big' })
  })
})
