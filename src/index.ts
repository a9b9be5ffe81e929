import { createApp } from './app'
import type { Env } from './env'
import { isLivenessPath, liveness } from './modules/health/health'
import { queue } from './queue'
import { scheduled } from './scheduled'

export { Metrics } from './modules/metrics/metrics.do'
export { NumberLock } from './modules/number-locks/number-lock.do'
export { RateLimiter } from './modules/rate-limit/rate-limiter.do'
export { Wallet } from './modules/wallet/wallet.do'

const app = createApp()

export default {
  fetch(request, env, ctx) {
    // Liveness polls skip the router and its middleware (see modules/health/health.ts).
    if (request.method === 'GET') {
      const path = new URL(request.url).pathname
      if (isLivenessPath(path)) return liveness(request, path, env, ctx)
    }
    return app.fetch(request, env, ctx)
  },
  queue,
  scheduled,
} satisfies ExportedHandler<Env>
