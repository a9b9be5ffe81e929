/** @switchboard/client: the typed API client, its error, webhook verification and the generated document's types. */
export {
  createClient,
  type CallOptions,
  type ClientOptions,
  type Item,
  type OperationMethods,
  type Page,
  type PaginatedOperation,
  type ResponseBody,
  type Result,
  type SwitchboardClient,
} from './client.js'
export { SwitchboardError } from './errors.js'
export { OPERATIONS, type OperationInfo } from './generated/operations.js'
export type { components, operations, paths } from './generated/schema.js'
export { backoffMs, retryAfterMs, type Fetch } from './transport.js'
export { type HeadersLike, type VerifyWebhookOptions, verifyWebhook, type WebhookEvent, type WebhookFailure, WebhookVerificationError } from './webhooks.js'
