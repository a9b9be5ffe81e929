/** What the messaging routes share: tags, error answers, the list envelope of seed 004. */
import { z } from '@hono/zod-openapi'
import { err, errorResponses, Meta, meta, type RequestScoped } from '../../lib/http'
import { OffsetPagination, offsetPagination } from './schemas'

export const PROJECTS_TAG = 'messaging'
export const MESSAGES_TAG = 'messaging'

export const projectErrors = {
  ...errorResponses,
  404: err("No such project on your account (`PROJECT_NOT_FOUND`), also for another account's project"),
} as const

/** A seed-004 list: `data` is the document's object (`{projects: […]}`), with `pagination {limit, offset, total, hasMore}` beside it. */
export function okSeedList<T extends z.ZodType>(schema: T, description: string) {
  return {
    content: { 'application/json': { schema: z.object({ success: z.literal(true), data: schema, pagination: OffsetPagination, meta: Meta }) } },
    description,
  }
}

export function seedList<T>(c: RequestScoped, data: T, q: { limit: number; offset: number }, total: number) {
  return { success: true as const, data, pagination: offsetPagination(q.limit, q.offset, total), meta: meta(c) }
}
