import { createRoute } from '@hono/zod-openapi'
import { aliasOperationId, envelope, errorResponses, ok, sessionSecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { requireAuth } from '../../http/authenticate'
import { contextOf } from '../../http/authenticate'
import { syncProvider } from './provider-sync.job'
import { PROVIDER_PREFIXES, ProviderIdParam, SyncResultView, syncResultView } from './schemas'

export const registerSyncProvider = (r: Router) => {
  for (const prefix of PROVIDER_PREFIXES) {
    const route = createRoute({
      method: 'post',
      path: `${prefix}/{id}/sync`,
      operationId: aliasOperationId('syncProvider', prefix),
      tags: ['admin'],
      summary: 'Sync a provider now',
      description:
        'Runs the provider sync for this provider at once (the cron runs it every 15 minutes): offers, prices, ' +
        'stock and DID inventory. A failing upstream is not an error of this call: the answer is 200 with `healthy: false` ' +
        'and the reason in `error`, and the provider is marked unhealthy until a sync succeeds. Recorded in the audit log.',
      middleware: [rateClass('admin'), requireAuth({ admin: true })] as const,
      security: sessionSecurity,
      request: { params: ProviderIdParam },
      responses: { 200: ok(SyncResultView, 'What the sync did'), ...errorResponses },
    })
    r.openapi(route, async (c) => {
      const { services } = c.var
      const provider = await services.providers.get(c.req.valid('param').id)
      const result = await syncProvider(services, provider)
      await services.audit.entry(contextOf(c), 'provider.sync', 'provider', provider.id, {
        healthy: result.healthy,
        error: result.error,
        stock: result.stock,
      })
      return c.json(envelope(c, syncResultView(result)), 200)
    })
  }
}
