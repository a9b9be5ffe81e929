/**
 * Shared pieces of the auth tests: logging in, reading the sandbox mailbox and the session rows
 * straight from D1, and the JWT settings the Worker runs with (from the test bindings, never
 * hard-coded).
 */
import { env } from 'cloudflare:test'
import { decodeJwt } from 'jose'
import { expect } from 'vitest'
import { call, PASSWORD, type ApiResponse } from '../../helpers/api'

export const jwtSettings = () => ({
  secret: new TextEncoder().encode(env.JWT_SECRET),
  issuer: env.JWT_ISSUER,
  audience: env.JWT_AUDIENCE,
  ttlSeconds: Number(env.ACCESS_TOKEN_TTL_SECONDS),
})

export interface Session {
  accessToken: string
  refreshToken: string
  sessionId: string
}

/** Logs in and returns the new session's tokens; fails loudly on anything but 200. */
export async function login(email: string, password = PASSWORD): Promise<Session> {
  const res = await call('/api/v1/auth/login', { body: { email, password } })
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`)
  const { accessToken, refreshToken } = res.body.data.tokens
  return { accessToken, refreshToken, sessionId: sessionIdOf(accessToken) }
}

/** The `sid` claim of an access token the Worker issued. */
export function sessionIdOf(accessToken: string): string {
  const sid = decodeJwt(accessToken).sid
  if (typeof sid !== 'string') throw new Error(`access token has no sid: ${accessToken}`)
  return sid
}

export function me(token: string): Promise<ApiResponse> {
  return call('/api/v1/auth/me', { token })
}

export function refresh(refreshToken: string): Promise<ApiResponse> {
  return call('/api/v1/auth/refresh', { body: { refreshToken } })
}

export interface MailRow {
  to: string
  subject: string
  text: string
  kind: string
  user_id: string | null
}

export async function mailsTo(email: string, kind?: string): Promise<MailRow[]> {
  const rows = kind
    ? await env.DB.prepare('SELECT * FROM emails WHERE "to" = ? AND kind = ? ORDER BY rowid').bind(email, kind).all<MailRow>()
    : await env.DB.prepare('SELECT * FROM emails WHERE "to" = ? ORDER BY rowid').bind(email).all<MailRow>()
  return rows.results
}

/** The token of the newest mail of `kind` to `email` (the `?token=` of its link). */
export async function mailedToken(email: string, kind: 'verify_email' | 'password_reset'): Promise<string> {
  const mails = await mailsTo(email, kind)
  const last = mails.at(-1)
  if (!last) throw new Error(`no ${kind} mail to ${email}`)
  const m = /[?&]token=([A-Za-z0-9_-]+)/.exec(last.text)
  if (!m) throw new Error(`no token in mail: ${last.text}`)
  return m[1]!
}

export async function sessionRow(id: string) {
  return env.DB.prepare('SELECT * FROM sessions WHERE id = ?').bind(id).first<{ id: string; user_id: string; revoked_at: number | null; revoke_reason: string | null }>()
}

export async function setUserStatus(userId: string, status: string, suspendedUntil: number | null = null) {
  await env.DB.prepare('UPDATE users SET status = ?, suspended_until = ? WHERE id = ?').bind(status, suspendedUntil, userId).run()
}

/** The `field` of every issue in a VALIDATION_ERROR's details. */
export function issueFields(res: ApiResponse): string[] {
  const details = res.body?.error?.details
  return Array.isArray(details) ? details.map((d: { field: string }) => d.field) : []
}

/** Asserts the status with the body as the message, and hands the response back. */
export function expectStatus(res: ApiResponse, status: number): ApiResponse {
  expect(res.status, res.text).toBe(status)
  return res
}

/** Asserts `emailVerified` as /me reports it for this access token. */
export async function expectEmailVerified(accessToken: string, verified: boolean) {
  const res = expectStatus(await me(accessToken), 200)
  expect(res.body.data.emailVerified, res.text).toBe(verified)
  expect(res.body.data.user.emailVerified, res.text).toBe(verified)
}
