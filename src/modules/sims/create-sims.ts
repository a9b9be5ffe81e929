import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { CreatedSims, CreateSimsBody } from './schemas'
import { simErrors, SIM_TAG, upstreamErrors, simHourly } from './routes-common'
import { withLuhn } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/sims',
  operationId: 'createSims',
  tags: [SIM_TAG],
  summary: 'Register SIMs',
  description:
    'Registers up to 100 SIMs with your account, each on its own: a SIM is created when its ICCID is valid, the SIM provider ' +
    'knows it and no account holds it; otherwise its entry says `failed` with an `error` (`INVALID_ICCID`, `ALREADY_REGISTERED` ' +
    'for one of yours, `SIM_NOT_AVAILABLE` for one the provider does not know or that is not available to you, `DUPLICATE` when the ' +
    'request names it twice, `UPSTREAM_ERROR`). 201 whatever the per-SIM outcome; `created` and `failed` count them. The SIM ' +
    'provider is the active provider of kind `sim` with the highest priority.',
  middleware: [rateClass('general'), simHourly, requireAuth({ permission: 'sims:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(CreateSimsBody) },
  responses: { 201: ok(CreatedSims, 'Per-SIM results'), ...simErrors, ...upstreamErrors },
})

export const registerCreateSims = (r: Router) =>
  r.openapi(route, async (c) => {
    const results = await c.var.services.sims.register(contextOf(c), c.req.valid('json'))
    const sims = results.map((o) =>
      o.status === 'created' ? { iccid: o.sim.iccid, iccid_with_luhn: withLuhn(o.sim.iccid), id: o.sim.id, status: 'created' as const } : { iccid: o.iccid, status: 'failed' as const, error: o.error },
    )
    const created = sims.filter((s) => s.status === 'created').length
    return c.json(envelope(c, { created, failed: sims.length - created, sims }), 201)
  })
