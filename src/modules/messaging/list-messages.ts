import { createRoute } from '@hono/zod-openapi'
import { err, keySecurity, meta } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, principalOf, requireAuth } from '../../http/authenticate'
import { ListMessagesQuery, MessageList, offsetPagination } from './schemas'
import { MESSAGES_TAG, okSeedList, projectErrors } from './routes-common'
import { messageSummaryView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/messages',
  operationId: 'listMessages',
  tags: [MESSAGES_TAG],
  summary: 'Messages',
  description:
    "A project's messages, newest first, `limit`/`offset`; filters `status` (`pending` = `queued`), `connector` (type), `from`, `to` " +
    '(created). `projectId` is required with a user session or account key; a project key reads its own project (another is 403 `ACCESS_DENIED`).',
  middleware: [rateClass('general'), requireAuth({ permission: 'messages:read', projectKey: true })] as const,
  security: keySecurity,
  request: { query: ListMessagesQuery },
  responses: { 200: okSeedList(MessageList, 'Messages (`pagination` both in `data` and beside it)'), ...projectErrors, 403: err('A project key naming another project (`ACCESS_DENIED`)') },
})

export const registerListMessages = (r: Router) =>
  r.openapi(route, async (c) => {
    const q = c.req.valid('query')
    const { rows, total } = await c.var.services.messages.list(principalOf(c), contextOf(c), q)
    const pagination = offsetPagination(q.limit, q.offset, total)
    return c.json({ success: true as const, data: { messages: rows.map(messageSummaryView), pagination }, pagination, meta: meta(c) }, 200)
  })
