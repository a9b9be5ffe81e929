import type { Context } from 'hono'
import type { z } from 'zod'
import { ValidationError } from './errors'
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
