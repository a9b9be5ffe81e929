import type { Router } from '../../http/router'
import { registerCreateWebhook } from './create-webhook'
import { registerDeleteWebhook } from './delete-webhook'
import { registerGetWebhook } from './get-webhook'
import { registerListDeliveries } from './list-deliveries'
import { registerListWebhooks } from './list-webhooks'
import { registerNumberCallbackSecret } from './number-callback-secret'
import { registerRetryDelivery } from './retry-delivery'
import { registerRotateSecret } from './rotate-secret'
import { registerTestWebhook } from './test-webhook'
import { registerUpdateWebhook } from './update-webhook'

export function registerWebhooks(r: Router) {
  // Static paths before `/{id}`.
  registerNumberCallbackSecret(r)
  registerCreateWebhook(r)
  registerListWebhooks(r)
  registerGetWebhook(r)
  registerUpdateWebhook(r)
  registerDeleteWebhook(r)
  registerRotateSecret(r)
  registerListDeliveries(r)
  registerTestWebhook(r)
  registerRetryDelivery(r)
}
