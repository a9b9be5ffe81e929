/**
 * Numbers' smsUrl in this environment. The request schemas accept a loopback smsUrl (they cannot
 * see the config); the routes that take one pass it here, which refuses it unless the config
 * allows loopback (development or test with WEBHOOK_ALLOW_LOOPBACK=true). Every other rule of the
 * URL guard already ran in the schema, and runs again before each delivery.
 */
import type { Config } from '../../env'
import { ValidationError, type FieldIssue } from '../../lib/errors'
import { checkWebhookUrl, loopbackHint } from '../webhooks/url-guard'

/** `[field path, smsUrl]` pairs of one request; throws one VALIDATION_ERROR naming each refused one. */
export function checkSmsUrls(config: Config, entries: [field: string, url: string | null | undefined][]): void {
  const issues: FieldIssue[] = []
  for (const [field, url] of entries) {
    if (!url) continue
    // Plain http is a matter of the schema (always allowed for callback URLs), not of this check.
    const verdict = checkWebhookUrl(url, { allowHttp: true, allowLoopback: config.webhookUrls.allowLoopback })
    if (!verdict.ok) issues.push({ field, message: `URL ${verdict.reason}${loopbackHint(url, config)}` })
  }
  if (issues.length) throw new ValidationError('Request validation failed', issues)
}
