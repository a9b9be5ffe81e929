import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { SetLimitsBody, SimLimitsUpdated } from './schemas'
import { SIM_TAG, upstreamErrors, simHourly } from './routes-common'
import { simLimitsView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/sims/limits',
  operationId: 'setSimLimits',
  tags: [SIM_TAG],
  summary: "Set your SIMs' global limits",
  description:
    'Daily and monthly data (bytes) and SMS (messages) limits for all of your SIMs, and `enforce_limits`. Each limit is a non-negative ' +
    'integer or null (no limit); a field left out keeps its value. Switchboard stores the limits and answers them with `updated_at`. ' +
    'They are also pushed to the provider: each provider holding your SIMs is given them for those SIMs, where it has per-SIM limits. ' +
    "1NCE has no per-SIM limits (its limits cover every SIM of the organisation, other customers' too), so for 1NCE SIMs nothing is " +
    'sent and the limits are held by Switchboard only. Switchboard itself does not stop a SIM or an SMS over a limit: enforcement is ' +
    "the provider's. When a provider fails the answer is 502 and the stored limits do not change.",
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(SetLimitsBody) },
  responses: { 200: ok(SimLimitsUpdated, 'The limits as stored'), ...errorResponses, ...upstreamErrors },
})

export const registerSetSimLimits = (r: Router) =>
  r.openapi(route, async (c) => {
    const limits = await c.var.services.simLimits.set(contextOf(c), c.req.valid('json'))
    return c.json(envelope(c, { ...simLimitsView(limits), updated_at: limits.updatedAt!.toISOString() }), 200)
  })
