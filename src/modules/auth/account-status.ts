import { Forbidden } from '../../lib/errors'
import { iso } from '../../lib/time'

export interface AccountState {
  status: 'active' | 'suspended' | 'banned' | 'inactive'
  statusReason: string | null
  suspendedUntil: Date | null
}

/** A suspension with an end date is over once that date has passed, even before the sweeper runs. */
export function effectiveStatus(u: AccountState, now = Date.now()): AccountState['status'] {
  if (u.status === 'suspended' && u.suspendedUntil && u.suspendedUntil.getTime() <= now) return 'active'
  return u.status
}

/** Suspended, banned and inactive accounts are refused on every route, whatever the credential. */
export function assertAccountActive(u: AccountState, now = Date.now()): void {
  const status = effectiveStatus(u, now)
  if (status === 'active') return
  const message = status === 'banned' ? 'Account is banned' : status === 'suspended' ? 'Account is suspended' : 'Account is inactive'
  throw new Forbidden(message, { status, reason: u.statusReason, until: iso(u.suspendedUntil) })
}
