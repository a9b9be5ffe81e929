import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { invoiceRow, outboxOf, paymentRows, workedExample } from '../../helpers/billing'

const pay = (u: TestUser, id: string, body?: Record<string, unknown>, headers?: Record<string, string>) =>
  call(`/api/v1/billing/invoices/${id}/pay`, { method: 'POST', token: u.accessToken, body, headers })
const detail = (u: TestUser, id: string) => call(`/api/v1/billing/invoices/${id}`, { token: u.accessToken })
const wallet = (userId: string) => env.WALLET.get(env.WALLET.idFromName(userId))

/** A user with the worked example's invoice (59.74 due) and `usd` in the wallet. */
async function invoiced(usd: number, month = '2024-11') {
  const u = await registerUser()
  const inv = await workedExample(u, month)
  if (usd > 0) await fund(u.id, usd)
  return { u, id: inv.id }
}

const succeeded = async (id: string) => (await paymentRows(id)).filter((p) => p.status === 'succeeded')

describe('POST /api/v1/billing/invoices/{id}/pay — wallet', () => {
  it('pays the whole amount due from the wallet by default: paid, payment recorded, events, wallet debited', async () => {
    const { u, id } = await invoiced(100)
    const res = await pay(u, id)
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.payment, res.text).toMatchObject({ amount: 59.74, status: 'succeeded', processor: 'wallet', paymentMethod: 'wallet', failureReason: null })
    expect(res.body.data.invoice, res.text).toMatchObject({ id, status: 'paid', totalAmount: 59.74, amountPaid: 59.74, amountDue: 0, paidDate: expect.any(String) })
    const audit = await walletAudit(u.id)
    expect(audit.balance).toBe(100_000_000 - 59_740_000)
    expect(audit.ledgerSum).toBe(audit.balance)
    const rows = await paymentRows(id)
    expect(
      rows.map((p) => [p.attempt_key, p.status, p.amount, p.processor]),
      JSON.stringify(rows),
    ).toEqual([[`invpay_${id}_1`, 'succeeded', 59_740_000, 'wallet']])
    expect((await invoiceRow(id))!.payment_seq).toBe(1)
    const events = await outboxOf(u.id, 'PAYMENT_SUCCEEDED')
    expect(events, JSON.stringify(events)).toEqual([{ paymentId: res.body.data.payment.id, invoiceId: id, amount: 59.74, currency: 'USD', status: 'succeeded', paymentMethod: 'wallet' }])
    const paid = await outboxOf(u.id, 'invoice.paid')
    expect(paid, JSON.stringify(paid)).toHaveLength(1)
    expect(paid[0], JSON.stringify(paid)).toMatchObject({ id, status: 'paid', amountDue: 0 })
    const d = await detail(u, id)
    expect(d.body.data.payments, d.text).toEqual([res.body.data.payment])
  })

  it('concurrent pays of one invoice from the wallet charge once', async () => {
    const { u, id } = await invoiced(500)
    const results = await Promise.all(Array.from({ length: 5 }, () => pay(u, id, { paymentMethodId: 'wallet' })))
    for (const r of results) expect([200, 409], r.text).toContain(r.status)
    expect(
      results.some((r) => r.status === 200),
      results.map((r) => r.text).join('\n'),
    ).toBe(true)
    for (const r of results.filter((r) => r.status === 409)) expect(['PAYMENT_CONFLICT', 'INVOICE_NOT_PAYABLE'], r.text).toContain(r.body.error.code)

    const audit = await walletAudit(u.id)
    expect(audit.balance, JSON.stringify(audit)).toBe(500_000_000 - 59_740_000)
    expect(audit.entries, JSON.stringify(audit)).toBe(2) // the funding and one debit
    expect(audit.ledgerSum).toBe(audit.balance)
    expect(audit.negativeAvailable).toBe(false)
    const inv = (await invoiceRow(id))!
    expect([inv.amount_paid, inv.status, inv.payment_seq]).toEqual([59_740_000, 'paid', 1])
    expect(await succeeded(id)).toHaveLength(1)
    expect(await outboxOf(u.id, 'PAYMENT_SUCCEEDED')).toHaveLength(1)
    expect(await outboxOf(u.id, 'invoice.paid')).toHaveLength(1)
  })

  it('concurrent partial payments of different amounts: each one lands once or is refused, never both on one claim', async () => {
    const { u, id } = await invoiced(500)
    const results = await Promise.all([pay(u, id, { amount: 10 }), pay(u, id, { amount: 20 }), pay(u, id, { amount: 10 })])
    const inv = (await invoiceRow(id))!
    const ok = await succeeded(id)
    const audit = await walletAudit(u.id)
    // Money out of the wallet = what the invoice says is paid.
    expect(500_000_000 - audit.balance, results.map((r) => r.text).join('\n')).toBe(inv.amount_paid)
    expect(ok.reduce((s, p) => s + p.amount, 0)).toBe(inv.amount_paid)
    expect(ok.length).toBe(inv.payment_seq)
    expect(audit.ledgerSum).toBe(audit.balance)
  })

  it('partial payments, then the rest: partially_paid, then paid with invoice.paid', async () => {
    const { u, id } = await invoiced(100)
    const first = await pay(u, id, { amount: 20 })
    expect(first.status, first.text).toBe(200)
    expect(first.body.data.invoice, first.text).toMatchObject({ status: 'partially_paid', amountPaid: 20, amountDue: 39.74, paidDate: null })
    expect(await outboxOf(u.id, 'invoice.paid')).toHaveLength(0)
    const second = await pay(u, id, { paymentMethodId: 'wallet', amount: 9.74 })
    expect(second.body.data.invoice, second.text).toMatchObject({ status: 'partially_paid', amountPaid: 29.74, amountDue: 30 })
    const rest = await pay(u, id)
    expect(rest.status, rest.text).toBe(200)
    expect(rest.body.data.payment.amount, rest.text).toBe(30)
    expect(rest.body.data.invoice, rest.text).toMatchObject({ status: 'paid', amountPaid: 59.74, amountDue: 0 })
    expect(await outboxOf(u.id, 'invoice.paid')).toHaveLength(1)
    expect((await outboxOf(u.id, 'PAYMENT_SUCCEEDED')).map((e) => e.amount)).toEqual([20, 9.74, 30])
    expect((await paymentRows(id)).map((p) => p.attempt_key)).toEqual([`invpay_${id}_1`, `invpay_${id}_2`, `invpay_${id}_3`])
    expect((await walletAudit(u.id)).balance).toBe(100_000_000 - 59_740_000)
    const d = await detail(u, id)
    expect(
      d.body.data.payments.map((p: { amount: number }) => p.amount),
      d.text,
    ).toEqual([20, 9.74, 30])

    // Paid: 409, nothing moves.
    expectErrorEnvelope(await pay(u, id), 409, 'INVOICE_NOT_PAYABLE')
    expectErrorEnvelope(await pay(u, id, { amount: 1 }), 409, 'INVOICE_NOT_PAYABLE')
    expect((await walletAudit(u.id)).balance).toBe(100_000_000 - 59_740_000)
  })

  it('refuses an over-payment, a non-cent amount, zero; INSUFFICIENT_BALANCE leaves everything as it was', async () => {
    const { u, id } = await invoiced(30)
    expectErrorEnvelope(await pay(u, id, { amount: 59.75 }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await pay(u, id, { amount: 1.005 }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await pay(u, id, { amount: 0 }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await pay(u, id, { amount: -5 }), 400, 'VALIDATION_ERROR')
    expectErrorEnvelope(await pay(u, id, { amount: 'ten' }), 400, 'VALIDATION_ERROR')
    const poor = await pay(u, id)
    expectErrorEnvelope(poor, 400, 'INSUFFICIENT_BALANCE')
    const inv = (await invoiceRow(id))!
    expect([inv.status, inv.amount_paid, inv.payment_seq]).toEqual(['pending', 0, 0])
    expect(await paymentRows(id)).toHaveLength(0)
    expect((await walletAudit(u.id)).balance).toBe(30_000_000)
    // What the wallet can pay, it pays.
    const part = await pay(u, id, { amount: 30 })
    expect(part.status, part.text).toBe(200)
    expect((await walletAudit(u.id)).balance).toBe(0)
  })

  it('heals a payment whose debit happened but whose record did not (crash): the retry settles the claim, money moves once', async () => {
    const { u, id } = await invoiced(100)
    // Attempt 1 claimed its key and debited the wallet, then the worker died before the D1 batch.
    await insertClaim(u.id, id, 'wallet', 59_740_000, 'wallet')
    const debit = await wallet(u.id).debit(u.id, { opId: `invpay_${id}_1`, amount: 59_740_000, reference: { type: 'invoice', id } })
    expect(debit.ok).toBe(true)
    const retry = await pay(u, id)
    expect(retry.status, retry.text).toBe(200)
    expect(retry.body.data.invoice.status, retry.text).toBe('paid')
    const audit = await walletAudit(u.id)
    expect(audit.balance).toBe(100_000_000 - 59_740_000)
    expect(audit.entries).toBe(2)
    expect((await paymentRows(id)).map((p) => p.status)).toEqual(['succeeded'])

    // A crashed attempt of another amount: it is settled as it was claimed, and the caller is told (409).
    const b = await invoiced(100, '2024-10')
    await insertClaim(b.u.id, b.id, 'wallet', 10_000_000, 'wallet')
    await wallet(b.u.id).debit(b.u.id, { opId: `invpay_${b.id}_1`, amount: 10_000_000, reference: { type: 'invoice', id: b.id } })
    const other = await pay(b.u, b.id, { amount: 20 })
    expectErrorEnvelope(other, 409, 'PAYMENT_CONFLICT')
    expect(other.body.error.details.invoice, other.text).toMatchObject({ amountPaid: 10, amountDue: 49.74, status: 'partially_paid' })
    expect((await walletAudit(b.u.id)).balance).toBe(90_000_000)
    const next = await pay(b.u, b.id, { amount: 20 })
    expect(next.status, next.text).toBe(200)
    expect(next.body.data.invoice.amountPaid, next.text).toBe(30)
    expect((await walletAudit(b.u.id)).balance).toBe(70_000_000)
  })

  it('a wallet claim whose debit never happened (crash before it) is debited by the next attempt, once', async () => {
    const { u, id } = await invoiced(100)
    await insertClaim(u.id, id, 'wallet', 59_740_000, 'wallet')
    const [a, b] = await Promise.all([pay(u, id), pay(u, id)])
    expect([a.status, b.status], a.text + b.text).toEqual([200, 200])
    const audit = await walletAudit(u.id)
    expect(audit.balance).toBe(100_000_000 - 59_740_000)
    expect(audit.ledgerSum).toBe(audit.balance)
    expect((await invoiceRow(id))!.status).toBe('paid')
  })

  it('an Idempotency-Key replays the first answer without paying twice', async () => {
    const { u, id } = await invoiced(100)
    const key = crypto.randomUUID()
    const first = await pay(u, id, { amount: 5 }, { 'Idempotency-Key': key })
    expect(first.status, first.text).toBe(200)
    const again = await pay(u, id, { amount: 5 }, { 'Idempotency-Key': key })
    expect(again.status, again.text).toBe(200)
    expect(again.headers.get('Idempotent-Replayed')).toBe('true')
    expect(again.body.data.payment.id).toBe(first.body.data.payment.id)
    expect((await walletAudit(u.id)).balance).toBe(95_000_000)
  })

  it("another user's invoice is 404 and moves no money; auth and permissions", async () => {
    const { id } = await invoiced(100)
    const stranger = await registerUser()
    await fund(stranger.id, 100)
    expectErrorEnvelope(await pay(stranger, id), 404, 'NOT_FOUND')
    expectErrorEnvelope(await pay(stranger, 'inv_doesnotexist'), 404, 'NOT_FOUND')
    expect((await walletAudit(stranger.id)).balance).toBe(100_000_000)
    expect(await paymentRows(id)).toHaveLength(0)
    expectErrorEnvelope(await call(`/api/v1/billing/invoices/${id}/pay`, { method: 'POST', body: {} }), 401, 'UNAUTHORIZED')

    const { u, id: own } = await invoiced(100, '2024-09')
    const reader = await createApiKey(u, ['billing:read'])
    expectErrorEnvelope(await call(`/api/v1/billing/invoices/${own}/pay`, { method: 'POST', apiKey: reader.key, body: {} }), 403, 'FORBIDDEN')
    const writer = await createApiKey(u, ['billing:write'])
    const ok = await call(`/api/v1/billing/invoices/${own}/pay`, { method: 'POST', apiKey: writer.key, body: { amount: 1 } })
    expect(ok.status, ok.text).toBe(200)
  })

  it('an overdue invoice paid in part stays overdue, and is paid once the rest comes', async () => {
    const { u, id } = await invoiced(100)
    await env.DB.prepare(`UPDATE invoices SET status = 'overdue' WHERE id = ?`).bind(id).run()
    const part = await pay(u, id, { amount: 10 })
    expect(part.body.data.invoice.status, part.text).toBe('overdue')
    expect((await invoiceRow(id))!.status).toBe('overdue')
    const rest = await pay(u, id)
    expect(rest.body.data.invoice.status, rest.text).toBe('paid')
  })
})

async function addCard(u: TestUser, token: string) {
  const res = await call('/api/v1/billing/payment-methods', { token: u.accessToken, body: { type: 'card', processor: 'sandbox', token } })
  if (res.status !== 201) throw new Error(`add card failed: ${res.status} ${res.text}`)
  return res.body.data.id as string
}

describe('POST /api/v1/billing/invoices/{id}/pay — payment methods', () => {
  it('charges a saved card: paid, recorded with the processor and the method', async () => {
    const { u, id } = await invoiced(0)
    const card = await addCard(u, 'tok_visa')
    const res = await pay(u, id, { paymentMethodId: card, amount: 9.74 })
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.payment, res.text).toMatchObject({ amount: 9.74, status: 'succeeded', processor: 'sandbox', paymentMethod: card })
    expect(res.body.data.invoice, res.text).toMatchObject({ status: 'partially_paid', amountPaid: 9.74, amountDue: 50 })
    const rest = await pay(u, id, { paymentMethodId: card })
    expect(rest.body.data.invoice, rest.text).toMatchObject({ status: 'paid', amountDue: 0 })
    const rows = await paymentRows(id)
    expect(
      rows.map((p) => [p.status, p.processor, p.payment_method_id, p.amount]),
      JSON.stringify(rows),
    ).toEqual([
      ['succeeded', 'sandbox', card, 9_740_000],
      ['succeeded', 'sandbox', card, 50_000_000],
    ])
    expect(rows[0]!.processor_ref).toMatch(/^ch_sandbox_/)
    expect(await outboxOf(u.id, 'invoice.paid')).toHaveLength(1)
  })

  it('a declined card: 402 PAYMENT_FAILED, a failed payment and PAYMENT_FAILED event, the invoice unchanged; another card then pays', async () => {
    const { u, id } = await invoiced(0)
    const declined = await addCard(u, 'tok_chargeDeclined')
    const res = await pay(u, id, { paymentMethodId: declined })
    expectErrorEnvelope(res, 402, 'PAYMENT_FAILED')
    expect(res.body.error.details, res.text).toMatchObject({ failureReason: expect.any(String), paymentMethodId: declined })
    const inv = (await invoiceRow(id))!
    expect([inv.status, inv.amount_paid, inv.paid_at]).toEqual(['pending', 0, null])
    const rows = await paymentRows(id)
    expect(
      rows.map((p) => [p.status, p.amount, p.payment_method_id]),
      JSON.stringify(rows),
    ).toEqual([['failed', 59_740_000, declined]])
    expect(rows[0]!.failure_reason).toBeTruthy()
    const failed = await outboxOf(u.id, 'PAYMENT_FAILED')
    expect(failed, JSON.stringify(failed)).toEqual([
      { paymentId: rows[0]!.id, invoiceId: id, amount: 59.74, currency: 'USD', status: 'failed', paymentMethod: declined, failureReason: rows[0]!.failure_reason },
    ])
    expect(await outboxOf(u.id, 'PAYMENT_SUCCEEDED')).toHaveLength(0)
    const d = await detail(u, id)
    expect(d.body.data, d.text).toMatchObject({ status: 'pending', amountPaid: 0, amountDue: 59.74 })
    expect(
      d.body.data.payments.map((p: { status: string }) => p.status),
      d.text,
    ).toEqual(['failed'])

    // Declined again: a new attempt each time, nothing changes.
    expectErrorEnvelope(await pay(u, id, { paymentMethodId: declined }), 402, 'PAYMENT_FAILED')
    const visa = await addCard(u, 'tok_visa')
    const ok = await pay(u, id, { paymentMethodId: visa })
    expect(ok.status, ok.text).toBe(200)
    expect(ok.body.data.invoice.status, ok.text).toBe('paid')
    expect((await paymentRows(id)).map((p) => p.status)).toEqual(['failed', 'failed', 'succeeded'])
  })

  it("another account's payment method is 404; concurrent card payments charge once", async () => {
    const { u, id } = await invoiced(0)
    const stranger = await registerUser()
    const theirs = await addCard(stranger, 'tok_visa')
    expectErrorEnvelope(await pay(u, id, { paymentMethodId: theirs }), 404, 'NOT_FOUND')
    expect(await paymentRows(id)).toHaveLength(0)

    const card = await addCard(u, 'tok_visa')
    const results = await Promise.all(Array.from({ length: 4 }, () => pay(u, id, { paymentMethodId: card })))
    for (const r of results) expect([200, 409], r.text).toContain(r.status)
    const ok = await succeeded(id)
    expect(ok, JSON.stringify(ok)).toHaveLength(1)
    expect((await invoiceRow(id))!.amount_paid).toBe(59_740_000)
  })

  it('a wallet payment and a card payment racing: what the wallet lost is what the invoice records from it', async () => {
    const { u, id } = await invoiced(100)
    const card = await addCard(u, 'tok_visa')
    await Promise.all([pay(u, id, { paymentMethodId: 'wallet' }), pay(u, id, { paymentMethodId: card }), pay(u, id, {})])
    const rows = await succeeded(id)
    const fromWallet = rows.filter((p) => p.processor === 'wallet').reduce((s, p) => s + p.amount, 0)
    const audit = await walletAudit(u.id)
    expect(100_000_000 - audit.balance, JSON.stringify(rows)).toBe(fromWallet)
    expect(audit.ledgerSum).toBe(audit.balance)
    expect((await invoiceRow(id))!.amount_paid).toBe(rows.reduce((s, p) => s + p.amount, 0))
    expect((await invoiceRow(id))!.amount_paid).toBeLessThanOrEqual(59_740_000)
    expect((await paymentRows(id)).filter((p) => p.status === 'pending')).toEqual([])
  })

  it('a card claim left pending by a crash is settled by the next attempt: charged once, recorded once', async () => {
    const { u, id } = await invoiced(100)
    const card = await addCard(u, 'tok_visa')
    await insertClaim(u.id, id, card, 20_000_000)
    // A wallet payment finds the claim, settles it and is refused: its own money never moved.
    const res = await pay(u, id, { paymentMethodId: 'wallet' })
    expectErrorEnvelope(res, 409, 'PAYMENT_CONFLICT')
    expect(res.body.error.details.invoice, res.text).toMatchObject({ status: 'partially_paid', amountPaid: 20 })
    expect((await walletAudit(u.id)).balance).toBe(100_000_000)
    const rows = await paymentRows(id)
    expect(
      rows.map((p) => [p.status, p.processor, p.amount, p.attempt_key]),
      JSON.stringify(rows),
    ).toEqual([['succeeded', 'sandbox', 20_000_000, `invpay_${id}_1`]])
    expect(rows[0]!.processor_ref).toMatch(/^ch_sandbox_/)
    expect(await outboxOf(u.id, 'PAYMENT_SUCCEEDED')).toHaveLength(1)

    // The same card and amount again (a retry of the crashed request) answers that payment.
    const b = await invoiced(100, '2024-10')
    const card2 = await addCard(b.u, 'tok_visa')
    const claimId = await insertClaim(b.u.id, b.id, card2, 59_740_000)
    const retry = await pay(b.u, b.id, { paymentMethodId: card2 })
    expect(retry.status, retry.text).toBe(200)
    expect(retry.body.data.payment, retry.text).toMatchObject({ id: claimId, status: 'succeeded', amount: 59.74 })
    expect(retry.body.data.invoice.status, retry.text).toBe('paid')
    expect(await outboxOf(b.u.id, 'invoice.paid')).toHaveLength(1)
  })

  it('a wallet payer that finds a card claim settles the card payment and takes no money from the wallet', async () => {
    const { u, id } = await invoiced(100)
    const card = await addCard(u, 'tok_visa')
    await insertClaim(u.id, id, card, 59_740_000)
    const res = await pay(u, id, { paymentMethodId: 'wallet' })
    expectErrorEnvelope(res, 409, 'PAYMENT_CONFLICT')
    const audit = await walletAudit(u.id)
    expect(audit.balance).toBe(100_000_000)
    expect(audit.entries).toBe(1) // funding only
    const rows = await paymentRows(id)
    expect(
      rows.map((p) => [p.status, p.processor]),
      JSON.stringify(rows),
    ).toEqual([['succeeded', 'sandbox']])
    expect((await invoiceRow(id))!.status).toBe('paid')
  })

  it('a card claim whose method was deleted since is still settled with that method', async () => {
    const { u, id } = await invoiced(100)
    const card = await addCard(u, 'tok_visa')
    await insertClaim(u.id, id, card, 59_740_000)
    const del = await call(`/api/v1/billing/payment-methods/${card}`, { method: 'DELETE', token: u.accessToken })
    expect(del.status, del.text).toBe(200)
    const res = await pay(u, id, { paymentMethodId: 'wallet' })
    expectErrorEnvelope(res, 409, 'PAYMENT_CONFLICT')
    expect((await paymentRows(id)).map((p) => p.status)).toEqual(['succeeded'])
    expect((await invoiceRow(id))!.status).toBe('paid')
    expect((await walletAudit(u.id)).balance).toBe(100_000_000)
  })

  it('a card claim older than a day is not charged again (409 PAYMENT_UNDER_REVIEW), and nothing else is paid meanwhile', async () => {
    const { u, id } = await invoiced(100)
    const card = await addCard(u, 'tok_visa')
    const claim = await insertClaim(u.id, id, card, 59_740_000)
    await env.DB.prepare(`UPDATE payments SET created_at = ? WHERE id = ?`)
      .bind(Date.now() - 24 * 3_600_000, claim)
      .run()
    expectErrorEnvelope(await pay(u, id, { paymentMethodId: card }), 409, 'PAYMENT_UNDER_REVIEW')
    expectErrorEnvelope(await pay(u, id), 409, 'PAYMENT_UNDER_REVIEW')
    expect((await paymentRows(id)).map((p) => p.status)).toEqual(['pending'])
    expect((await walletAudit(u.id)).balance).toBe(100_000_000)
  })
})

/** A pending claim of the invoice's first payment key, as a card payer that died after claiming leaves it. */
async function insertClaim(userId: string, invoiceId: string, methodId: string, amount: number, processor = 'sandbox') {
  const id = `pay_claim_${crypto.randomUUID().slice(0, 8)}`
  const now = Date.now()
  await env.DB.prepare(
    `INSERT INTO payments (id, user_id, purpose, invoice_id, amount, currency, status, processor, payment_method_id, attempt_key, created_at, updated_at)
     VALUES (?, ?, 'invoice', ?, ?, 'USD', 'pending', ?, ?, ?, ?, ?)`,
  )
    .bind(id, userId, invoiceId, amount, processor, methodId, `invpay_${invoiceId}_1`, now, now)
    .run()
  return id
}
