/**
 * Turns a presented credential into a Principal, or refuses it.
 *
 * JWT sessions read the account from D1 on every request, so a suspension, ban or logged-out
 * session takes effect on the very next request.
 *
 * API keys are looked up in D1 and the accepted lookup is kept per isolate for a short TTL
 * (`API_KEY_CACHE_TTL_MS`), so a client under load costs no D1 read per request:
 * - Only lookups that authenticated are kept; a key refused for any reason (unknown, revoked,
 *   expired, account not active) is read again on its next use.
 * - Every use re-checks the kept row against the clock: a key's expiry and the end of a suspension
 *   are exact, cache or not.
 * - Revoking a key (ApiKeyService.revoke) forgets it in the revoking isolate at once, and an admin
 *   action on an account (AdminUsersService) forgets that account's kept keys in its isolate;
 *   other isolates see either within the TTL. A lookup that started before the revocation is not
 *   kept (generation counter), so it cannot bring the key back.
 * - Only rows are kept, never a pending lookup: concurrent first uses of one key each read D1,
 *   because a request awaiting a lookup another request started would wait on work that workerd
 *   cancels when that request ends. At most `API_KEY_CACHE_MAX` keys are kept.
 * - Off by default under ENVIRONMENT=test, where tests move instants and statuses in D1 directly
 *   and expect the next request to see them; the cache's own tests turn it on (`apiKeyCache.ttlMs`).
 */
import { and, eq } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { apiKeys, sessions, subscriptions, users } from '../../db/schema'
import { sha256Hex } from '../../lib/crypto'
import { Unauthorized } from '../../lib/errors'
import { verifyAccessToken, type JwtSettings } from '../../lib/jwt'
import { assertAccountActive } from './account-status'
import type { Principal, Role } from '../../lib/principal'

export type Credential = { kind: 'jwt'; token: string } | { kind: 'api_key'; key: string }

export const API_KEY_PATTERN = /^(sk|pk)_(live|test)_[A-Za-z0-9]{24,64}$/
/** `lastUsed` is written at most once a minute per key, off the response path. */
const LAST_USED_RESOLUTION_MS = 60_000

/** How long an isolate keeps an accepted API-key lookup: the longest another isolate serves a revoked key. */
export const API_KEY_CACHE_TTL_MS = 10_000
export const API_KEY_CACHE_MAX = 5_000

interface KeyRow {
  id: string
  userId: string
  projectId: string | null
  rateLimit: number | null
  plan: string | null
  permissions: string[]
  mode: 'live' | 'test'
  expiresAt: Date | null
  revokedAt: Date | null
  lastUsedAt: Date | null
  email: string
  role: string
  status: 'active' | 'suspended' | 'banned' | 'inactive'
  statusReason: string | null
  suspendedUntil: Date | null
}

interface CacheEntry {
  at: number
  row: KeyRow
}

/** The per-isolate API-key cache (see the module comment). Holds key hashes and account rows, never keys or env. */
export const apiKeyCache = {
  /** null: the default for the environment (API_KEY_CACHE_TTL_MS; 0 under ENVIRONMENT=test). */
  ttlMs: null as number | null,
  entries: new Map<string, CacheEntry>(),
  /** Bumped by every forget: a lookup that started before it is not kept. */
  generation: 0,
  ttlFor(environment: string): number {
    return this.ttlMs ?? (environment === 'test' ? 0 : API_KEY_CACHE_TTL_MS)
  },
  /** Forgets the kept lookups of this key id, or of every key of this account. */
  forget(match: { keyId?: string; userId?: string }): void {
    this.generation += 1
    for (const [hash, e] of this.entries) {
      if (e.row.id === match.keyId || e.row.userId === match.userId) this.entries.delete(hash)
    }
  },
  clear(): void {
    this.generation += 1
    this.entries.clear()
  },
}

export class AuthnService {
  constructor(
    private readonly db: Db,
    private readonly jwt: JwtSettings,
    private readonly defer: (p: Promise<unknown>) => void,
  ) {}

