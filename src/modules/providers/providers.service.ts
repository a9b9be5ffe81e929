/**
 * The provider registry: provider rows from D1 and their adapters.
 * Healthy active providers are candidates for purchases, cheapest first.
 */
import { and, asc, count, eq, or } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { providers, type Provider } from '../../db/schema'
import { NotFound } from '../../lib/errors'
import { numberAdapters } from '../../providers/numbers/registry'
import type { ProviderDeps } from '../../providers/numbers/types'

export class ProvidersService {
  constructor(
    private readonly db: Db,
    private readonly deps: ProviderDeps,
  ) {}

  list(): Promise<Provider[]> {
    return this.db.select().from(providers).orderBy(asc(providers.priority), asc(providers.code)).all()
  }

  /** One page of all providers (active and disabled), by priority then code. */
  async page(page: number, limit: number): Promise<{ rows: Provider[]; total: number }> {
    const [rows, totals] = await this.db.batch([
      this.db
        .select()
        .from(providers)
        .orderBy(asc(providers.priority), asc(providers.code))
        .limit(limit)
        .offset((page - 1) * limit),
      this.db.select({ n: count() }).from(providers),
    ])
    return { rows, total: totals[0]?.n ?? 0 }
  }

  /** Active and healthy, by priority. */
  usable(): Promise<Provider[]> {
    return this.db
      .select()
      .from(providers)
      .where(and(eq(providers.status, 'active'), eq(providers.healthy, true)))
      .orderBy(asc(providers.priority), asc(providers.code))
      .all()
  }

  async get(idOrCode: string): Promise<Provider> {
    const p = await this.db
      .select()
      .from(providers)
      .where(or(eq(providers.id, idOrCode), eq(providers.code, idOrCode)))
      .get()
    if (!p) throw new NotFound('Provider')
    return p
  }

  adapters(p: Provider) {
    return numberAdapters(p, this.deps)
  }
}
