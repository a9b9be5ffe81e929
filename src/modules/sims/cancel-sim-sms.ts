import { createRoute } from '@hono/zod-openapi'
import { err, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { SmsParam } from './schemas'
import { simErrors, SIM_TAG, upstreamErrors, simHourly } from './routes-common'

const route = createRoute({
  method: 'delete',
  path: '/api/v1/sims/{iccid}/sms/{id}',
  operationId: 'cancelSimSms',
  tags: [SIM_TAG],
  summary: 'Cancel an SMS',
  description:
    'Cancels a message sent to the device that the SIM provider has not delivered yet (status pending or sent): 204, also when it was ' +
    'already cancelled. The message stays in the list with status `cancelled`.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:write' })] as const,
  security: keySecurity,
  request: { params: SmsParam },
  responses: {
    204: { description: 'Cancelled' },
    ...simErrors,
    409: err('Too late: `SMS_ALREADY_DELIVERED` once delivered; `SMS_NOT_CANCELLABLE` when it failed, or was received from the device (MO)'),
    ...upstreamErrors,
  },
})

export const registerCancelSimSms = (r: Router) =>
  r.openapi(route, async (c) => {
    const { iccid, id } = c.req.valid('param')
    await c.var.services.simSms.cancel(contextOf(c), iccid, id)
    return c.body(null, 204)
  })
