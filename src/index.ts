import { createApp } from './app'
import type { Env } from './env'
import { queue } from './queue'
import { scheduled } from './scheduled'

export { Metrics } from './modules/metrics/metrics.do'
export { NumberLock } from './modules/numbers/number-lock.do'
export { RateLimiter } from './modules/rate-limit/rate-limiter.do'
export { Wallet } from './modules/wallet/wallet.do'

const app = createApp()

export default {
  fetch: app.fetch,
  queue,
  scheduled,
} satisfies ExportedHandler<Env>
