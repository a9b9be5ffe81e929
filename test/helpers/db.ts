/**
 * Direct D1 access for tests: reading what a request wrote (audit log, mail, key rows) and
 * moving instants into the past (expiry, end of a suspension) without waiting.
 */
import { env } from 'cloudflare:test'

export async function sha256Hex(value: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `probe` until it returns a truthy value (deferred writes land after the response). */
export async function waitFor<T>(probe: () => Promise<T | null | undefined>, what: string, timeoutMs = 2000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

export interface AuditRow {
  id: string
  actor_id: string | null
  actor_type: string
  action: string
  target_type: string
  target_id: string
  details: Record<string, unknown>
  ip: string | null
  request_id: string | null
  created_at: number
}

export async function auditRowsFor(targetId: string): Promise<AuditRow[]> {
  const { results } = await env.DB.prepare(`SELECT * FROM audit_log WHERE target_id = ? ORDER BY created_at, id`).bind(targetId).all<Omit<AuditRow, 'details'> & { details: string }>()
  return results.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }))
}

export interface EmailRow {
  id: string
  user_id: string | null
  to: string
  subject: string
  text: string
  kind: string
}

export async function emailsFor(userId: string, kind?: string): Promise<EmailRow[]> {
  const { results } = await env.DB.prepare(`SELECT id, user_id, "to", subject, text, kind FROM emails WHERE user_id = ? AND (? IS NULL OR kind = ?) ORDER BY created_at, id`)
    .bind(userId, kind ?? null, kind ?? null)
    .all<EmailRow>()
  return results
}

export async function userRow(id: string) {
  return env.DB.prepare(`SELECT * FROM users WHERE id = ?`).bind(id).first<{
    id: string
    role: string
    status: string
    status_reason: string | null
    suspended_until: number | null
  }>()
}

export async function apiKeyRow(id: string) {
  return env.DB.prepare(`SELECT * FROM api_keys WHERE id = ?`).bind(id).first<{
    id: string
    user_id: string
    key_hash: string
    key_prefix: string
    mode: string
    permissions: string
    expires_at: number | null
    last_used_at: number | null
    revoked_at: number | null
  }>()
}
