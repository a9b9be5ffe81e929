/**
 * Display text (names, labels, descriptions, notes, friendly names, reasons, tags, company and
 * address lines) refuses NUL and the other C0/C1 control characters, DEL, the bidirectional
 * embedding/override/isolate characters and the Unicode line/paragraph separators — with a 400
 * VALIDATION_ERROR naming the field. Multi-line fields (notes, descriptions, reasons) keep \n and
 * \t (a \r\n arrives as \n); one-line fields refuse them too. Letters of every script, marks and
 * emoji stay welcome.
 */
import { describe, expect, it } from 'vitest'
import { call, expectErrorEnvelope, registerAdmin, registerUser, uniqueEmail, PASSWORD, type TestUser } from '../helpers/api'

type Who = 'anonymous' | 'user' | 'admin'
interface Case {
  name: string
  method: 'POST' | 'PUT' | 'DELETE'
  path: string
  who: Who
  field: string
  multiline: boolean
  body: (v: string) => unknown
}

const NUMBER = '/api/v1/numbers/pn_does_not_matter'
const address = (line1: string) => ({ line1, city: 'Berlin', country: 'DE' })

const CASES: Case[] = [
  {
    name: 'register firstName',
    method: 'POST',
    path: '/api/v1/auth/register',
    who: 'anonymous',
    field: 'firstName',
    multiline: false,
    body: (v) => ({ email: uniqueEmail(), password: PASSWORD, firstName: v, lastName: 'User' }),
  },
  {
    name: 'register lastName',
    method: 'POST',
    path: '/api/v1/auth/register',
    who: 'anonymous',
    field: 'lastName',
    multiline: false,
    body: (v) => ({ email: uniqueEmail(), password: PASSWORD, firstName: 'Test', lastName: v }),
  },
  { name: 'register name', method: 'POST', path: '/api/v1/auth/register', who: 'anonymous', field: 'name', multiline: false, body: (v) => ({ email: uniqueEmail(), password: PASSWORD, name: v }) },
  {
    name: 'register company',
    method: 'POST',
    path: '/api/v1/auth/register',
    who: 'anonymous',
    field: 'company',
    multiline: false,
    body: (v) => ({ email: uniqueEmail(), password: PASSWORD, firstName: 'Test', lastName: 'User', company: v }),
  },
  { name: 'API key name', method: 'POST', path: '/api/v1/api-keys', who: 'user', field: 'name', multiline: false, body: (v) => ({ name: v, permissions: ['*'] }) },
  { name: 'API key description', method: 'POST', path: '/api/v1/api-keys', who: 'user', field: 'description', multiline: true, body: (v) => ({ name: 'k', permissions: ['*'], description: v }) },
  {
    name: 'webhook description',
    method: 'POST',
    path: '/api/v1/webhooks',
    who: 'user',
    field: 'description',
    multiline: true,
    body: (v) => ({ url: 'https://example.com/hook', events: ['*'], description: v }),
  },
  { name: 'webhook description (update)', method: 'PUT', path: '/api/v1/webhooks/we_does_not_matter', who: 'user', field: 'description', multiline: true, body: (v) => ({ description: v }) },
  { name: 'number friendlyName', method: 'PUT', path: NUMBER, who: 'user', field: 'friendlyName', multiline: false, body: (v) => ({ friendlyName: v }) },
  { name: 'number tags', method: 'PUT', path: NUMBER, who: 'user', field: 'tags.0', multiline: false, body: (v) => ({ tags: [v] }) },
  { name: 'number notes', method: 'PUT', path: NUMBER, who: 'user', field: 'notes', multiline: true, body: (v) => ({ notes: v }) },
  {
    name: 'number configuration name',
    method: 'POST',
    path: `${NUMBER}/configure`,
    who: 'user',
    field: 'configuration.name',
    multiline: false,
    body: (v) => ({ configuration: { name: v, routingRules: {}, features: { recordCalls: false, transcribeCalls: false, callScreening: false, callQueue: false, voicemail: false } } }),
  },
  { name: 'number release reason', method: 'DELETE', path: NUMBER, who: 'user', field: 'reason', multiline: true, body: (v) => ({ reason: v }) },
  {
    name: 'purchase friendlyName',
    method: 'POST',
    path: '/api/v1/numbers/purchase',
    who: 'user',
    field: 'numbers.0.friendlyName',
    multiline: false,
    body: (v) => ({ numbers: [{ phoneNumber: '+14155550100', friendlyName: v }] }),
  },
  {
    name: 'order item friendlyName',
    method: 'POST',
    path: '/api/v1/orders',
    who: 'user',
    field: 'items.0.metadata.friendlyName',
    multiline: false,
    body: (v) => ({ items: [{ type: 'number_purchase', itemId: '+14155550100', metadata: { friendlyName: v } }] }),
  },
  {
    name: 'order billing address',
    method: 'POST',
    path: '/api/v1/orders',
    who: 'user',
    field: 'billing.billingAddress.line1',
    multiline: false,
    body: (v) => ({ items: [{ type: 'number_purchase', itemId: '+14155550100' }], billing: { billingAddress: address(v) } }),
  },
  { name: 'order cancel reason', method: 'PUT', path: '/api/v1/orders/ord_does_not_matter/cancel', who: 'user', field: 'reason', multiline: true, body: (v) => ({ reason: v }) },
  { name: 'billing account company', method: 'PUT', path: '/api/v1/billing/account', who: 'user', field: 'company', multiline: false, body: (v) => ({ company: v }) },
  { name: 'billing account taxId', method: 'PUT', path: '/api/v1/billing/account', who: 'user', field: 'taxId', multiline: false, body: (v) => ({ taxId: v }) },
  { name: 'billing address (account)', method: 'PUT', path: '/api/v1/billing/account', who: 'user', field: 'billingAddress.line1', multiline: false, body: (v) => ({ billingAddress: address(v) }) },
  {
    name: 'billing address, any other key',
    method: 'PUT',
    path: '/api/v1/billing/account',
    who: 'user',
    field: 'billingAddress.district',
    multiline: false,
    body: (v) => ({ billingAddress: { district: v } }),
  },
  {
    name: 'payment method billing address',
    method: 'POST',
    path: '/api/v1/billing/payment-methods',
    who: 'user',
    field: 'billingAddress.city',
    multiline: false,
    body: (v) => ({ type: 'credit_card', token: 'tok_visa', billingAddress: { city: v } }),
  },
  { name: 'admin suspend reason', method: 'PUT', path: '/api/v1/admin/users/usr_does_not_matter/suspend', who: 'admin', field: 'reason', multiline: true, body: (v) => ({ reason: v }) },
  { name: 'admin ban reason', method: 'POST', path: '/api/v1/admin/users/usr_does_not_matter/ban', who: 'admin', field: 'reason', multiline: true, body: (v) => ({ reason: v }) },
  { name: 'admin role reason', method: 'PUT', path: '/api/v1/admin/users/usr_does_not_matter/role', who: 'admin', field: 'reason', multiline: true, body: (v) => ({ role: 'user', reason: v }) },
  { name: 'admin reactivate reason', method: 'PUT', path: '/api/v1/admin/users/usr_does_not_matter/reactivate', who: 'admin', field: 'reason', multiline: true, body: (v) => ({ reason: v }) },
  { name: 'wallet top-up reason', method: 'POST', path: '/api/wallet/topup', who: 'admin', field: 'reason', multiline: true, body: (v) => ({ userId: 'usr_does_not_matter', amount: 1, reason: v }) },
]

