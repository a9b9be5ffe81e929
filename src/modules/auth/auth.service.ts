/**
 * Accounts and sessions: register, login, refresh, logout, profile, email verification and
 * password reset.
 *
 * Invariants:
 * - A refresh token is exchanged at most once. Presenting a used one (a stolen copy, or a race)
 *   revokes its whole session (the token family), and the access tokens of that session with it.
 * - Mailed tokens (verify, reset) are stored hashed, expire, and are consumed in the same D1 batch
 *   as the change they authorise, so a second use changes nothing.
 * - Login failures say INVALID_CREDENTIALS whatever was wrong, and cost the same PBKDF2 work.
 */
import { and, eq, gt, inArray, isNull, sql } from 'drizzle-orm'
import type { Config } from '../../env'
import type { Db } from '../../db/client'
import { authTokens, refreshTokens, sessions, users, type User } from '../../db/schema'
import { DUMMY_PASSWORD_HASH, hashPassword, sha256Hex, verifyPassword } from '../../lib/crypto'
import { AppError, Conflict, Forbidden, NotFound, Unauthorized, ValidationError } from '../../lib/errors'
import { newId, randomSecret } from '../../lib/ids'
import { signAccessToken, type JwtSettings } from '../../lib/jwt'
import type { Mailer } from '../../providers/mailer/mailer'
import { assertAccountActive } from './account-status'
import type { Principal } from '../../lib/principal'

const VERIFY_TTL_MS = 48 * 3600_000
const RESET_TTL_MS = 3600_000
const SHORT_SESSION_DAYS = 1

export interface ClientInfo {
  ip: string | null
  userAgent: string | null
  deviceInfo?: Record<string, unknown>
}

export interface RegisterInput {
  email: string
  password: string
  firstName: string
  lastName: string
  company?: string
  phone?: string
  timezone?: string
  marketingConsent?: boolean
}

export interface IssuedTokens {
  accessToken: string
  refreshToken: string
  expiresIn: number
  sessionId: string
}

export class AuthService {
  constructor(
    private readonly db: Db,
    private readonly config: Config,
    private readonly jwt: JwtSettings,
    private readonly mailer: Mailer,
  ) {}

  async register(input: RegisterInput, client: ClientInfo) {
    const now = new Date()
    const userId = newId('usr')
    const passwordHash = await hashPassword(input.password)
    const session = this.newSession(userId, client, this.config.REFRESH_TOKEN_TTL_DAYS, now)
    const verifyToken = randomSecret(32)
    try {
      await this.db.batch([
        this.db.insert(users).values({
          id: userId,
          email: input.email,
          passwordHash,
          firstName: input.firstName,
          lastName: input.lastName,
          company: input.company ?? null,
          phone: input.phone ?? null,
          timezone: input.timezone ?? 'UTC',
          marketingConsent: input.marketingConsent ?? false,
          lastLoginAt: now,
          createdAt: now,
          updatedAt: now,
        }),
        this.db.insert(sessions).values(session.session),
        this.db.insert(refreshTokens).values(await session.refreshRow()),
        this.db.insert(authTokens).values({
          id: newId('atk'),
          userId,
          kind: 'verify_email',
          tokenHash: await sha256Hex(verifyToken),
          expiresAt: new Date(now.getTime() + VERIFY_TTL_MS),
        }),
      ])
    } catch (e) {
      if (String((e as Error).message + (e as Error).cause).includes('UNIQUE constraint failed: users.email')) {
        throw new Conflict('EMAIL_ALREADY_EXISTS', 'An account with this email already exists', { field: 'email' })
      }
      throw e
    }
    await this.mailer.send({
      to: input.email,
      userId,
      kind: 'verify_email',
      subject: 'Verify your email address',
      text: `Welcome to Switchboard. Confirm your email address:\n${this.config.appUrl}/verify-email?token=${verifyToken}\n\nThe link expires in 48 hours.`,
    })
    const user = await this.getUser(userId)
    return { user, tokens: await this.issue(user, session.session.id, session.refreshToken) }
  }

