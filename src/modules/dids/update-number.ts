import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { NumberDetails, NumberIdParam, UpdateNumberBody } from './schemas'
import { numberDetailsView } from './views'
import { checkSmsUrls } from './sms-url'

const route = createRoute({
  method: 'put',
  path: '/api/v1/numbers/{id}',
  operationId: 'updateNumber',
  tags: ['numbers'],
  summary: "Change a number's settings",
  description:
    'Only these fields are writable: friendlyName, voiceUrl, voiceMethod, voiceFallbackUrl, smsUrl, ' +
    'statusCallback, tags, notes, configuration. Any other field (status, prices, phoneNumber…) is refused with 400 VALIDATION_ERROR ' +
    'rather than silently ignored. URLs must be http(s) and never internal addresses (`smsUrl` may be loopback in development or test ' +
    "with WEBHOOK_ALLOW_LOOPBACK=true); `null` clears a field. `configuration` flags merge into the number's " +
    '`features`; `tags` replaces the list. A released number answers 409 NUMBER_RELEASED.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { params: NumberIdParam, body: jsonBody(UpdateNumberBody) },
  responses: { 200: ok(NumberDetails, 'The number'), ...errorResponses, 409: err('The number is released (`NUMBER_RELEASED`)') },
})

export const registerUpdateNumber = (r: Router) =>
  r.openapi(route, async (c) => {
    const patch = c.req.valid('json')
    checkSmsUrls(c.var.services.config, [['smsUrl', patch.smsUrl]])
    const n = await c.var.services.dids.update(contextOf(c), c.req.valid('param').id, patch)
    return c.json(envelope(c, numberDetailsView(n)), 200)
  })
