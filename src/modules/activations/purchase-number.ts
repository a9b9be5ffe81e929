import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { idempotent, rateClass } from '../../http/policy'
import { principalOf, requireAuth, contextOf } from '../../http/authenticate'
import { IdempotencyKeyHeader, idempotencyErrorResponses, idempotencyScope } from '../../http/idempotency'
import { ActivationView, PurchaseBody, activationView } from './schemas'

const responses = {
  201: ok(ActivationView, 'The number is yours until `expiresAt`; its price has been charged'),
  ...errorResponses,
  400: err('Invalid input (`VALIDATION_ERROR`) or not enough funds (`INSUFFICIENT_BALANCE`, `details: {required, available}` in micro-units)'),
  404: err('No offer for this service and country (from the named provider) (`NOT_FOUND`)'),
  502: err('Every provider tried failed (`UPSTREAM_ERROR`, `details.attempts`)'),
  503: err('No provider has numbers right now (`NO_NUMBERS_AVAILABLE`, `details.attempts`)'),
  ...idempotencyErrorResponses,
}

const description =
  'Buys a short-lived SMS-activation number (the activation API). Without `provider`, the cheapest healthy provider with stock is used; ' +
  'when it has no numbers (or fails), the next one is tried. The price is held in the wallet before the upstream purchase and ' +
  'captured after it; a failed purchase leaves no hold and no number. The number expires after 20 minutes; cancel it before an ' +
  'SMS arrives for a refund (`POST /api/numbers/cancel`), or it is refunded at expiry. Send `Idempotency-Key` to make a ' +
  'retry safe: the same key and body answer the first purchase again and never buy a second number.'

const routes = [
  createRoute({
    method: 'post',
    path: '/api/numbers/purchase',
    operationId: 'purchaseActivationLegacy',
    tags: ['numbers'],
    summary: 'Purchase an activation number',
    description,
    middleware: [rateClass('purchase'), idempotent(), requireAuth({ permission: 'numbers:write' })] as const,
    security: keySecurity,
    request: { headers: IdempotencyKeyHeader, body: jsonBody(PurchaseBody) },
    responses,
  }),
  createRoute({
    method: 'post',
    path: '/api/v1/numbers',
    operationId: 'purchaseActivation',
    tags: ['numbers', 'public-v1'],
    summary: 'Get a number (public v1; same as POST /api/numbers/purchase)',
    description: `${description} Thin alias of \`POST /api/numbers/purchase\` for API-key clients.`,
    middleware: [rateClass('purchase'), idempotent(), requireAuth({ permission: 'numbers:write' })] as const,
    security: keySecurity,
    request: { headers: IdempotencyKeyHeader, body: jsonBody(PurchaseBody) },
    responses,
  }),
]

export const registerPurchaseNumber = (r: Router) => {
  for (const route of routes) {
    r.openapi(route, async (c) => {
      const p = principalOf(c)
      const key = c.req.header('idempotency-key')
      const idempotency = key ? { scope: idempotencyScope(p), key } : undefined
      const record = await c.var.services.activations.purchase(contextOf(c), c.req.valid('json'), { idempotency })
      return c.json(envelope(c, activationView(record)), 201)
    })
  }
}
