/**
 * Connector credentials, validated per type (a discriminated union on `type`): what
 * `POST /api/v1/projects/:projectId/connectors` accepts. Stored sealed with the secret box; only a
 * masked hint (the last 4 characters of the main secret) is ever shown.
 */
import { z } from 'zod'
import type { ConnectorType } from './types'

const E164 = /^\+[1-9]\d{6,14}$/

export const WhatsAppCredentials = z
  .object({
    phoneNumberId: z.string().regex(/^\d{5,20}$/, 'the WhatsApp phone number id: digits'),
    accessToken: z.string().min(16, 'a Meta access token'),
    /** Verifies `X-Hub-Signature-256` on the status webhook. */
    appSecret: z.string().min(8).optional(),
    /** Answers Meta's `hub.verify_token` when the webhook is set up. */
    webhookVerifyToken: z.string().min(8).optional(),
  })
  .strict()

export const TelegramCredentials = z
  .object({
    botToken: z.string().regex(/^\d{3,}:[A-Za-z0-9_-]{6,}$/, 'a bot token as BotFather gives it: <bot id>:<secret>'),
  })
  .strict()

export const TwilioCredentials = z
  .object({
    accountSid: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'an account SID: AC and 32 hex digits'),
    authToken: z.string().min(16, 'the account auth token'),
    fromNumber: z.string().regex(E164, 'the sending number in E.164 (+15551234567)'),
  })
  .strict()

export const SandboxCredentials = z
  .object({
    /** Recipients the sandbox refuses for good (`failed`, code `SANDBOX_REJECTED`). */
    failRecipients: z.array(z.string()).max(100).optional(),
    /** Recipients the sandbox answers 503 for (retried with backoff until the queue gives up). */
    unavailableRecipients: z.array(z.string()).max(100).optional(),
    /** After how long an accepted message is `delivered` (default 2,000 ms). */
    deliverAfterMs: z.number().int().min(0).max(600_000).optional(),
  })
  .strict()

export const CREDENTIAL_SCHEMAS = {
  whatsapp: WhatsAppCredentials,
  telegram: TelegramCredentials,
  twilio: TwilioCredentials,
  sandbox: SandboxCredentials,
} as const satisfies Record<ConnectorType, z.ZodType>

export type ConnectorCredentials = {
  whatsapp: z.infer<typeof WhatsAppCredentials>
  telegram: z.infer<typeof TelegramCredentials>
  twilio: z.infer<typeof TwilioCredentials>
  sandbox: z.infer<typeof SandboxCredentials>
}

/** The masked hint of a connector's credentials: the last 4 characters of its main secret. */
export function credentialHint(type: ConnectorType, credentials: Record<string, unknown>): string | null {
  const main = { whatsapp: 'accessToken', telegram: 'botToken', twilio: 'authToken', sandbox: null }[type]
  const value = main ? credentials[main] : null
  return typeof value === 'string' && value.length >= 8 ? `…${value.slice(-4)}` : null
}
