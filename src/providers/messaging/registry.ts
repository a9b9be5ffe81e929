/**
 * Builds a connector row's adapter from its type and its (opened) credentials, and says how each
 * type paces and formats its messages.
 */
import type { Db } from '../../db/client'
import { UpstreamError } from '../../lib/errors'
import type { ConnectorCredentials } from './credentials'
import { SandboxConnector } from './sandbox'
import { escapeTelegram, TelegramConnector } from './telegram'
import { TwilioConnector } from './twilio'
import { WhatsAppConnector } from './whatsapp'
import type { ConnectorType, MessagingConnector, Pacing } from './types'

export interface ConnectorBuildDeps {
  db: Db
  /** The upstreams' HTTP (tests inject the documented answers). */
  fetch: typeof fetch
  /** Base URL overrides by type (env), else each adapter's public default. */
  baseUrls?: Partial<Record<ConnectorType, string>>
  now?: () => number
}

/**
 * Default pacing per type: Telegram's documented 30 messages/s per bot and 1/s per chat; WhatsApp
 * one message per 6 s to one recipient (its pair rate limit) and 80/s per number; Twilio one
 * message/s (a long code); the sandbox unpaced. A connector's `settings` override them.
 */
export const DEFAULT_PACING: Record<ConnectorType, Pacing> = {
  telegram: { perSecond: 30, perRecipientMs: 1_000 },
  whatsapp: { perSecond: 80, perRecipientMs: 6_000 },
  twilio: { perSecond: 1, perRecipientMs: 0 },
  sandbox: { perSecond: 0, perRecipientMs: 0 },
}

export function pacingOf(type: ConnectorType, settings: { perSecond?: number; perRecipientMs?: number } | null | undefined): Pacing {
  return { ...DEFAULT_PACING[type], ...(settings ?? {}) }
}

export function connectorAdapter(row: { id: string; type: ConnectorType }, credentials: unknown, deps: ConnectorBuildDeps): MessagingConnector {
  switch (row.type) {
    case 'sandbox':
      return new SandboxConnector(credentials as ConnectorCredentials['sandbox'], { db: deps.db, connectorId: row.id, now: deps.now })
    case 'whatsapp':
      return new WhatsAppConnector(credentials as ConnectorCredentials['whatsapp'], { fetch: deps.fetch, baseUrl: deps.baseUrls?.whatsapp, now: deps.now })
    case 'twilio':
      return new TwilioConnector(credentials as ConnectorCredentials['twilio'], { fetch: deps.fetch, baseUrl: deps.baseUrls?.twilio, now: deps.now })
    case 'telegram':
      return new TelegramConnector(credentials as ConnectorCredentials['telegram'], { fetch: deps.fetch, baseUrl: deps.baseUrls?.telegram, now: deps.now })
    default:
      throw new UpstreamError(String(row.type), `no connector adapter for '${String(row.type)}'`)
  }
}

/** How a rendered value is escaped for the channel's text format. */
export function escaperFor(type: ConnectorType): ((value: string) => string) | undefined {
  const mode = parseModeFor(type)
  return mode ? (value) => escapeTelegram(mode, value) : undefined
}

/** The text format a channel's messages are sent in (Telegram: HTML, so template values are escaped for it). */
export function parseModeFor(type: ConnectorType): 'HTML' | undefined {
  return type === 'telegram' ? 'HTML' : undefined
}
