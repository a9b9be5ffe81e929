import { env } from 'cloudflare:test'
import { exports } from 'cloudflare:workers'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildRequest, call, createApiKey, expectErrorEnvelope, readResponse, registerUser, type TestUser } from '../../helpers/api'
import { callApp } from '../../helpers/app'
import { fund } from '../../helpers/catalog'
import { addUsage, generate, subscribe } from '../../helpers/billing'

const list = (u: TestUser, query = '') => call(`/api/v1/billing/invoices${query}`, { token: u.accessToken })
const ids = (res: { body: any }) => (res.body.data as { id: string }[]).map((i) => i.id)

let u: TestUser
/** Invoices of January..May 2024 on the basic plan: totals 10, 11, 12, 13, 14. */
const inv: Record<string, string> = {}

beforeAll(async () => {
  u = await registerUser()
  await fund(u.id, 100)
  await subscribe(u.id, [{ plan: 'basic', at: Date.UTC(2023, 0, 1) }])
  const months = ['2024-01', '2024-02', '2024-03', '2024-04', '2024-05']
  for (const [i, month] of months.entries()) {
    await addUsage(u.id, month, [{ type: 'sms', quantity: 1 + 100 * i }])
    const res = await generate(u, month)
    if (res.status !== 201) throw new Error(res.text)
    inv[month] = res.body.data.id
    const [y, m] = month.split('-').map(Number) as [number, number]
    await env.DB.prepare(`UPDATE invoices SET issue_date = ? WHERE id = ?`)
      .bind(Date.UTC(y, m, 1), inv[month])
      .run()
  }
  const pay = (id: string, body: Record<string, unknown>) => call(`/api/v1/billing/invoices/${id}/pay`, { method: 'POST', token: u.accessToken, body })
  expect((await pay(inv['2024-01']!, {})).status).toBe(200) // paid 10
  expect((await pay(inv['2024-02']!, { amount: 5 })).status).toBe(200) // partially paid, 6 due, past its due date
  await env.DB.prepare(`UPDATE invoices SET status = 'overdue' WHERE id = ?`).bind(inv['2024-03']).run() // 12 overdue
  await env.DB.prepare(`UPDATE invoices SET due_date = ? WHERE id = ?`)
    .bind(Date.now() + 5 * 86_400_000, inv['2024-04'])
    .run() // 13 pending, not due yet
  await env.DB.prepare(`UPDATE invoices SET status = 'void' WHERE id = ?`).bind(inv['2024-05']).run()

  // Someone else's invoice never shows.
  const other = await registerUser()
  await subscribe(other.id, [{ plan: 'pro', at: Date.UTC(2023, 0, 1) }])
  expect((await generate(other, '2024-02')).status).toBe(201)
})