  async login(email: string, password: string, rememberMe: boolean | undefined, client: ClientInfo) {
    const user = await this.db.select().from(users).where(eq(users.email, email)).get()
    const valid = await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH)
    if (!user || !valid) throw new Unauthorized('INVALID_CREDENTIALS', 'Invalid email or password')
    assertAccountActive(user)
    const now = new Date()
    const days = rememberMe === false ? SHORT_SESSION_DAYS : this.config.REFRESH_TOKEN_TTL_DAYS
    const session = this.newSession(user.id, client, days, now)
    await this.db.batch([
      this.db.insert(sessions).values(session.session),
      this.db.insert(refreshTokens).values(await session.refreshRow()),
      this.db.update(users).set({ lastLoginAt: now }).where(eq(users.id, user.id)),
    ])
    const fresh = { ...user, lastLoginAt: now }
    return { user: fresh, tokens: await this.issue(fresh, session.session.id, session.refreshToken) }
  }

  /** Exchanges a refresh token for a new pair. A token presented twice revokes its session. */
  async refresh(presented: string) {
    const now = new Date()
    const row = await this.db
      .select({ token: refreshTokens, session: sessions })
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .where(eq(refreshTokens.tokenHash, await sha256Hex(presented)))
      .get()
    if (!row || row.session.revokedAt) throw new Unauthorized('INVALID_TOKEN', 'Refresh token is invalid or revoked')
    if (row.token.usedAt) {
      await this.revokeSession(row.session.id, 'refresh_token_reuse', now)
      throw new Unauthorized('INVALID_TOKEN', 'Refresh token was already used; the session has been revoked')
    }
    if (row.token.expiresAt <= now || row.session.expiresAt <= now) {
      throw new Unauthorized('TOKEN_EXPIRED', 'Refresh token has expired')
    }
    const user = await this.getUser(row.token.userId)
    assertAccountActive(user)

    const nextToken = `rt_${randomSecret(32)}`
    const nextId = newId('rtk')
    const [claimed] = await this.db.batch([
      // Claim the presented token; only one concurrent exchange can change this row.
      this.db
        .update(refreshTokens)
        .set({ usedAt: now, replacedBy: nextId })
        .where(and(eq(refreshTokens.id, row.token.id), isNull(refreshTokens.usedAt))),
      // Insert the successor only if this exchange was the one that claimed it. Columns in table
      // order: id, session_id, user_id, token_hash, expires_at, used_at, replaced_by, created_at.
      this.db.insert(refreshTokens).select(
        sql`SELECT ${nextId}, ${row.session.id}, ${user.id}, ${await sha256Hex(nextToken)}, ${row.session.expiresAt.getTime()}, NULL, NULL, ${now.getTime()}
        WHERE (SELECT replaced_by FROM refresh_tokens WHERE id = ${row.token.id}) = ${nextId}`,
      ),
      this.db.update(sessions).set({ lastUsedAt: now }).where(eq(sessions.id, row.session.id)),
    ])
    if (claimed.meta.changes !== 1) {
      await this.revokeSession(row.session.id, 'refresh_token_reuse', now)
      throw new Unauthorized('INVALID_TOKEN', 'Refresh token was already used; the session has been revoked')
    }
    return this.issue(user, row.session.id, nextToken)
  }

  /**
   * Ends sessions. With `allDevices`, every session of the caller; with a refresh token, that
   * token's session; otherwise the session of the access token used.
   */
  async logout(principal: Principal | undefined, refreshToken: string | undefined, allDevices: boolean) {
    const now = new Date()
    if (allDevices) {
      if (!principal) throw new Unauthorized('UNAUTHORIZED', 'Logging out of all devices needs an access token')
      // An API key (perhaps scoped to one permission) must not end its owner's logins.
      if (principal.via !== 'jwt') throw new Forbidden('Logging out of all devices needs a user session, not an API key')
      const res = await this.db
        .update(sessions)
        .set({ revokedAt: now, revokeReason: 'logout_all' })
        .where(and(eq(sessions.userId, principal.userId), isNull(sessions.revokedAt)))
        .run()
      return { sessionsRevoked: res.meta.changes }
    }
    let sessionId = principal?.sessionId
    if (refreshToken) {
      const row = await this.db
        .select({ sessionId: refreshTokens.sessionId, userId: refreshTokens.userId })
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, await sha256Hex(refreshToken)))
        .get()
      if (!row || (principal && row.userId !== principal.userId)) {
        throw new Unauthorized('INVALID_TOKEN', 'Refresh token is invalid')
      }
      sessionId = row.sessionId
    }
    if (!sessionId) throw new Unauthorized('UNAUTHORIZED', 'Send an access token or a refresh token to log out')
    return { sessionsRevoked: await this.revokeSession(sessionId, 'logout', now) }
  }

  async getUser(id: string): Promise<User> {
    const user = await this.db.select().from(users).where(eq(users.id, id)).get()
    if (!user) throw new NotFound('User')
    return user
  }

  /** Always answers the same way, whether or not the address has an account. */
  async forgotPassword(email: string, resetUrl: string | undefined) {
    const target = this.checkedLink(resetUrl, '/reset-password')
    const user = await this.db.select().from(users).where(eq(users.email, email)).get()
    if (!user || user.status === 'banned') return
    const token = randomSecret(32)
    const now = new Date()
    await this.db.batch([
      // A new link supersedes any earlier unused one.
      this.db
        .update(authTokens)
        .set({ usedAt: now })
        .where(and(eq(authTokens.userId, user.id), eq(authTokens.kind, 'password_reset'), isNull(authTokens.usedAt))),
      this.db.insert(authTokens).values({
        id: newId('atk'),
        userId: user.id,
        kind: 'password_reset',
        tokenHash: await sha256Hex(token),
        expiresAt: new Date(now.getTime() + RESET_TTL_MS),
      }),
    ])
    target.searchParams.set('token', token)
    await this.mailer.send({
      to: user.email,
      userId: user.id,
      kind: 'password_reset',
      subject: 'Reset your password',
      text: `Someone asked to reset the password of your Switchboard account.\n${target.toString()}\n\nThe link expires in 1 hour and works once. If this was not you, ignore this mail.`,
    })
  }

  /** Consumes the token, sets the password, ends every session — in one batch. */
  async resetPassword(token: string, newPassword: string) {
    const now = new Date()
    const usable = this.usableToken('password_reset', await sha256Hex(token), now)
    const owner = this.db.select({ id: authTokens.userId }).from(authTokens).where(usable)
    const passwordHash = await hashPassword(newPassword)
    const results = await this.db.batch([
      this.db.update(users).set({ passwordHash, emailVerified: true, updatedAt: now }).where(inArray(users.id, owner)),
      this.db
        .update(sessions)
        .set({ revokedAt: now, revokeReason: 'password_reset' })
        .where(and(inArray(sessions.userId, owner), isNull(sessions.revokedAt))),
      this.db.update(authTokens).set({ usedAt: now }).where(usable),
    ])
    if (results[2].meta.changes !== 1) throw ValidationError.field('token', 'Reset token is invalid, expired or already used')
  }

  async verifyEmail(token: string) {
    const now = new Date()
    const usable = this.usableToken('verify_email', await sha256Hex(token), now)
    const owner = this.db.select({ id: authTokens.userId }).from(authTokens).where(usable)
    const results = await this.db.batch([
      this.db.update(users).set({ emailVerified: true, updatedAt: now }).where(inArray(users.id, owner)),
      this.db.update(authTokens).set({ usedAt: now }).where(usable),
    ])
    if (results[1].meta.changes !== 1) throw ValidationError.field('token', 'Verification token is invalid, expired or already used')
  }

  // ---- helpers ---------------------------------------------------------------------------

  /** An unused, unexpired mailed token of `kind`. */
  private usableToken(kind: 'verify_email' | 'password_reset', hash: string, now: Date) {
    return and(eq(authTokens.tokenHash, hash), eq(authTokens.kind, kind), isNull(authTokens.usedAt), gt(authTokens.expiresAt, now))
  }

  private newSession(userId: string, client: ClientInfo, days: number, now: Date) {
    const session = {
      id: newId('ses'),
      userId,
      ip: client.ip,
      userAgent: client.userAgent?.slice(0, 512) ?? null,
      deviceInfo: client.deviceInfo ?? null,
      expiresAt: new Date(now.getTime() + days * 86_400_000),
      lastUsedAt: now,
      createdAt: now,
    }
    const refreshToken = `rt_${randomSecret(32)}`
    return {
      session,
      refreshToken,
      refreshRow: async () => ({
        id: newId('rtk'),
        sessionId: session.id,
        userId,
        tokenHash: await sha256Hex(refreshToken),
        expiresAt: session.expiresAt,
        createdAt: now,
      }),
    }
  }

  private async issue(user: User, sessionId: string, refreshToken: string): Promise<IssuedTokens> {
    const accessToken = await signAccessToken(this.jwt, { sub: user.id, sid: sessionId, role: user.role })
    return { accessToken, refreshToken, expiresIn: this.jwt.ttlSeconds, sessionId }
  }

  private async revokeSession(id: string, reason: string, now: Date): Promise<number> {
    const res = await this.db
      .update(sessions)
      .set({ revokedAt: now, revokeReason: reason })
      .where(and(eq(sessions.id, id), isNull(sessions.revokedAt)))
      .run()
    return res.meta.changes
  }

  /** Links we mail must point at our own app: a caller-chosen host would turn mail into phishing. */
  private checkedLink(link: string | undefined, defaultPath: string): URL {
    const allowed = new Set([new URL(this.config.APP_URL).origin, ...this.config.corsOrigins.map((o) => new URL(o).origin)])
    let url: URL
    try {
      url = new URL(link ?? `${this.config.appUrl}${defaultPath}`)
    } catch {
      throw ValidationError.field('resetUrl', 'resetUrl must be an absolute URL')
    }
    if (!allowed.has(url.origin)) {
      throw new AppError(400, 'VALIDATION_ERROR', 'resetUrl must be on an allowed origin', [{ field: 'resetUrl', message: `Allowed origins: ${[...allowed].join(', ')}` }], 'resetUrl')
    }
    return url
  }
}
