import { createRoute } from '@hono/zod-openapi'
import { envelope, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { SimSmsDetails, SmsParam } from './schemas'
import { simErrors, SIM_TAG, simHourly } from './routes-common'
import { simSmsDetailsView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/sims/{iccid}/sms/{id}',
  operationId: 'getSimSms',
  tags: [SIM_TAG],
  summary: 'One SMS and its delivery status',
  description: '`id` is the `sms_id` (as `status_url` names it) or the integer `id`. Read through from the SIM provider like the list. ' + "404 when the SIM has no such message (also another SIM's).",
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:read' })] as const,
  security: keySecurity,
  request: { params: SmsParam },
  responses: { 200: ok(SimSmsDetails, 'The message'), ...simErrors },
})

export const registerGetSimSms = (r: Router) =>
  r.openapi(route, async (c) => {
    const { iccid, id } = c.req.valid('param')
    const { sim, sms } = await c.var.services.simSms.get(contextOf(c), iccid, id)
    return c.json(envelope(c, simSmsDetailsView(sim.iccid, sms)), 200)
  })
