/**
 * Turns a presented credential into a Principal, or refuses it.
 * Every call reads the account from D1, so a suspension, ban, revoked key or logged-out session
 * takes effect on the very next request, whatever was issued before.
 */
import { and, eq } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { apiKeys, sessions, users } from '../../db/schema'
import { sha256Hex } from '../../lib/crypto'
import { Unauthorized } from '../../lib/errors'
import { verifyAccessToken, type JwtSettings } from '../../lib/jwt'
import { assertAccountActive } from './account-status'
import type { Principal, Role } from './principal'

export type Credential = { kind: 'jwt'; token: string } | { kind: 'api_key'; key: string }

export const API_KEY_PATTERN = /^(sk|pk)_(live|test)_[A-Za-z0-9]{24,64}$/
/** `lastUsed` is written at most once a minute per key, off the response path. */
const LAST_USED_RESOLUTION_MS = 60_000

export class AuthnService {
  constructor(
    private readonly db: Db,
    private readonly jwt: JwtSettings,
    private readonly defer: (p: Promise<unknown>) => void,
  ) {}

  resolve(cred: Credential): Promise<Principal> {
    return cred.kind === 'jwt' ? this.fromJwt(cred.token) : this.fromApiKey(cred.key)
  }

  private async fromJwt(token: string): Promise<Principal> {
    const claims = await verifyAccessToken(this.jwt, token)
    const row = await this.db
      .select({
        id: users.id,
        email: users.email,
        role: users.role,
        status: users.status,
        statusReason: users.statusReason,
        suspendedUntil: users.suspendedUntil,
        sessionRevokedAt: sessions.revokedAt,
        sessionUserId: sessions.userId,
      })
      .from(users)
      .leftJoin(sessions, eq(sessions.id, claims.sid))
      .where(eq(users.id, claims.sub))
      .get()
    if (!row || row.sessionUserId !== row.id || row.sessionRevokedAt) {
      throw new Unauthorized('INVALID_TOKEN', 'Access token is no longer valid')
    }
    assertAccountActive(row)
    return { userId: row.id, email: row.email, role: row.role as Role, via: 'jwt', sessionId: claims.sid, permissions: ['*'] }
  }

  private async fromApiKey(key: string): Promise<Principal> {
    if (!API_KEY_PATTERN.test(key)) throw new Unauthorized('INVALID_API_KEY', 'API key is invalid or revoked')
    const row = await this.db
      .select({
        id: apiKeys.id,
        userId: apiKeys.userId,
        permissions: apiKeys.permissions,
        mode: apiKeys.mode,
        expiresAt: apiKeys.expiresAt,
        revokedAt: apiKeys.revokedAt,
        lastUsedAt: apiKeys.lastUsedAt,
        email: users.email,
        role: users.role,
        status: users.status,
        statusReason: users.statusReason,
        suspendedUntil: users.suspendedUntil,
      })
      .from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(eq(apiKeys.keyHash, await sha256Hex(key)))
      .get()
    if (!row || row.revokedAt) throw new Unauthorized('INVALID_API_KEY', 'API key is invalid or revoked')
    const now = Date.now()
    if (row.expiresAt && row.expiresAt.getTime() <= now) throw new Unauthorized('API_KEY_EXPIRED', 'API key has expired')
    assertAccountActive(row, now)
    if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      this.defer(
        this.db.update(apiKeys).set({ lastUsedAt: new Date(now) }).where(and(eq(apiKeys.id, row.id))).run(),
      )
    }
    return {
      userId: row.userId,
      email: row.email,
      role: row.role as Role,
      via: 'api_key',
      apiKeyId: row.id,
      apiKeyMode: row.mode,
      permissions: row.permissions,
    }
  }
}
