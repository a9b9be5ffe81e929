import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../lib/router'
import { principalOf, requireAuth } from '../../middleware/authenticate'
import { didsOf } from './deps'
import { NumberDetails, NumberIdParam } from './schemas'

const route = createRoute({
  method: 'get',
  path: '/api/v1/numbers/{id}',
  tags: ['numbers'],
  summary: 'One of your numbers',
  description:
    'Seed 001 NumberDetailsResponse: the number, its configurations, recent calls (none are recorded yet: voice is routed upstream) and ' +
    'this and last month\'s usage (SMS received on it; calls and cost are 0). Released numbers stay readable.',
  middleware: [requireAuth({ permission: 'numbers:read' })] as const,
  security: keySecurity,
  request: { params: NumberIdParam },
  responses: { 200: ok(NumberDetails, 'The number'), ...errorResponses },
})

export const registerGetNumber = (r: Router) =>
  r.openapi(route, async (c) => {
    const n = await didsOf(c.var.services).get(principalOf(c).userId, c.req.valid('param').id)
    return c.json(envelope(c, n), 200)
  })
