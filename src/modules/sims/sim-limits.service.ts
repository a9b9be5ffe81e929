/**
 * An account's global SIM limits (GET/POST /api/v1/sims/limits): stored by Switchboard, one row
 * per account, and handed to the upstream of every SIM of the account.
 *
 * Invariants:
 * - A change reaches the upstreams first, one `setLimits` call per provider with all of the
 *   account's SIMs there; the row is written only when every provider accepted. An upstream failure
 *   is a 502 and the stored limits stay as they were (a provider called before the failing one
 *   keeps what it was given: the next successful change overwrites it).
 * - What an upstream does with them is the adapter's: the 1NCE adapter sends nothing, because 1NCE's
 *   limits are organisation-wide and would limit every customer's SIMs (providers/sims/once.ts).
 * - A field the request leaves out keeps its stored value; null removes a limit.
 */
import { asc, eq } from 'drizzle-orm'
import type { z } from '@hono/zod-openapi'
import type { Db } from '../../db/client'
import { simLimits, sims } from '../../db/schema'
import type { RequestContext } from '../../lib/context'
import type { SimLimitsInput } from '../../providers/sims/types'
import type { SetLimitsBody } from './schemas'
import type { SimsService } from './sims.service'

export type SimLimits = SimLimitsInput & { updatedAt: Date | null }

const NONE: SimLimitsInput = { dailyDataLimit: null, monthlyDataLimit: null, dailySmsLimit: null, monthlySmsLimit: null, enforceLimits: false }

export interface SimLimitsDeps {
  db: Db
  sims: Pick<SimsService, 'adapterOf'>
  now?: () => number
}

export class SimLimitsService {
  private readonly now: () => number

  constructor(private readonly deps: SimLimitsDeps) {
    this.now = deps.now ?? Date.now
  }

  /** The account's limits: none set is all null, not enforced. */
  async get(ctx: RequestContext): Promise<SimLimits> {
    const row = await this.deps.db.select().from(simLimits).where(eq(simLimits.userId, ctx.accountId)).get()
    if (!row) return { ...NONE, updatedAt: null }
    return {
      dailyDataLimit: row.dailyDataLimit,
      monthlyDataLimit: row.monthlyDataLimit,
      dailySmsLimit: row.dailySmsLimit,
      monthlySmsLimit: row.monthlySmsLimit,
      enforceLimits: row.enforceLimits,
      updatedAt: row.updatedAt,
    }
  }

  /** Merges the change into the stored limits, gives them to every SIM's upstream, then stores them. */
  async set(ctx: RequestContext, body: z.infer<typeof SetLimitsBody>): Promise<SimLimits> {
    const { db } = this.deps
    const current = await this.get(ctx)
    const limits: SimLimitsInput = {
      dailyDataLimit: body.daily_data_limit !== undefined ? body.daily_data_limit : current.dailyDataLimit,
      monthlyDataLimit: body.monthly_data_limit !== undefined ? body.monthly_data_limit : current.monthlyDataLimit,
      dailySmsLimit: body.daily_sms_limit !== undefined ? body.daily_sms_limit : current.dailySmsLimit,
      monthlySmsLimit: body.monthly_sms_limit !== undefined ? body.monthly_sms_limit : current.monthlySmsLimit,
      enforceLimits: body.enforce_limits ?? current.enforceLimits,
    }
    const held = await db.select({ iccid: sims.iccid, providerId: sims.providerId }).from(sims).where(eq(sims.userId, ctx.accountId)).orderBy(asc(sims.id)).all()
    const byProvider = new Map<string, string[]>()
    for (const s of held) {
      const list = byProvider.get(s.providerId)
      if (list) list.push(s.iccid)
      else byProvider.set(s.providerId, [s.iccid])
    }
    for (const [providerId, iccids] of byProvider) {
      const { adapter } = await this.deps.sims.adapterOf({ providerId })
      await adapter.setLimits(iccids, limits)
    }
    const updatedAt = new Date(this.now())
    await db
      .insert(simLimits)
      .values({ userId: ctx.accountId, ...limits, updatedAt })
      .onConflictDoUpdate({ target: simLimits.userId, set: { ...limits, updatedAt } })
    return { ...limits, updatedAt }
  }
}
