import type { Router } from '../../http/router'
import { registerGetMessageAnalytics } from './get-message-analytics'
import { registerGetUsageAnalytics } from './get-usage-analytics'

/** Messaging analytics (seed 004): registered apart from the rest of messaging, next to the DID API's analytics. */
export function registerMessagingAnalytics(r: Router): void {
  registerGetMessageAnalytics(r)
  registerGetUsageAnalytics(r)
}