describe('GET /api/v1/billing/invoices', () => {
  it('lists InvoiceSummary items newest first, with page/limit pagination and a summary', async () => {
    const res = await list(u)
    expect(res.status, res.text).toBe(200)
    expect(ids(res), res.text).toEqual(['2024-05', '2024-04', '2024-03', '2024-02', '2024-01'].map((m) => inv[m]))
    expect(res.body.pagination, res.text).toEqual({ page: 1, limit: 20, total: 5, totalPages: 1, hasNext: false, hasPrevious: false })
    expect(res.body.summary, res.text).toEqual({ totalInvoices: 5, totalAmount: 46, paidAmount: 15, outstandingAmount: 31, overdueAmount: 18, currency: 'USD' })
    const feb = res.body.data.find((i: { id: string }) => i.id === inv['2024-02'])
    expect(feb, res.text).toEqual({
      id: inv['2024-02'],
      invoiceNumber: expect.stringMatching(/^INV-2024-02-[A-Z0-9]{6}$/),
      month: '2024-02',
      status: 'partially_paid',
      totalAmount: 11,
      amountPaid: 5,
      amountDue: 6,
      currency: 'USD',
      issueDate: '2024-03-01T00:00:00.000Z',
      dueDate: '2024-03-07T00:00:00.000Z',
      paidDate: null,
      periodStart: '2024-02-01T00:00:00.000Z',
      periodEnd: '2024-02-29T00:00:00.000Z',
    })
    expect(res.body.data.find((i: { id: string }) => i.id === inv['2024-01']).paidDate, res.text).toEqual(expect.any(String))
  })

  it('filters by status (repeated or commas) and issue dates; the summary covers the filtered set', async () => {
    const a = await list(u, '?status=paid,overdue')
    expect(ids(a), a.text).toEqual([inv['2024-03'], inv['2024-01']])
    expect(a.body.summary, a.text).toEqual({ totalInvoices: 2, totalAmount: 22, paidAmount: 10, outstandingAmount: 12, overdueAmount: 12, currency: 'USD' })
    const b = await list(u, '?status=pending&status=PARTIALLY_PAID')
    expect(ids(b), b.text).toEqual([inv['2024-04'], inv['2024-02']])
    expect(b.body.summary, b.text).toMatchObject({ totalInvoices: 2, outstandingAmount: 19, overdueAmount: 6 })
    const c = await list(u, '?dateFrom=2024-03-01&dateTo=2024-04-01')
    expect(ids(c), c.text).toEqual([inv['2024-03'], inv['2024-02']])
    expectErrorEnvelope(await list(u, '?status=bogus'), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await list(u, '?dateFrom=yesterday'), 400, 'VALIDATION_ERROR')
  })

  it('sorts and pages', async () => {
    const asc = await list(u, '?sortBy=totalAmount&sortOrder=asc')
    expect(
      asc.body.data.map((i: { totalAmount: number }) => i.totalAmount),
      asc.text,
    ).toEqual([10, 11, 12, 13, 14])
    const due = await list(u, '?sortBy=dueDate')
    expect(ids(due)[0], due.text).toBe(inv['2024-04'])
    const page = await list(u, '?page=2&limit=2')
    expect(ids(page), page.text).toEqual([inv['2024-03'], inv['2024-02']])
    expect(page.body.pagination, page.text).toEqual({ page: 2, limit: 2, total: 5, totalPages: 3, hasNext: true, hasPrevious: true })
    expectErrorEnvelope(await list(u, '?sortBy=amount'), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await list(u, '?limit=101'), 400, 'VALIDATION_ERROR')
  })

  it('needs billing:read; a stranger sees an empty list', async () => {
    expectErrorEnvelope(await call('/api/v1/billing/invoices'), 401, 'UNAUTHORIZED')
    const key = await createApiKey(u, ['numbers:read'])
    expectErrorEnvelope(await call('/api/v1/billing/invoices', { apiKey: key.key }), 403, 'FORBIDDEN')
    const reader = await createApiKey(u, ['billing:read'])
    expect((await call('/api/v1/billing/invoices', { apiKey: reader.key })).body.data).toHaveLength(5)
    const stranger = await registerUser()
    const res = await list(stranger)
    expect(res.body.data, res.text).toEqual([])
    expect(res.body.summary, res.text).toEqual({ totalInvoices: 0, totalAmount: 0, paidAmount: 0, outstandingAmount: 0, overdueAmount: 0, currency: 'USD' })
  })
})

