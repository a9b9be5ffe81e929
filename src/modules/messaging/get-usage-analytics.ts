import { createRoute } from '@hono/zod-openapi'
import { err, envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { UsageAnalytics, UsageAnalyticsQuery } from './analytics-schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/analytics/usage',
  operationId: 'getMessagingUsage',
  tags: ['analytics', 'messaging'],
  summary: 'Messaging usage, all time',
  description:
    "The caller's messaging, all time, or one project's with `projectId`. `totalMessages` counts every message created, " +
    'whatever its status (queued ones included; those of deleted projects too when no `projectId` is given); ' +
    '`topConnectors` splits the same count per connector type, most messages first, only types with messages. ' +
    '`totalProjects` counts the projects not deleted (1 with `projectId`), `totalConnectors` their connectors not deleted. ' +
    '`averageDeliveryRate` is delivered / sent over all those messages to 3 decimals (0 when nothing was sent), where sent ' +
    'are the messages that left the queue (status `sent`, `delivered`, `read` or `failed`) and delivered those `delivered` ' +
    "or `read`. A `projectId` that is not one of the caller's projects, or a deleted one, is a 404 `PROJECT_NOT_FOUND`. " +
    'A user session or an API key with `messages:read`.',
  middleware: [rateClass('general'), requireAuth({ permission: 'messages:read' })] as const,
  security: keySecurity,
  request: { query: UsageAnalyticsQuery },
  responses: {
    200: ok(UsageAnalytics, 'Messaging usage'),
    ...errorResponses,
    404: err("`projectId` is unknown, another account's or deleted (`PROJECT_NOT_FOUND`)"),
  },
})

export const registerGetUsageAnalytics = (r: Router) =>
  r.openapi(route, async (c) => {
    const data = await c.var.services.messageAnalytics.usage(contextOf(c), c.req.valid('query'))
    return c.json(envelope(c, data), 200)
  })
