/** The billing routes of this module and of subscriptions are in the OpenAPI document, with their decisions described. */
import { describe, expect, it } from 'vitest'
import { call } from '../../helpers/api'

describe('billing routes in /openapi.json', () => {
  it('documents subscriptions, the billing account, payment methods and the top-up', async () => {
    const res = await call('/openapi.json')
    expect(res.status, res.text.slice(0, 2000)).toBe(200)
    const paths = res.body.paths as Record<string, Record<string, { description?: string; requestBody?: unknown }>>
    const ops: [string, string][] = [
      ['/api/subscription', 'get'],
      ['/api/subscription', 'post'],
      ['/api/subscription', 'patch'],
      ['/api/v1/billing/account', 'get'],
      ['/api/v1/billing/account', 'put'],
      ['/api/v1/billing/payment-methods', 'get'],
      ['/api/v1/billing/payment-methods', 'post'],
      ['/api/v1/billing/payment-methods/{id}', 'delete'],
      ['/api/v1/billing/payment-methods/{id}/default', 'put'],
      ['/api/v1/billing/top-up', 'post'],
    ]
    for (const [path, method] of ops) expect(paths[path]?.[method]?.description, `${method} ${path}`).toBeTruthy()
    expect(paths['/api/subscription']!.patch!.description).toMatch(/proration/i)
    expect(paths['/api/subscription']!.patch!.description).toMatch(/downgrade/i)
    expect(paths['/api/v1/billing/payment-methods']!.post!.description).toContain('tok_chargeDeclined')
    const schemas = res.body.components?.schemas ?? {}
    for (const name of ['BillingAccountResponse', 'PaymentMethod', 'AddPaymentMethodRequest', 'Subscription', 'Payment']) expect(schemas[name], name).toBeTruthy()
  })
})
