import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { invoiceCsv } from '../../../src/modules/billing/invoice-csv'
import { invoicePdf, pdfString } from '../../../src/modules/billing/invoice-pdf'
import { buildRequest, call, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { addNumber, addUsage, generate, setBillingAddress, subscribe, workedExample } from '../../helpers/billing'

type Doc = Parameters<typeof invoicePdf>[0]

/** A pending January invoice of these lines, nothing paid (for the PDF and CSV writers alone). */
function documentWith(invoiceNumber: string, lines: Doc['lines']): Doc {
  const total = lines.reduce((sum, l) => sum + l.totalPrice, 0)
  return {
    invoiceNumber,
    status: 'pending',
    currency: 'USD',
    issueDate: '2024-02-01T00:00:00.000Z',
    dueDate: '2024-02-07T00:00:00.000Z',
    periodStart: '2024-01-01T00:00:00.000Z',
    periodEnd: '2024-01-31T00:00:00.000Z',
    paidDate: null,
    billingAddress: {},
    lines,
    subtotal: total,
    discount: 0,
    tax: 0,
    total,
    amountPaid: 0,
    amountDue: total,
  }
}

/** The raw bytes of a download as a binary (latin1) string, so byte offsets are string offsets. */
async function download(u: TestUser, id: string, format?: string) {
  const res: Response = await (exports as any).default.fetch(buildRequest(`/api/v1/billing/invoices/${id}/download${format ? `?format=${format}` : ''}`, { token: u.accessToken }))
  const bytes = new Uint8Array(await res.arrayBuffer())
  let text = ''
  for (const b of bytes) text += String.fromCharCode(b)
  return { status: res.status, headers: res.headers, bytes, text }
}

/** Checks the PDF's structure; returns its objects by number and the concatenated content streams. */
function checkPdf(pdf: string) {
  expect(pdf.startsWith('%PDF-1.4\n')).toBe(true)
  expect(pdf.endsWith('%%EOF')).toBe(true)
  const start = Number(/startxref\n(\d+)\n%%EOF$/.exec(pdf)?.[1])
  expect(pdf.slice(start, start + 5)).toBe('xref\n')
  const head = /^xref\n0 (\d+)\n/.exec(pdf.slice(start))!
  const size = Number(head[1])
  const entries = pdf.slice(start + head[0].length, start + head[0].length + size * 20)
  expect(entries.slice(0, 20)).toBe('0000000000 65535 f \n')
  const objects = new Map<number, string>()
  for (let n = 1; n < size; n++) {
    const entry = entries.slice(n * 20, n * 20 + 20)
    expect(entry, `xref entry ${n}`).toMatch(/^\d{10} 00000 n \n$/)
    const offset = Number(entry.slice(0, 10))
    expect(pdf.slice(offset, offset + `${n} 0 obj`.length), `object ${n} at ${offset}`).toBe(`${n} 0 obj`)
    objects.set(n, pdf.slice(offset, pdf.indexOf('endobj', offset)))
  }
  const trailer = pdf.slice(pdf.indexOf('trailer', start))
  expect(trailer).toContain(`/Size ${size}`)
  expect(trailer).toContain('/Root 1 0 R')
  expect(objects.get(1)).toContain('/Type /Catalog')
  let content = ''
  for (const body of objects.values()) {
    const m = /<< \/Length (\d+) >>\nstream\n/.exec(body)
    if (!m) continue
    const len = Number(m[1])
    const data = body.slice(m.index + m[0].length)
    expect(data.slice(len, len + 10), 'stream length').toBe('\nendstream')
    content += `${data.slice(0, len)}\n`
  }
  const fonts = [...objects.values()].filter((o) => o.includes('/Type /Font'))
  expect(fonts.some((f) => f.includes('/BaseFont /Helvetica '))).toBe(true)
  const pages = [...objects.values()].filter((o) => o.includes('/Type /Page ') || o.includes('/Type /Page>>'))
  return { objects, content, pageCount: pages.length }
}

/** RFC 4180 rows. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"'
        i++
      } else if (ch === '"') quoted = false
      else field += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') {
      row.push(field)
      field = ''
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field)
      rows.push(row)
      row = []
      field = ''
      i++
    } else field += ch
  }
  return rows
}

describe('GET /api/v1/billing/invoices/{id}/download', () => {
  it('PDF (the default): a real PDF 1.4 with exact xref offsets, the header, the lines and the totals', async () => {
    const u = await registerUser()
    await setBillingAddress(u.id, { line1: '1 Main St (rear)', city: 'Springfield', state: 'IL', postalCode: '62701', country: 'US' })
    const inv = await workedExample(u, '2024-11')
    const res = await download(u, inv.id)
    expect(res.status, res.text.slice(0, 500)).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/pdf')
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${inv.invoiceNumber}.pdf"`)
    const { content, pageCount } = checkPdf(res.text)
    expect(pageCount).toBe(1)
    for (const s of [
      'Pro plan - monthly fee (November 2024)',
      'Call minutes',
      'SMS messages',
      'API calls',
      inv.invoiceNumber,
      '2024-12-07',
      '2024-11-01 to 2024-11-30',
      'Springfield, IL 62701',
      '$59.74',
      '$29.99',
      '$21.25',
      'Subtotal',
      'Tax',
      'Amount paid',
      'Amount due',
    ]) {
      expect(content, s).toContain(pdfString(s))
    }
    // Parentheses are escaped inside strings.
    expect(content).toContain('(1 Main St \\(rear\\))')
    const pdf2 = await download(u, inv.id, 'pdf')
    expect(pdf2.status).toBe(200)
  })

  it('paginates a long invoice: every line on some page, totals at the end', async () => {
    const u = await registerUser()
    const rows = []
    for (let i = 0; i < 70; i++) {
      const id = await addNumber(u.id, `+1202555${String(1000 + i)}`, 1)
      rows.push({ type: 'did_monthly' as const, quantity: 1, unitUsd: 1, totalUsd: 1, resourceId: id })
    }
    await addUsage(u.id, '2024-06', rows)
    const gen = await generate(u, '2024-06')
    expect(gen.status, gen.text).toBe(201)
    expect(gen.body.data, gen.text).toMatchObject({ amount: 70, amountPaid: 70, status: 'paid' })
    const detail = await call(`/api/v1/billing/invoices/${gen.body.data.id}`, { token: u.accessToken })
    expect(detail.body.data.lineItems, detail.text).toHaveLength(70)
    const res = await download(u, gen.body.data.id)
    const { content, pageCount } = checkPdf(res.text)
    expect(pageCount).toBeGreaterThanOrEqual(2)
    for (let i = 0; i < 70; i++) expect(content).toContain(pdfString(`Phone number +1202555${1000 + i} - monthly fee`))
    expect(content).toContain(`(${gen.body.data.invoiceNumber} - page ${pageCount} of ${pageCount})`)
    expect(content.lastIndexOf('(Amount due)')).toBeGreaterThan(content.lastIndexOf('+12025551069'))
  })

  it('escapes backslashes and parentheses and replaces what WinAnsi cannot show', () => {
    const doc = documentWith('INV-2024-01-ABCDEF', [
      { type: 'subscription', description: 'Upgrade Basic → Pro (a\\b) 日本', quantity: 1, unitPrice: 1_000_000, totalPrice: 1_000_000, periodStart: null, periodEnd: null },
    ])
    let text = ''
    for (const b of invoicePdf(doc)) text += String.fromCharCode(b)
    const { content } = checkPdf(text)
    expect(content).toContain('(Upgrade Basic -> Pro \\(a\\\\b\\) ??)')
    expect(content).toContain('(\\(no billing address on file\\))')
  })

  it('CSV: header, one row per line item, totals rows, RFC 4180 quoting', async () => {
    const u = await registerUser()
    const inv = await workedExample(u, '2024-11')
    const res = await download(u, inv.id, 'csv')
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${inv.invoiceNumber}.csv"`)
    expect(res.text.endsWith('\r\n')).toBe(true)
    const rows = parseCsv(new TextDecoder().decode(res.bytes))
    expect(rows, res.text).toEqual([
      ['Type', 'Description', 'Quantity', 'Unit Price', 'Total', 'Currency', 'Period Start', 'Period End'],
      ['subscription', 'Pro plan - monthly fee (November 2024)', '1', '29.99', '29.99', 'USD', '2024-11-01', '2024-11-30'],
      ['usage', 'Call minutes', '425', '0.05', '21.25', 'USD', '2024-11-01', '2024-11-30'],
      ['usage', 'SMS messages', '850', '0.01', '8.50', 'USD', '2024-11-01', '2024-11-30'],
      ['usage', 'API calls', '0', '0.001', '0.00', 'USD', '2024-11-01', '2024-11-30'],
      ['total', 'Subtotal', '', '', '59.74', 'USD', '', ''],
      ['total', 'Discount', '', '', '0.00', 'USD', '', ''],
      ['total', 'Tax', '', '', '0.00', 'USD', '', ''],
      ['total', 'Total', '', '', '59.74', 'USD', '', ''],
      ['total', 'Amount Paid', '', '', '0.00', 'USD', '', ''],
      ['total', 'Amount Due', '', '', '59.74', 'USD', '', ''],
    ])

    const quoted = invoiceCsv(
      documentWith('INV-X', [
        { type: 'one_time', description: 'Setup, "priority" line\nsecond', quantity: 1, unitPrice: 1_500_000, totalPrice: 1_500_000, periodStart: null, periodEnd: null },
        { type: 'one_time', description: '=HYPERLINK("x")', quantity: 1, unitPrice: 0, totalPrice: 0, periodStart: null, periodEnd: null },
      ]),
    )
    expect(quoted.split('\r\n')[1]).toBe('one_time,"Setup, ""priority"" line\nsecond",1,1.50,1.50,USD,,')
    expect(parseCsv(quoted)[1]![1]).toBe('Setup, "priority" line\nsecond')
    expect(parseCsv(quoted)[2]![1]).toBe(`'=HYPERLINK("x")`)
  })

  it('JSON: the invoice details as an attachment; a bad format is 400', async () => {
    const u = await registerUser()
    const inv = await workedExample(u, '2024-11')
    const res = await download(u, inv.id, 'json')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${inv.invoiceNumber}.json"`)
    const body = JSON.parse(res.text)
    expect(body.success).toBe(true)
    expect(body.data, res.text).toMatchObject({ id: inv.id, totalAmount: 59.74, lineItems: expect.any(Array), downloadUrls: expect.any(Object) })
    expectErrorEnvelope(await call(`/api/v1/billing/invoices/${inv.id}/download?format=xml`, { token: u.accessToken }), 400, 'VALIDATION_ERROR')
  })

  it("another user's invoice is 404 in every format; 401 without credentials", async () => {
    const u = await registerUser()
    await subscribe(u.id, [{ plan: 'basic', at: Date.UTC(2024, 0, 1) }])
    const gen = await generate(u, '2024-03')
    const stranger = await registerUser()
    for (const format of ['pdf', 'csv', 'json']) {
      expectErrorEnvelope(await call(`/api/v1/billing/invoices/${gen.body.data.id}/download?format=${format}`, { token: stranger.accessToken }), 404, 'NOT_FOUND')
    }
    expectErrorEnvelope(await call(`/api/v1/billing/invoices/${gen.body.data.id}/download`), 401, 'UNAUTHORIZED')
  })
})
