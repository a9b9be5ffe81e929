/**
 * The calendar of DID renewals (renewals.job.ts): a number's anniversaries and periods, and the
 * operation ids of a period's debit and of its return. Pure functions.
 */

/** Purchase time + `months`, on the purchase's day of month (clamped to the month's last day). */
export function anniversary(purchasedAt: number, months: number): Date {
  const d = new Date(purchasedAt)
  const y = d.getUTCFullYear()
  const m = d.getUTCMonth() + months
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate()
  return new Date(Date.UTC(y, m, Math.min(d.getUTCDate(), lastDay), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()))
}

/** The first anniversary (at least one month after purchase) strictly after `periodStart`. */
export function periodEndFor(purchasedAt: number, periodStart: number): Date {
  const p = new Date(purchasedAt)
  const s = new Date(periodStart)
  let n = Math.max(1, (s.getUTCFullYear() - p.getUTCFullYear()) * 12 + s.getUTCMonth() - p.getUTCMonth())
  let end = anniversary(purchasedAt, n)
  while (end.getTime() <= periodStart) end = anniversary(purchasedAt, ++n)
  return end
}

export const utcDay = (t: number) => Math.floor(t / 86_400_000)
export const day = (t: number) => new Date(t).toISOString().slice(0, 10)

/** The debit of the period's `seq`-th charge (a charge after a return is a new debit). */
export const renewalOpId = (numberId: string, periodStart: number, seq = 1) => (seq === 1 ? `renew_${numberId}_${periodStart}` : `renew_${numberId}_${periodStart}_${seq}`)
/** The credit that gives the debit `debitOpId` back. */
export const returnOpOf = (debitOpId: string) => `${debitOpId}_returned`
export const renewalReturnOpId = (numberId: string, periodStart: number, seq = 1) => returnOpOf(renewalOpId(numberId, periodStart, seq))
