import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../lib/router'
import { principalOf, requireAuth } from '../../middleware/authenticate'
import { reservationsOf } from './deps'
import { CreateReservationBody, ReservationView } from './schemas'

const route = createRoute({
  method: 'post',
  path: '/api/v1/numbers/reservations',
  tags: ['numbers'],
  summary: 'Reserve numbers for 30 minutes',
  description:
    'Like Telnyx\'s number reservations: each number of the inventory is held for this account for 30 minutes. Other accounts can ' +
    'neither reserve nor buy it meanwhile (and no longer find it in search); this account can buy it. The answer lists every number ' +
    '(`reserved` or `failed`); the reservation id covers them all, and each reserved number has its own id (`<reservation id>.<n>`) — ' +
    'extend and release take either. Nothing reservable: 409 NUMBER_NOT_AVAILABLE.',
  middleware: [requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(CreateReservationBody) },
  responses: { 201: ok(ReservationView, 'The reservation'), ...errorResponses, 409: err('No number could be reserved (`NUMBER_NOT_AVAILABLE`)') },
})

export const registerCreateReservation = (r: Router) =>
  r.openapi(route, async (c) => {
    const v = await reservationsOf(c.var.services).create(principalOf(c).userId, c.req.valid('json').phoneNumbers)
    return c.json(envelope(c, v), 201)
  })
