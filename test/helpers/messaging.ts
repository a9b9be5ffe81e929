/** Messaging set-ups: a project with a connector, a template and a project key, through the API. */
import { env, runInDurableObject } from 'cloudflare:test'
import { expect } from 'vitest'
import { call, type TestUser } from './api'
import { waitFor } from './db'

export interface MessagingSetup {
  projectId: string
  connectorId: string
  templateId: string
  key: string
  keyId: string
}

export async function messagingSetup(
  u: TestUser,
  opts: { type?: string; credentials?: Record<string, unknown>; content?: string; variables?: string[]; rateLimit?: number; settings?: Record<string, unknown> } = {},
): Promise<MessagingSetup> {
  const project = await call('/api/v1/projects', { token: u.accessToken, body: { name: 'Test project' } })
  expect(project.status, project.text).toBe(201)
  const projectId = project.body.data.id
  const type = opts.type ?? 'sandbox'
  const connector = await call(`/api/v1/projects/${projectId}/connectors`, {
    token: u.accessToken,
    body: { type, name: `${type} connector`, credentials: opts.credentials ?? { deliverAfterMs: 0 }, ...(opts.settings ? { settings: opts.settings } : {}) },
  })
  expect(connector.status, connector.text).toBe(201)
  const template = await call(`/api/v1/projects/${projectId}/templates`, {
    token: u.accessToken,
    body: { name: 'Code', connectorType: type, content: opts.content ?? 'Hello {{name}}, your code is {{code}}', variables: opts.variables ?? ['name', 'code'] },
  })
  expect(template.status, template.text).toBe(201)
  const key = await call(`/api/v1/projects/${projectId}/keys`, { token: u.accessToken, body: { name: 'Backend', ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}) } })
  expect(key.status, key.text).toBe(201)
  return { projectId, connectorId: connector.body.data.id, templateId: template.body.data.id, key: key.body.data.key, keyId: key.body.data.id }
}

export function sendBody(s: MessagingSetup, extra: Record<string, unknown> = {}) {
  return { to: '+14155550123', connectorId: s.connectorId, templateId: s.templateId, variables: { name: 'Ada', code: '12345' }, ...extra }
}

export async function messageRow(id: string) {
  return env.DB.prepare('SELECT * FROM messages WHERE id = ?').bind(id).first<Record<string, any>>()
}

export async function sandboxSends(messageId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT sends FROM sandbox_messages WHERE message_id = ?').bind(messageId).first<{ sends: number }>()
  return row?.sends ?? 0
}

/** Waits until the message reaches `status` (the queue runs in the test runtime). */
export async function untilStatus(id: string, status: string, ms = 10_000) {
  return waitFor(
    async () => {
      const row = await messageRow(id)
      return row?.status === status ? row : null
    },
    `message ${id} ${status}`,
    ms,
  )
}

export async function outboxOf(messageId: string) {
  return (await env.DB.prepare(`SELECT type, payload FROM outbox WHERE payload LIKE ? ORDER BY created_at`).bind(`%${messageId}%`).all<{ type: string; payload: string }>()).results
}

/** The ids of every hold the account's wallet ever made (settled ones too). */
export async function holdIds(userId: string): Promise<string[]> {
  return runInDurableObject(env.WALLET.get(env.WALLET.idFromName(userId)), (_instance, state) =>
    state.storage.sql
      .exec<{ id: string }>('SELECT id FROM holds ORDER BY id')
      .toArray()
      .map((r) => r.id),
  )
}
