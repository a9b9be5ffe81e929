/**
 * Direct access to usage_records for the usage and analytics tests: what a flow wrote, and rows
 * inserted as other writers (reports of past months, meters) would have written them.
 */
import { env } from 'cloudflare:test'
import { and, asc, eq } from 'drizzle-orm'
import { createDb } from '../../src/db/client'
import { usageRecords, type UsageType } from '../../src/db/schema'
import { newId } from '../../src/lib/ids'

export const db = createDb(env.DB)

export function usageRows(userId: string, type?: UsageType) {
  return db
    .select()
    .from(usageRecords)
    .where(and(eq(usageRecords.userId, userId), type ? eq(usageRecords.resourceType, type) : undefined))
    .orderBy(asc(usageRecords.occurredAt), asc(usageRecords.id))
    .all()
}

export function usageByTxn(userId: string, transactionId: string) {
  return db
    .select()
    .from(usageRecords)
    .where(and(eq(usageRecords.userId, userId), eq(usageRecords.transactionId, transactionId)))
    .get()
}

const UNIT: Record<UsageType, string> = {
  call_minutes: 'minute',
  sms: 'message',
  api_calls: 'request',
  activation: 'activation',
  did_purchase: 'number',
  did_monthly: 'number-month',
  subscription_proration: 'subscription',
  sim_data_topup: 'MiB',
  sim_sms_topup: 'SMS',
  message: 'message',
}

/** One usage row at `at` (ms): `unitPrice` in micro-units, cost = quantity × unitPrice unless given. */
export async function insertUsage(userId: string, type: UsageType, quantity: number, unitPrice: number, at: number, extra: Partial<typeof usageRecords.$inferInsert> = {}) {
  const row = {
    id: newId('usg', at),
    userId,
    resourceType: type,
    resourceId: null,
    quantity,
    unit: UNIT[type],
    unitPrice,
    totalCost: quantity * unitPrice,
    currency: 'USD',
    prepaid: false,
    description: null,
    month: new Date(at).toISOString().slice(0, 7),
    occurredAt: new Date(at),
    transactionId: null,
    reportId: null,
    createdAt: new Date(at),
    updatedAt: new Date(at),
    ...extra,
  }
  await db.insert(usageRecords).values(row)
  return row
}
