/**
 * The provider registry: provider rows from D1 and their adapters.
 * Healthy active providers are candidates for purchases, cheapest first.
 */
import { and, asc, eq } from 'drizzle-orm'
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
    const rows = await this.db.select().from(providers).all()
    const p = rows.find((r) => r.id === idOrCode || r.code === idOrCode)
    if (!p) throw new NotFound('Provider')
    return p
  }

  adapters(p: Provider) {
    return numberAdapters(p, this.deps)
  }
}
