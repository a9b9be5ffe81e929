/**
 * Messaging connectors (seed 004): WhatsApp Cloud API, Telegram Bot API, Twilio Programmable
 * Messaging, and the sandbox. Each adapter speaks its upstream's real wire protocol through an
 * injected `fetch` (tests feed it the upstream's documented answers) and never throws for an
 * upstream's answer: `send` classifies it, so the `messages` consumer decides between retrying
 * and failing for good. Errors, results and logs never carry credentials.
 *
 * Exactly-once: the consumer records an attempt before `send` and stores the upstream id at once
 * after. A send whose outcome is unknown (the network failed after the request may have left)
 * is `uncertain`: the consumer asks `find` when the connector has one, and never sends blindly again.
 */

export const CONNECTOR_TYPES = ['whatsapp', 'telegram', 'twilio', 'sandbox'] as const
export type ConnectorType = (typeof CONNECTOR_TYPES)[number]

/** Where a message is in its life: only ever forward (`queued → sent → delivered | read | failed`). */
export type MessageStatus = 'queued' | 'sent' | 'delivered' | 'read' | 'failed'

export interface OutboundMessage {
  /** Switchboard's message id (`msg_…`): the reference the upstream echoes where it can. */
  messageId: string
  /** E.164 (`+15551234567`) for WhatsApp, Twilio and the sandbox; a chat id (or `@channel`) for Telegram. */
  to: string
  /** The rendered text (values already escaped for `parseMode`). */
  text: string
  /** Telegram: how the text is formatted (the template renderer escaped the values for it). */
  parseMode?: 'HTML' | 'MarkdownV2'
  /** Twilio: the absolute `StatusCallback` URL for this message (carries the message id). */
  statusCallbackUrl?: string
  /**
   * WhatsApp: send as an approved template message (business-initiated, outside the 24 h window)
   * instead of text: Meta's template name and language, and the body parameters in order.
   */
  whatsappTemplate?: { name: string; language: string; bodyParameters: string[] }
}

export type SendResult =
  /** The upstream accepted: its id (`wamid.…`, Telegram `message_id`, Twilio `SM…`), and a status if it told one. */
  | {
      kind: 'accepted'
      upstreamId: string
      status: 'sent' | 'delivered'
      metadata?: Record<string, unknown>
      /** The sandbox: its delivery receipt arrives this long after (the consumer applies it then). */
      receiptAfterMs?: number
    }
  /** Worth another try later (429, 5xx, a refused connection): after `retryAfterSeconds` when the upstream said. */
  | { kind: 'retry'; code: string; message: string; retryAfterSeconds?: number }
  /** Final: the upstream refused this message (bad number, blocked bot, template mismatch, bad credentials). */
  | { kind: 'failed'; code: string; message: string }
  /** The request may have reached the upstream (timeout, reset after sending): do not send again blindly. */
  | { kind: 'uncertain'; code: string; message: string }

export interface ConnectorTestResult {
  success: boolean
  connected: boolean
  /** e.g. "Connected to WhatsApp Cloud API (+1 555-0100)"; never a credential. */
  message: string
}

/** A delivery update from an upstream's callback (Twilio StatusCallback, WhatsApp status webhook). */
export interface StatusUpdate {
  /** The upstream's id of the message (`SM…`, `wamid.…`). */
  upstreamId: string
  status: 'sent' | 'delivered' | 'read' | 'failed'
  at: Date
  /** For `failed`: the upstream's code and text. */
  errorCode?: string
  errorMessage?: string
}

/** An inbound HTTP callback, as the route received it. */
export interface InboundCallback {
  /** The full URL the upstream called (signatures cover it). */
  url: string
  headers: Headers
  /** The raw body (signatures cover the bytes). */
  body: string
}

/** How fast one connector may send (a burst is spread over time, never refused). */
export interface Pacing {
  /** Messages per second over the whole connector (Telegram: 30 per bot). */
  perSecond: number
  /** Minimum milliseconds between two messages to the same recipient (Telegram: 1,000; WhatsApp: 6,000). */
  perRecipientMs: number
}

export interface MessagingConnector {
  readonly type: ConnectorType
  /** Sends one message. Never throws for an upstream answer or a network failure: classifies it. */
  send(message: OutboundMessage): Promise<SendResult>
  /** A real identity call (WhatsApp phone-number lookup, Telegram getMe, Twilio account fetch). */
  test(): Promise<ConnectorTestResult>
  /**
   * Whether an earlier, uncertain attempt of this message reached the upstream (reconciliation on
   * redelivery). `null`: it did not; absent method: the upstream cannot tell.
   */
  find?(message: OutboundMessage, since: Date): Promise<{ upstreamId: string; status: 'sent' | 'delivered' } | null>
  /**
   * Verifies an inbound status callback (signature with the connector's own secret) and reads its
   * updates. Throws `AppError` 401 `INVALID_SIGNATURE` when the signature does not verify.
   * Absent: the upstream has no status callbacks (Telegram: an accepted send is final).
   */
  statusUpdates?(callback: InboundCallback): Promise<StatusUpdate[]>
}

/** What an adapter is built with. */
export interface ConnectorDeps {
  /** The upstream's `fetch` (tests inject the documented answers). */
  fetch: typeof fetch
  /** The upstream's base URL (env override; each adapter has its public default). */
  baseUrl?: string
  timeoutMs?: number
  now?: () => number
}
