import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ConfigureNumberBody, NumberConfigurationView, NumberIdParam } from './schemas'
import { configurationView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/numbers/{id}/configure',
  operationId: 'configureNumber',
  tags: ['numbers'],
  summary: 'Add a routing configuration to a number',
  description:
    'Adds a named configuration (routing rules, optional schedule, features). With `makeDefault: true` ' +
    "it becomes the number's only active configuration and its features become the number's — all in one atomic write.",
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { params: NumberIdParam, body: jsonBody(ConfigureNumberBody) },
  responses: { 201: ok(NumberConfigurationView, 'The configuration'), ...errorResponses, 409: err('The number is released (`NUMBER_RELEASED`)') },
})

export const registerConfigureNumber = (r: Router) =>
  r.openapi(route, async (c) => {
    const cfg = await c.var.services.dids.configure(contextOf(c), c.req.valid('param').id, c.req.valid('json'))
    return c.json(envelope(c, configurationView(cfg)), 201)
  })
