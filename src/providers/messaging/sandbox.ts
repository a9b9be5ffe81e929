/**
 * The sandbox connector: the embedded default, no account needed, deterministic. It accepts a
 * message into its own table (keyed by Switchboard's message id, so a repeated send is the same
 * message and `sends` counts the calls), and "delivers" it `deliverAfterMs` later: the accepted
 * result carries `receiptAfterMs`, and the `messages` consumer applies the delivery receipt then.
 * It can be told to fail: `failRecipients` are refused for good, `unavailableRecipients` answer as
 * an upstream that is down (retried).
 */
import { eq, sql } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { sandboxMessages } from '../../db/schema'
import { fnv1a } from '../../lib/hash'
import type { ConnectorCredentials } from './credentials'
import type { ConnectorTestResult, MessagingConnector, OutboundMessage, SendResult } from './types'

export const SANDBOX_DELIVER_AFTER_MS = 2_000

export class SandboxConnector implements MessagingConnector {
  readonly type = 'sandbox' as const

  constructor(
    private readonly credentials: ConnectorCredentials['sandbox'],
    private readonly deps: { db: Db; connectorId: string; now?: () => number },
  ) {}

  async send(message: OutboundMessage): Promise<SendResult> {
    if (this.credentials.failRecipients?.includes(message.to)) return { kind: 'failed', code: 'SANDBOX_REJECTED', message: 'sandbox: this recipient is set to fail' }
    if (this.credentials.unavailableRecipients?.includes(message.to)) return { kind: 'retry', code: 'UPSTREAM_UNAVAILABLE', message: 'sandbox: unavailable (HTTP 503)', retryAfterSeconds: 1 }
    const upstreamId = `sbx_${fnv1a(message.messageId).toString(16).padStart(8, '0')}${fnv1a(`${message.messageId}:2`).toString(16).padStart(8, '0')}`
    const now = new Date((this.deps.now ?? Date.now)())
    await this.deps.db
      .insert(sandboxMessages)
      .values({ messageId: message.messageId, upstreamId, connectorKey: this.deps.connectorId, to: message.to, text: message.text, createdAt: now })
      .onConflictDoUpdate({ target: sandboxMessages.messageId, set: { sends: sql`${sandboxMessages.sends} + 1` } })
    return { kind: 'accepted', upstreamId, status: 'sent', receiptAfterMs: this.credentials.deliverAfterMs ?? SANDBOX_DELIVER_AFTER_MS }
  }

  async test(): Promise<ConnectorTestResult> {
    return { success: true, connected: true, message: 'Connected to the sandbox (messages are delivered after a short delay; nothing leaves Switchboard)' }
  }

  /** The sandbox knows what it accepted: an uncertain attempt is reconciled exactly. */
  async find(message: OutboundMessage): Promise<{ upstreamId: string; status: 'sent' } | null> {
    const row = await this.deps.db.select().from(sandboxMessages).where(eq(sandboxMessages.messageId, message.messageId)).get()
    return row ? { upstreamId: row.upstreamId, status: 'sent' } : null
  }
}
