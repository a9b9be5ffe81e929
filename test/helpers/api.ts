/**
 * Test client: requests go through the Worker's real fetch handler (`exports.default.fetch`),
 * so every middleware, binding and D1 write is the production path.
 */
import { env } from 'cloudflare:test'
import { exports } from 'cloudflare:workers'

export interface ApiResponse<T = any> {
  status: number
  headers: Headers
  body: T
  text: string
}

let ipCounter = 0
/** A fresh client IP, so per-IP limits (auth: 5 per 15 min) don't couple unrelated tests. */
export function freshIp(): string {
  ipCounter += 1
  return `198.51.${(ipCounter >> 8) & 255}.${ipCounter & 255}`
}

export interface CallOptions {
  method?: string
  body?: unknown
  rawBody?: BodyInit
  token?: string
  apiKey?: string
  headers?: Record<string, string>
  ip?: string
}

export function buildRequest(path: string, opts: CallOptions = {}): Request {
  const headers = new Headers(opts.headers)
  headers.set('cf-connecting-ip', opts.ip ?? freshIp())
  if (opts.token) headers.set('authorization', `Bearer ${opts.token}`)
  if (opts.apiKey) headers.set('x-api-key', opts.apiKey)
  let body: BodyInit | undefined = opts.rawBody
  if (opts.body !== undefined) {
    headers.set('content-type', 'application/json')
    body = JSON.stringify(opts.body)
  }
  return new Request(`http://switchboard.test${path}`, { method: opts.method ?? (body ? 'POST' : 'GET'), headers, body })
}

export async function readResponse<T = any>(res: Response): Promise<ApiResponse<T>> {
  const text = await res.text()
  let parsed: any = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // not JSON (metrics, docs)
  }
  return { status: res.status, headers: res.headers, body: parsed, text }
}

export async function call<T = any>(path: string, opts: CallOptions = {}): Promise<ApiResponse<T>> {
  return readResponse<T>(await (exports as any).default.fetch(buildRequest(path, opts)))
}

let userCounter = 0
export function uniqueEmail(tag = 'user'): string {
  userCounter += 1
  return `${tag}-${Date.now().toString(36)}-${userCounter}-${Math.random().toString(36).slice(2, 8)}@example.com`
}

export const PASSWORD = 'Correct-Horse-42'

export interface TestUser {
  id: string
  email: string
  accessToken: string
  refreshToken: string
}

export async function registerUser(extra: Record<string, unknown> = {}): Promise<TestUser> {
  const email = uniqueEmail()
  const res = await call('/api/v1/auth/register', {
    body: { email, password: PASSWORD, firstName: 'Test', lastName: 'User', acceptTerms: true, ...extra },
  })
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`)
  const d = res.body.data
  return { id: d.user.id, email, accessToken: d.tokens.accessToken, refreshToken: d.tokens.refreshToken }
}

/** A registered user promoted to admin directly in D1 (roles are read per request). */
export async function registerAdmin(): Promise<TestUser> {
  const u = await registerUser()
  await env.DB.prepare(`UPDATE users SET role = 'admin' WHERE id = ?`).bind(u.id).run()
  return u
}

export async function createApiKey(user: TestUser, permissions: string[] = ['*'], extra: Record<string, unknown> = {}) {
  const res = await call('/api/v1/api-keys', { token: user.accessToken, body: { name: 'test key', permissions, ...extra } })
  if (res.status !== 201) throw new Error(`create key failed: ${res.status} ${res.text}`)
  return res.body.data as { id: string; key: string; keyPrefix: string }
}

/** The envelope every error answer must have. */
export function expectErrorEnvelope(res: ApiResponse, status: number, code: string) {
  const where = `${res.status} ${res.text}`
  if (res.status !== status) throw new Error(`expected ${status} ${code}, got ${where}`)
  if (res.body?.success !== false || res.body?.error?.code !== code || typeof res.body?.error?.message !== 'string') {
    throw new Error(`expected error envelope with code ${code}, got ${where}`)
  }
  if (typeof res.body?.meta?.requestId !== 'string' || typeof res.body?.meta?.timestamp !== 'string') {
    throw new Error(`error envelope lacks meta: ${where}`)
  }
}
