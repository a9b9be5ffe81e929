import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import type { AppEnv } from './router'
import { flush, metricsStub, observe, shouldFlush } from '../modules/metrics/recorder'
import { logger } from '../lib/logger'

/**
 * Times every request and counts it by method, matched route pattern (never the raw path, so
 * label cardinality stays bounded) and status. Sending to the Metrics object happens after the
 * response, through waitUntil.
 */
export const metrics: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now()
  await next()
  // Only the global '*' middleware matched: no route did.
  const matched = routePath(c, -1)
  const route = matched === '*' || matched === '/*' ? 'unmatched' : matched
  observe(c.req.method, route, c.res.status, (performance.now() - started) / 1000)
  if (shouldFlush()) {
    c.executionCtx.waitUntil(flush(metricsStub(c.env.METRICS)).catch((e) => logger.error('metrics flush failed', { requestId: c.get('requestId'), error: e })))
  }
}
