/** Rows → the messaging API's answers (seed 004's camelCase fields). Credentials are never in a view. */
import type { ApiKey, Connector, Message, MessageTemplate, Project } from '../../db/schema'
import { iso } from '../../lib/time'
import { pacingOf } from '../../providers/messaging/registry'
import { priceOf } from './message-status'

const at = (d: Date) => d.toISOString()

export function projectSummaryView(p: Project) {
  return { id: p.id, name: p.name, description: p.description, createdAt: at(p.createdAt), isActive: p.isActive }
}

export function projectView(p: Project) {
  return { ...projectSummaryView(p), userId: p.userId, updatedAt: at(p.updatedAt) }
}

export function projectKeyView(k: ApiKey) {
  return { id: k.id, name: k.name, prefix: k.keyPrefix, lastUsed: iso(k.lastUsedAt), rateLimit: k.rateLimit, isActive: !k.revokedAt, createdAt: at(k.createdAt) }
}

export function connectorView(c: Connector) {
  return {
    id: c.id,
    projectId: c.projectId,
    type: c.type,
    name: c.name,
    isActive: c.isActive,
    credentialsHint: c.credentialsHint,
    settings: pacingOf(c.type, c.settings),
    createdAt: at(c.createdAt),
    updatedAt: at(c.updatedAt),
  }
}

export function templateView(t: MessageTemplate) {
  return {
    id: t.id,
    projectId: t.projectId,
    name: t.name,
    connectorType: t.connectorType,
    content: t.content,
    variables: t.variables,
    isActive: t.isActive,
    createdAt: at(t.createdAt),
    updatedAt: at(t.updatedAt),
  }
}

export function messageSummaryView(m: Message) {
  return { id: m.id, to: m.to, text: m.text, status: m.status, connectorType: m.connectorType, sentAt: iso(m.sentAt), createdAt: at(m.createdAt) }
}

export function messageView(m: Message) {
  return {
    ...messageSummaryView(m),
    projectId: m.projectId,
    connectorId: m.connectorId,
    templateId: m.templateId,
    metadata: publicMetadata(m),
    price: priceOf(m),
    deliveredAt: iso(m.deliveredAt),
    readAt: iso(m.readAt),
    failedAt: iso(m.failedAt),
    error: m.errorCode && m.status === 'failed' ? { code: m.errorCode, message: m.errorMessage ?? '' } : null,
    updatedAt: at(m.updatedAt),
  }
}

/** What the upstream told about the message (its id as `messageId`); Switchboard's own pacing slot stays inside. */
function publicMetadata(m: Message): Record<string, unknown> {
  const { slotAt: _slot, ...rest } = m.metadata
  return m.upstreamId ? { ...rest, messageId: m.upstreamId } : rest
}
