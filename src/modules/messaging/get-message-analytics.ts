import { createRoute } from '@hono/zod-openapi'
import { err, envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { MessageAnalytics, MessageAnalyticsQuery } from './analytics-schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/analytics/messages',
  operationId: 'getMessageAnalytics',
  tags: ['analytics', 'messaging'],
  summary: 'Message statistics over a period',
  description:
    "The caller's messages created in the period (all projects, deleted ones included, or only `projectId`). `from` and `to` " +
    'are a date (`YYYY-MM-DD`, UTC; as `to` it covers its whole day) or an ISO 8601 date-time (`to` included); without `to` ' +
    'the period ends now, without `from` it starts 30 days before its end; `to` before `from` is a 400. `period` gives its ' +
    'first and last instant. `sent` counts the messages that left the queue (status `sent`, `delivered`, `read` or `failed`; ' +
    'queued ones are not counted), `delivered` those `delivered` or `read`, `failed` those `failed`; `deliveredRate` is ' +
    'delivered / sent to 3 decimals (0 when nothing was sent). `byConnector` has the same figures per connector type, only ' +
    'for types with messages; `byDay` per UTC day of creation, only days with messages, ascending. A `projectId` that is ' +
    "not one of the caller's projects, or a deleted one, is a 404 `PROJECT_NOT_FOUND`. A user session or an API key with " +
    '`messages:read`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'messages:read' })] as const,
  security: keySecurity,
  request: { query: MessageAnalyticsQuery },
  responses: {
    200: ok(MessageAnalytics, 'Message statistics of the period'),
    ...errorResponses,
    404: err("`projectId` is unknown, another account's or deleted (`PROJECT_NOT_FOUND`)"),
  },
})

export const registerGetMessageAnalytics = (r: Router) =>
  r.openapi(route, async (c) => {
    const data = await c.var.services.messageAnalytics.messages(contextOf(c), c.req.valid('query'))
    return c.json(envelope(c, data), 200)
  })