  /** `cacheTtlMs`: how long an accepted API-key lookup may be reused in this isolate (0: never). */
  resolve(cred: Credential, opts: { cacheTtlMs?: number } = {}): Promise<Principal> {
    return cred.kind === 'jwt' ? this.fromJwt(cred.token) : this.fromApiKey(cred.key, opts.cacheTtlMs ?? 0)
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
        plan: subscriptions.plan,
      })
      .from(users)
      .leftJoin(sessions, eq(sessions.id, claims.sid))
      .leftJoin(subscriptions, and(eq(subscriptions.userId, users.id), eq(subscriptions.status, 'active')))
      .where(eq(users.id, claims.sub))
      .get()
    if (!row || row.sessionUserId !== row.id || row.sessionRevokedAt) {
      throw new Unauthorized('INVALID_TOKEN', 'Access token is no longer valid')
    }
    assertAccountActive(row)
    return { userId: row.id, email: row.email, role: row.role as Role, via: 'jwt', sessionId: claims.sid, permissions: ['*'], plan: row.plan }
  }

  private async fromApiKey(key: string, cacheTtlMs: number): Promise<Principal> {
    if (!API_KEY_PATTERN.test(key)) throw new Unauthorized('INVALID_API_KEY', 'API key is invalid or revoked')
    const hash = await sha256Hex(key)
    const row = await this.keyRow(hash, cacheTtlMs)
    const now = Date.now()
    try {
      if (!row || row.revokedAt) throw new Unauthorized('INVALID_API_KEY', 'API key is invalid or revoked')
      if (row.expiresAt && row.expiresAt.getTime() <= now) throw new Unauthorized('API_KEY_EXPIRED', 'API key has expired')
      assertAccountActive(row, now)
    } catch (e) {
      // Refused: never served from the cache; the next use reads D1 again.
      apiKeyCache.entries.delete(hash)
      throw e
    }
    if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      // The kept row takes the new instant too, so a cached key is not rewritten on every request.
      row.lastUsedAt = new Date(now)
      this.defer(
        this.db
          .update(apiKeys)
          .set({ lastUsedAt: new Date(now) })
          .where(and(eq(apiKeys.id, row.id)))
          .run(),
      )
    }
    const base = { userId: row.userId, email: row.email, role: row.role as Role, apiKeyId: row.id, apiKeyMode: row.mode, permissions: row.permissions, plan: row.plan }
    // A project key is bound to its project (pk_ keys only ever have a project; sk_ keys never).
    if (row.projectId) return { ...base, via: 'project_key', projectId: row.projectId, keyRateLimit: row.rateLimit }
    return { ...base, via: 'api_key' }
  }

  /** The key's row, from this isolate's cache when a lookup of it is younger than `ttlMs`. */
  private async keyRow(hash: string, ttlMs: number): Promise<KeyRow | undefined> {
    const cache = apiKeyCache
    if (ttlMs > 0) {
      const hit = cache.entries.get(hash)
      if (hit && Date.now() - hit.at < ttlMs) return hit.row
    }
    const generation = cache.generation
    const at = Date.now()
    const row = await this.db
      .select({
        id: apiKeys.id,
        userId: apiKeys.userId,
        projectId: apiKeys.projectId,
        rateLimit: apiKeys.rateLimit,
        plan: subscriptions.plan,
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
      .leftJoin(subscriptions, and(eq(subscriptions.userId, apiKeys.userId), eq(subscriptions.status, 'active')))
      .where(eq(apiKeys.keyHash, hash))
      .get()
    // Not kept: nothing found, or a revocation (a forget) happened while it ran.
    if (ttlMs > 0 && row && cache.generation === generation) {
      cache.entries.set(hash, { at, row })
      while (cache.entries.size > API_KEY_CACHE_MAX) cache.entries.delete(cache.entries.keys().next().value!)
    }
    return row
  }
}