describe('GET /api/v1/billing/invoices/{id}', () => {
  it('answers every InvoiceDetailsResponse field', async () => {
    const id = inv['2024-02']!
    const res = await call(`/api/v1/billing/invoices/${id}`, { token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    const d = res.body.data
    expect(Object.keys(d).sort(), res.text).toEqual(
      [
        'id',
        'invoiceNumber',
        'month',
        'status',
        'subtotalAmount',
        'taxAmount',
        'discountAmount',
        'totalAmount',
        'amountPaid',
        'amountDue',
        'currency',
        'subscriptionFee',
        'usageFee',
        'breakdown',
        'issueDate',
        'dueDate',
        'paidDate',
        'periodStart',
        'periodEnd',
        'lineItems',
        'payments',
        'billingAddress',
        'downloadUrls',
        'createdAt',
        'updatedAt',
      ].sort(),
    )
    expect(d, res.text).toMatchObject({
      id,
      status: 'partially_paid',
      subtotalAmount: 11,
      taxAmount: 0,
      discountAmount: 0,
      totalAmount: 11,
      amountPaid: 5,
      amountDue: 6,
      currency: 'USD',
      subscriptionFee: 9.99,
      usageFee: 1.01,
      breakdown: { callMinutes: 0, smsCount: 101, apiCalls: 0 },
      paidDate: null,
      billingAddress: {},
      downloadUrls: {
        pdf: `http://localhost:8787/api/v1/billing/invoices/${id}/download?format=pdf`,
        csv: `http://localhost:8787/api/v1/billing/invoices/${id}/download?format=csv`,
      },
    })
    expect(
      d.lineItems.map((l: any) => Object.keys(l).sort()),
      res.text,
    ).toEqual([
      ['description', 'details', 'id', 'period', 'quantity', 'totalPrice', 'type', 'unitPrice'],
      ['description', 'details', 'id', 'period', 'quantity', 'totalPrice', 'type', 'unitPrice'],
    ])
    expect(d.payments, res.text).toEqual([
      { id: expect.stringMatching(/^pay_/), amount: 5, status: 'succeeded', processor: 'wallet', processedAt: expect.any(String), paymentMethod: 'wallet', failureReason: null },
    ])
    for (const k of ['issueDate', 'dueDate', 'periodStart', 'periodEnd', 'createdAt', 'updatedAt']) expect(new Date(d[k]).toISOString(), k).toBe(d[k])
  })

  it("another user's invoice and an unknown id are 404; 401 without credentials", async () => {
    const stranger = await registerUser()
    expectErrorEnvelope(await call(`/api/v1/billing/invoices/${inv['2024-01']}`, { token: stranger.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call('/api/v1/billing/invoices/inv_nope', { token: u.accessToken }), 404, 'NOT_FOUND')
    expectErrorEnvelope(await call(`/api/v1/billing/invoices/${inv['2024-01']}`), 401, 'UNAUTHORIZED')
  })
})

describe('OpenAPI', () => {
  it('documents the invoice routes', async () => {
    const res = await call('/openapi.json')
    expect(res.status, res.text.slice(0, 1000)).toBe(200)
    const paths = res.body.paths as Record<string, Record<string, any>>
    expect(paths['/api/invoices']?.post?.description).toMatch(/Only a closed month may be invoiced/)
    expect(paths['/api/invoices']?.get).toBeTruthy()
    expect(paths['/api/v1/billing/invoices']?.get).toBeTruthy()
    expect(paths['/api/v1/billing/invoices/{id}']?.get).toBeTruthy()
    expect(paths['/api/v1/billing/invoices/{id}/pay']?.post?.responses?.['402']).toBeTruthy()
    expect(Object.keys(paths['/api/v1/billing/invoices/{id}/download']?.get?.responses?.['200']?.content ?? {}).sort()).toEqual(['application/json', 'application/pdf', 'text/csv'])
  })
})

describe('links in invoice answers', () => {
  /** A request that reached the Worker under another host name: what `Host: evil.example` gives in production. */
  async function viaHost(host: string, path: string) {
    const req = buildRequest(path, { token: u.accessToken, headers: { host } })
    return readResponse(await (exports as any).default.fetch(new Request(req.url.replace('//switchboard.test/', `//${host}/`), req)))
  }

  it('builds downloadUrls from APP_URL, never from the Host the request came with', async () => {
    const id = inv['2024-03']!
    const expected = {
      pdf: `http://localhost:8787/api/v1/billing/invoices/${id}/download?format=pdf`,
      csv: `http://localhost:8787/api/v1/billing/invoices/${id}/download?format=csv`,
    }
    for (const path of [`/api/v1/billing/invoices/${id}`, `/api/v1/billing/invoices/${id}/download?format=json`]) {
      const res = await viaHost('evil.example', path)
      expect(res.status, res.text).toBe(200)
      expect(res.body.data.downloadUrls, `${path}: ${res.text}`).toEqual(expected)
      expect(res.text, path).not.toContain('evil.example')
    }
  })

  it('keeps a path in APP_URL and drops its trailing slash', async () => {
    const id = inv['2024-03']!
    const res = await callApp(`/api/v1/billing/invoices/${id}`, { env: { APP_URL: 'https://api.partner.example/switchboard/' }, token: u.accessToken })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.downloadUrls.pdf, res.text).toBe(`https://api.partner.example/switchboard/api/v1/billing/invoices/${id}/download?format=pdf`)
  })
})
