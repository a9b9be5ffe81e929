import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { SimLimitsView } from './schemas'
import { SIM_TAG, simHourly } from './routes-common'
import { simLimitsView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/sims/limits',
  operationId: 'getSimLimits',
  tags: [SIM_TAG],
  summary: "Your SIMs' global limits",
  description: 'The limits last set with POST /api/v1/sims/limits. Never set: every limit null and `enforce_limits` false.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  responses: { 200: ok(SimLimitsView, 'The limits'), ...errorResponses },
})

export const registerGetSimLimits = (r: Router) =>
  r.openapi(route, async (c) => {
    const limits = await c.var.services.simLimits.get(contextOf(c))
    return c.json(envelope(c, simLimitsView(limits)), 200)
  })
