import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { call, createApiKey, expectErrorEnvelope, registerAdmin, registerUser } from '../../helpers/api'
import { walletAudit } from '../../helpers/catalog'
import { auditRowsFor } from '../../helpers/db'

const topup = (token: string, body: unknown, headers?: Record<string, string>) => call('/api/wallet/topup', { token, body, headers })

describe('POST /api/wallet/topup (admin)', () => {
  it('credits the user, answers the transaction and the new balance, and writes the audit entry', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const res = await topup(admin.accessToken, { userId: u.id, amount: 25.5, reason: 'Bank transfer #1' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.success, res.text).toBe(true)
    const d = res.body.data
    expect(d.userId, res.text).toBe(u.id)
    expect(d.transaction, res.text).toMatchObject({ type: 'credit', amount: 25.5, balanceAfter: 25.5, reference: null })
    expect(d.transaction.id, res.text).toMatch(/^txn_/)
    expect(d.transaction.description, res.text).toContain('Bank transfer #1')
    expect(d.balance, res.text).toEqual({ balance: 25.5, currency: 'USD', reserved: 0, available: 25.5 })

    const mine = await call('/api/wallet/balance', { token: u.accessToken })
    expect(mine.body.data, mine.text).toEqual({ balance: 25.5, currency: 'USD', reserved: 0, available: 25.5 })
    const txns = await call('/api/wallet/transactions', { token: u.accessToken })
    expect(
      txns.body.data.map((t: any) => t.id),
      txns.text,
    ).toEqual([d.transaction.id])

    const audit = (await auditRowsFor(u.id)).filter((r) => r.action === 'wallet.topup')
    expect(audit.length, JSON.stringify(audit)).toBe(1)
    expect(audit[0], JSON.stringify(audit)).toMatchObject({ actor_id: admin.id, actor_type: 'user', target_type: 'user', target_id: u.id })
    expect(audit[0]!.details, JSON.stringify(audit)).toMatchObject({ amount: 25.5, amountMicros: 25_500_000, reason: 'Bank transfer #1', entryId: d.transaction.id })
    expect((await walletAudit(u.id)).ledgerSum).toBe(25_500_000)
  })

  it('keeps amounts exact to the micro-unit (0.001, 0.000001, 12.345678)', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    let expected = 0
    for (const [amount, micros] of [
      [0.001, 1_000],
      [0.000001, 1],
      [12.345678, 12_345_678],
    ] as const) {
      const res = await topup(admin.accessToken, { userId: u.id, amount, reason: 'precision' })
      expect(res.status, res.text).toBe(200)
      expect(res.body.data.transaction.amount, res.text).toBe(amount)
      expected += micros
    }
    const a = await walletAudit(u.id)
    expect(a.balance).toBe(expected)
    const mine = await call('/api/wallet/balance', { token: u.accessToken })
    expect(mine.body.data.balance, mine.text).toBe(12.346679)
  })

  it('without an Idempotency-Key every call is a new credit', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const body = { userId: u.id, amount: 1, reason: 'twice on purpose' }
    const first = await topup(admin.accessToken, body)
    const second = await topup(admin.accessToken, body)
    expect(first.status, first.text).toBe(200)
    expect(second.status, second.text).toBe(200)
    expect(second.body.data.transaction.id).not.toBe(first.body.data.transaction.id)
    expect(second.body.data.balance.balance, second.text).toBe(2)
    expect((await auditRowsFor(u.id)).filter((r) => r.action === 'wallet.topup').length).toBe(2)
  })

  it('an unknown user is 404 NOT_FOUND and nothing is audited', async () => {
    const admin = await registerAdmin()
    const res = await topup(admin.accessToken, { userId: 'usr_does_not_exist', amount: 5, reason: 'nobody' })
    expectErrorEnvelope(res, 404, 'NOT_FOUND')
    expect(await auditRowsFor('usr_does_not_exist')).toEqual([])
    expect((await walletAudit('usr_does_not_exist')).entries).toBe(0)
  })

  it('refuses invalid amounts with 400 VALIDATION_ERROR naming `amount`, crediting nothing', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    for (const amount of [0, -5, '10', null, true, 0.0000001, 1.1234567, 1e12, [1], { value: 1 }]) {
      const res = await topup(admin.accessToken, { userId: u.id, amount, reason: 'bad amount' })
      expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
      expect(res.body.error.field, `${JSON.stringify(amount)}: ${res.text}`).toBe('amount')
    }
    expectErrorEnvelope(await topup(admin.accessToken, { userId: u.id, reason: 'no amount' }), 400, 'VALIDATION_ERROR')
    const noReason = await topup(admin.accessToken, { userId: u.id, amount: 5 })
    expectErrorEnvelope(noReason, 400, 'VALIDATION_ERROR')
    expect(noReason.body.error.field, noReason.text).toBe('reason')
    expectErrorEnvelope(await topup(admin.accessToken, { userId: '', amount: 5, reason: 'empty user' }), 400, 'VALIDATION_ERROR')
    expect((await walletAudit(u.id)).entries).toBe(0)
    expect((await auditRowsFor(u.id)).filter((r) => r.action === 'wallet.topup')).toEqual([])
  })

  it('is admin only: a user gets 403, no credentials 401, an admin key needs the admin permission', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const body = { userId: u.id, amount: 100, reason: 'free money' }
    expectErrorEnvelope(await topup(u.accessToken, body), 403, 'FORBIDDEN')
    expectErrorEnvelope(await call('/api/wallet/topup', { body }), 401, 'UNAUTHORIZED')
    const plainKey = await createApiKey(admin, ['wallet:read'])
    expectErrorEnvelope(await call('/api/wallet/topup', { apiKey: plainKey.key, body }), 403, 'FORBIDDEN')
    const userKey = await createApiKey(u, ['*'])
    expectErrorEnvelope(await call('/api/wallet/topup', { apiKey: userKey.key, body }), 403, 'FORBIDDEN')
    expect((await walletAudit(u.id)).balance).toBe(0)

    const adminKey = await createApiKey(admin, ['admin'])
    const ok = await call('/api/wallet/topup', { apiKey: adminKey.key, body: { ...body, reason: 'by key' } })
    expect(ok.status, ok.text).toBe(200)
    const audit = (await auditRowsFor(u.id)).filter((r) => r.action === 'wallet.topup')
    expect(
      audit.map((r) => [r.actor_type, r.actor_id]),
      JSON.stringify(audit),
    ).toEqual([['api_key', adminKey.id]])
  })

  it('credit first, audit second: when the audit write fails, the retry with the same key writes it without crediting twice', async () => {
    const admin = await registerAdmin()
    const u = await registerUser()
    const body = { userId: u.id, amount: 9, reason: 'audit outage' }
    const headers = { 'Idempotency-Key': `audit-outage-${u.id}` }
    await env.DB.exec('ALTER TABLE audit_log RENAME TO audit_log_offline')
    let failed: Awaited<ReturnType<typeof topup>>
    try {
      failed = await topup(admin.accessToken, body, headers)
    } finally {
      await env.DB.exec('ALTER TABLE audit_log_offline RENAME TO audit_log')
    }
    expectErrorEnvelope(failed, 500, 'INTERNAL_ERROR')
    expect((await walletAudit(u.id)).balance).toBe(9_000_000)
    expect(await auditRowsFor(u.id)).toEqual([])

    const retry = await topup(admin.accessToken, body, headers)
    expect(retry.status, retry.text).toBe(200)
    expect(retry.body.data.balance.balance, retry.text).toBe(9)
    expect((await walletAudit(u.id)).entries).toBe(1)
    const audit = (await auditRowsFor(u.id)).filter((r) => r.action === 'wallet.topup')
    expect(audit.length, JSON.stringify(audit)).toBe(1)
    expect(audit[0]!.details.entryId).toBe(retry.body.data.transaction.id)
    // A third call replays the stored answer.
    const third = await topup(admin.accessToken, body, headers)
    expect(third.headers.get('Idempotent-Replayed')).toBe('true')
    expect((await auditRowsFor(u.id)).filter((r) => r.action === 'wallet.topup').length).toBe(1)
  })

  it('an admin can top up their own wallet too (it is just a credit, audited)', async () => {
    const admin = await registerAdmin()
    const res = await topup(admin.accessToken, { userId: admin.id, amount: 3, reason: 'self test' })
    expect(res.status, res.text).toBe(200)
    const mine = await call('/api/wallet/balance', { token: admin.accessToken })
    expect(mine.body.data.balance, mine.text).toBe(3)
  })
})
