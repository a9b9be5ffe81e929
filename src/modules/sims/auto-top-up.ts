import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { AutoTopUpBody, AutoTopUpResult } from './schemas'
import { simErrors, SIM_TAG, simHourly } from './routes-common'

const route = createRoute({
  method: 'post',
  path: '/api/v1/sims/auto-topup',
  operationId: 'configureSimAutoTopUp',
  tags: [SIM_TAG],
  summary: 'Configure auto top-up',
  description:
    "For each SIM (up to 100): when the quota's usage reaches `threshold_percentage` of its volume, the 15-minute sync tops it up " +
    'by `topup_amount`, charged to the wallet like a single top-up — once per crossing, however many syncs see it. ' +
    '`threshold_percentage` is also the mark of the `quota_threshold_reached` event. `enabled: false` turns it off. A SIM already ' +
    'past the threshold when enabled tops up at the next sync. When the wallet cannot pay, nothing is charged and the next sync tries ' +
    'again. Per-SIM results: an invalid or unknown ICCID fails alone.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(AutoTopUpBody) },
  responses: { 200: ok(AutoTopUpResult, 'Per-SIM results'), ...simErrors },
})

export const registerAutoTopUp = (r: Router) =>
  r.openapi(route, async (c) => {
    const input = c.req.valid('json')
    const results = await c.var.services.simTopUpService.configureAuto(contextOf(c), input)
    const details = results.map((r) =>
      r.ok
        ? { iccid: r.iccid, status: 'configured' as const, enabled: input.enabled, threshold: input.threshold_percentage, topup_amount: input.topup_amount }
        : { iccid: r.iccid, status: 'failed' as const, error: r.error },
    )
    const configured = details.filter((d) => d.status === 'configured').length
    return c.json(envelope(c, { configured_sims: configured, failed_sims: details.length - configured, details }), 200)
  })
