/**
 * What an account has spent: money taken from its wallet net of what was given back, read from
 * wallet_ledger (the D1 copy of the Wallet ledger). The admin revenue figures and the admin user
 * views (totalSpent, averageMonthlySpend) both count it with these two pieces, so they agree.
 *
 * Counted, as `-amount`: every entry taking money (debits and captures, amount < 0) and the
 * credits that give it back (refunds of activations and orders, returned DID renewal fees:
 * credits referencing a SPEND_REFERENCES). Top-ups and other credits are not spending.
 *
 * The ledger copy is written after the Wallet's operations (deferred; while the wallet is busy, at
 * most once a second), so a figure read right after a purchase may lag it by that copy.
 */
import { and, eq, inArray, lt, or, sql, type SQL } from 'drizzle-orm'
import { walletLedger } from '../../db/schema'

/** Wallet references of number sales: activations, DID orders, DID monthly renewals. */
export const SPEND_REFERENCES = ['activation', 'order', 'phone_number']

/** The wallet_ledger entries that count as spending (or give spending back). */
export const spendEntry = (): SQL => or(lt(walletLedger.amount, 0), and(eq(walletLedger.type, 'credit'), inArray(walletLedger.referenceType, SPEND_REFERENCES)))!

/** Net spending of the selected spendEntry rows, micro-units (0 when none). */
export const netSpend = () => sql<number>`coalesce(sum(-${walletLedger.amount}), 0)`
