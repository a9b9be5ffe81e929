import { z } from '@hono/zod-openapi'
import type { ApiKey } from '../../db/schema'
import { iso } from '../../lib/time'
import { Instant } from '../../lib/http'

export const ApiKeyView = z
  .object({
    id: z.string().openapi({ example: 'key_01jd6q0000a1b2c3d4e5f6g7h8' }),
    name: z.string(),
    description: z.string().nullable(),
    keyPrefix: z.string().openapi({ example: 'sk_live_Ab12Cd34', description: "The key's type prefix and first 8 secret characters" }),
    mode: z.enum(['live', 'test']),
    permissions: z.array(z.string()),
    expiresAt: Instant.nullable(),
    lastUsed: Instant.nullable().openapi({ description: 'Last use, to the minute' }),
    isActive: z.boolean().openapi({ description: 'Neither revoked nor expired' }),
    revokedAt: Instant.nullable(),
    createdAt: Instant,
  })
  .openapi('ApiKey')

export const CreatedApiKey = ApiKeyView.extend({
  key: z.string().openapi({ description: 'The plain key. Shown only in this answer: store it now.' }),
}).openapi('CreatedApiKey')

export function apiKeyView(k: ApiKey, now = Date.now()): z.infer<typeof ApiKeyView> {
  return {
    id: k.id,
    name: k.name,
    description: k.description,
    keyPrefix: k.keyPrefix,
    mode: k.mode,
    permissions: k.permissions,
    expiresAt: iso(k.expiresAt),
    lastUsed: iso(k.lastUsedAt),
    isActive: !k.revokedAt && (!k.expiresAt || k.expiresAt.getTime() > now),
    revokedAt: iso(k.revokedAt),
    createdAt: iso(k.createdAt)!,
  }
}

export const KeyIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, description: 'The API key id' }),
})
