import { describe, expect, it } from 'vitest'
import { fromMicros } from '../../../src/lib/money'
import { monthlyBill, PLANS, RATES, usageCharges } from '../../../src/modules/subscriptions/plans'

describe('plans and usage rates (usage billing)', () => {
  it('has the documented rates and monthly fees, exactly', () => {
    expect(RATES).toEqual({ callMinutes: 50_000, smsCount: 10_000, apiCalls: 1_000 })
    expect([PLANS.basic.monthlyFee, PLANS.pro.monthlyFee, PLANS.enterprise.monthlyFee]).toEqual([9_990_000, 29_990_000, 99_990_000])
  })

  it("computes the pro plan's reference month exactly: usage fee 29.75, amount 59.74", () => {
    const bill = monthlyBill({ callMinutes: 425, smsCount: 1150, apiCalls: 5900 }, PLANS.pro)
    expect(bill).toEqual({ subscriptionFee: 29_990_000, usageFee: 29_750_000, amount: 59_740_000 })
    expect([fromMicros(bill.usageFee), fromMicros(bill.amount)]).toEqual([29.75, 59.74])
  })

  it('charges every unit at the bare rates on basic, and $0.001 per API call stays exact', () => {
    const { lines, total } = usageCharges({ callMinutes: 425, smsCount: 1150, apiCalls: 5901 }, PLANS.basic)
    expect(total).toBe(21_250_000 + 11_500_000 + 5_901_000)
    expect(lines.find((l) => l.metric === 'apiCalls')).toMatchObject({ quantity: 5901, billable: 5901, total: 5_901_000 })
  })

  it('never bills below zero when usage is under the included amount', () => {
    const { lines, total } = usageCharges({ callMinutes: 100, smsCount: 50, apiCalls: 10 }, PLANS.enterprise)
    expect(total).toBe(0)
    expect(lines.every((l) => l.billable === 0 && l.included === l.quantity)).toBe(true)
  })
})
