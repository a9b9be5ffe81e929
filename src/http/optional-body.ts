import type { Context, MiddlewareHandler } from 'hono'
import type { z } from 'zod'
import { ValidationError } from '../lib/errors'
import { issuesOf } from './router'

/**
 * Reads a JSON body that may be absent: no body (or an empty one) is `{}`. For routes whose body
 * is optional, where the validator would refuse a missing Content-Type.
 */
export async function optionalJsonBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const raw = (await c.req.text()).trim()
  let json: unknown = {}
  try {
    json = raw ? JSON.parse(raw) : {}
  } catch {
    throw new ValidationError('Malformed JSON body', [{ field: '(body)', message: 'Malformed JSON' }])
  }
  const parsed = schema.safeParse(json ?? {})
  if (!parsed.success) throw new ValidationError('Request validation failed', issuesOf(parsed.error))
  return parsed.data
}

/**
 * Route middleware for optional JSON bodies: an empty body sent with `Content-Type:
 * application/json` (what many clients send for a bodiless POST) reads as `{}` rather than as
 * malformed JSON. Runs before the route's validator, which then sees `{}`.
 */
export const emptyJsonBodyIsEmptyObject: MiddlewareHandler = async (c, next) => {
  if (/^application\/([\w.-]+\+)?json\b/i.test(c.req.header('content-type') ?? '') && !(await c.req.text()).trim()) {
    // Hono keeps the body it read in `bodyCache` (promises by kind) and parses JSON from the cached
    // text, so replacing an empty text with '{}' is what the validator and optionalJsonBody see.
    const cache = c.req.bodyCache as Record<string, Promise<unknown>>
    cache.text = Promise.resolve('{}')
  }
  await next()
}
