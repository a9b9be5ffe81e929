/**
 * Access tokens: HS256 only (pinned), `iss`, `aud`, `exp`, `iat`, `sub` required. Anything else —
 * `alg: none`, another algorithm, a missing claim, a wrong signature — is INVALID_TOKEN; an expired
 * one is TOKEN_EXPIRED.
 */
import { errors, jwtVerify, SignJWT } from 'jose'
import { Unauthorized } from './errors'

export interface AccessClaims {
  sub: string
  sid: string
  role: string
  iat: number
  exp: number
}

export interface JwtSettings {
  secret: string
  issuer: string
  audience: string
  ttlSeconds: number
}

const keys = new Map<string, Uint8Array>()
function keyOf(secret: string): Uint8Array {
  let key = keys.get(secret)
  if (!key) {
    key = new TextEncoder().encode(secret)
    keys.set(secret, key)
  }
  return key
}

export async function signAccessToken(s: JwtSettings, claims: { sub: string; sid: string; role: string }, now = Date.now()) {
  const iat = Math.floor(now / 1000)
  return new SignJWT({ sid: claims.sid, role: claims.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(s.issuer)
    .setAudience(s.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + s.ttlSeconds)
    .sign(keyOf(s.secret))
}

export async function verifyAccessToken(s: JwtSettings, token: string): Promise<AccessClaims> {
  try {
    const { payload } = await jwtVerify(token, keyOf(s.secret), {
      algorithms: ['HS256'],
      issuer: s.issuer,
      audience: s.audience,
      requiredClaims: ['exp', 'iat', 'sub', 'iss', 'aud'],
    })
    if (typeof payload.sid !== 'string' || typeof payload.role !== 'string') throw new Error('claims')
    return payload as unknown as AccessClaims
  } catch (e) {
    if (e instanceof errors.JWTExpired) throw new Unauthorized('TOKEN_EXPIRED', 'Access token has expired')
    throw new Unauthorized('INVALID_TOKEN', 'Access token is invalid')
  }
}
