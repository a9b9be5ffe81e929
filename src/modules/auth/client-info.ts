import type { Context } from 'hono'
import type { AppEnv } from '../../http/router'
import type { ClientInfo } from './auth.service'

export function clientIp(c: Context<AppEnv>): string | null {
  return c.req.header('cf-connecting-ip') ?? null
}

export function clientInfo(c: Context<AppEnv>, deviceInfo?: Record<string, unknown>): ClientInfo {
  return { ip: clientIp(c), userAgent: c.req.header('user-agent') ?? null, deviceInfo }
}