/** Refused everywhere: NUL, another C0 control, DEL, C1 controls, bidi overrides/embeddings/isolates, line/paragraph separators, an unpaired surrogate. */
const REFUSED = ['ab\u0000c', 'ab\u0007c', 'ab\u001bc', 'ab\u007fc', 'ab\u0085c', 'ab\u009bc', 'ab\u202ac', 'ab\u202ec', 'ab\u2066c', 'ab\u2069c', 'ab\u2028c', 'ab\u2029c', 'ab\rc', 'ab\ud800c']
/** Refused in one-line fields only. */
const MULTILINE_ONLY = ['ab\nc', 'ab\tc']

describe('display text', () => {
  // One test per field: each sends 14–16 requests.
  for (const c of CASES) {
    it(`${c.name}: control, bidi-override and separator characters are a 400 VALIDATION_ERROR naming ${c.field}`, async () => {
      const accepted: string[] = []
      let caller: TestUser | undefined
      const values = [...REFUSED, ...(c.multiline ? [] : MULTILINE_ONLY)]
      for (const [i, value] of values.entries()) {
        // A fresh caller every 8 requests stays under every per-minute limit (purchases: 10).
        if (c.who !== 'anonymous' && i % 8 === 0) caller = c.who === 'admin' ? await registerAdmin() : await registerUser()
        const res = await call(c.path, { method: c.method, token: caller?.accessToken, body: c.body(value) })
        const fields = res.status === 400 ? (res.body.error?.details ?? []).map((d: { field: string }) => d.field) : []
        if (res.status !== 400 || !fields.includes(c.field)) {
          accepted.push(`${JSON.stringify(value)} → ${res.status} ${res.text.slice(0, 120)}`)
          continue
        }
        expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      }
      expect(accepted).toEqual([])
    })
  }

  it('says which character it refused', async () => {
    const u = await registerUser()
    const res = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'ops\u202egnp.exe', permissions: ['*'] } })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    const issue = res.body.error.details.find((d: { field: string }) => d.field === 'name')
    expect(issue?.message, res.text).toMatch(/U\+202E/)
    expect(issue?.message, res.text).toMatch(/bidirectional/i)
    const nul = await call('/api/v1/api-keys', { token: u.accessToken, body: { name: 'a\u0000b', permissions: ['*'] } })
    expect(nul.body.error.details[0].message, nul.text).toMatch(/control character.*U\+0000/i)
  })

  it('letters of any script, marks, emoji (with joiners) and direction marks stay welcome; multi-line fields keep \\n and \\t', async () => {
    const reg = await call('/api/v1/auth/register', {
      body: { email: uniqueEmail(), password: PASSWORD, firstName: 'Zoë', lastName: 'ʻŌlelo-Ñúñez', company: 'Ärzte & Söhne 株式会社 شركة' },
    })
    expect(reg.status, reg.text).toBe(201)
    expect(reg.body.data.user.lastName).toBe('ʻŌlelo-Ñúñez')
    expect(reg.body.data.user.company).toBe('Ärzte & Söhne 株式会社 شركة')

    const u = await registerUser()
    const name = 'Команда 山田 محمد \u200fעברית\u200e 👩‍👩‍👧 ✅'
    const res = await call('/api/v1/api-keys', { token: u.accessToken, body: { name, permissions: ['*'], description: 'line one\r\n\tline two\nline three' } })
    expect(res.status, res.text).toBe(201)
    expect(res.body.data.name).toBe(name)
    expect(res.body.data.description, res.text).toBe('line one\n\tline two\nline three')
  })
})
