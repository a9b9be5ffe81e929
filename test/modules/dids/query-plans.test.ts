/**
 * The list queries of numbers and orders (and the inventory search) must start from an index:
 * EXPLAIN QUERY PLAN must not show a full scan of phone_numbers, orders or did_inventory. The
 * plans are printed so a reviewer sees what SQLite chose.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { createDb } from '../../../src/db/client'
import { DidsService } from '../../../src/modules/dids/dids.service'
import { ListNumbersQuery, SearchQuery } from '../../../src/modules/dids/schemas'
import { OrdersService } from '../../../src/modules/dids/orders.service'
import { ListOrdersQuery } from '../../../src/modules/dids/order-schemas'

const db = createDb(env.DB)
const dids = new DidsService({ db } as unknown as ConstructorParameters<typeof DidsService>[0])
const orders = new OrdersService({ db } as unknown as ConstructorParameters<typeof OrdersService>[0])

async function plan(query: { toSQL(): { sql: string; params: unknown[] } }): Promise<string[]> {
  const { sql, params } = query.toSQL()
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>()
  return results.map((r) => r.detail)
}

/** `SCAN <table>` without an index is a full table scan (`SCAN t USING INDEX …` is an ordered index walk). */
function fullScans(lines: string[], tables: string[]): string[] {
  return lines.filter((l) => tables.some((t) => new RegExp(`^SCAN ${t}\\b(?!.*USING (COVERING )?INDEX)`).test(l)))
}

const TABLES = ['phone_numbers', 'orders', 'did_inventory', 'order_items', 'sms_messages', 'number_reservations']

function check(name: string, lines: string[]) {
  console.log(`EXPLAIN QUERY PLAN — ${name}\n  ${lines.join('\n  ')}`)
  expect(fullScans(lines, TABLES), `${name}:\n${lines.join('\n')}`).toEqual([])
}

describe('query plans', () => {
  it('the detector catches a full scan', async () => {
    const lines = await plan({ toSQL: () => ({ sql: 'SELECT * FROM phone_numbers WHERE friendly_name = ?', params: ['x'] }) })
    expect(fullScans(lines, TABLES), lines.join('\n')).not.toEqual([])
  })

  const numberQueries: Record<string, Record<string, string>> = {
    default: {},
    'status filter': { status: 'active,pending' },
    'released only': { status: 'released' },
    'numberType + search': { numberType: 'LOCAL', search: '415' },
    tags: { tags: 'a,b' },
    'sort phoneNumber': { sortBy: 'phoneNumber', sortOrder: 'asc' },
    'sort monthlyPrice': { sortBy: 'monthlyPrice' },
    'sort lastUsed': { sortBy: 'lastUsed' },
    'page 3': { page: '3', limit: '50' },
  }
  for (const [name, raw] of Object.entries(numberQueries)) {
    it(`GET /api/v1/numbers — ${name}`, async () => {
      const q = ListNumbersQuery.parse(raw)
      check(`numbers page (${name})`, await plan(dids.listQuery('usr_x', q)))
      check(
        `numbers count (${name})`,
        await plan(
          db
            .select()
            .from((await import('../../../src/db/schema')).phoneNumbers)
            .where(dids.listWhere('usr_x', q)),
        ),
      )
    })
  }

  it('GET /api/v1/numbers — summary', async () => {
    check('numbers summary', await plan(dids.summaryQuery('usr_x')))
  })

  const orderQueries: Record<string, Record<string, string>> = {
    default: {},
    'status filter': { status: 'completed,payment_failed' },
    'date range': { dateFrom: '2026-01-01', dateTo: '2026-02-01' },
    'sort totalAmount': { sortBy: 'totalAmount' },
    'sort status': { sortBy: 'status', sortOrder: 'asc' },
    type: { type: 'number_purchase' },
  }
  for (const [name, raw] of Object.entries(orderQueries)) {
    it(`GET /api/v1/orders — ${name}`, async () => {
      const q = ListOrdersQuery.parse(raw)
      check(`orders page (${name})`, await plan(orders.listQuery('usr_x', q)))
    })
  }

  it('GET /api/v1/orders — summary', async () => {
    check('orders summary', await plan(orders.summaryQuery('usr_x')))
  })

  const searches: Record<string, Record<string, string>> = {
    country: { countryCode: 'US' },
    'every filter': { countryCode: 'US', areaCode: '415', numberType: 'LOCAL', capabilities: 'SMS,MMS', priceMax: '2', excludeRestricted: 'true', contains: '55*' },
  }
  for (const [name, raw] of Object.entries(searches)) {
    it(`GET /api/v1/numbers/search — ${name}`, async () => {
      check(`search (${name})`, await plan(dids.searchQuery('usr_x', SearchQuery.parse(raw))))
    })
  }
})
