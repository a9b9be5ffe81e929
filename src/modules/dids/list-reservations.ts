import { createRoute, z } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ReservationView } from './schemas'
import { reservationView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/numbers/reservations',
  operationId: 'listReservations',
  tags: ['numbers'],
  summary: 'Your active reservations',
  description: 'Reservations that still hold at least one number, newest first, each with its still-held numbers (at most 200 numbers).',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:read' })] as const,
  security: keySecurity,
  responses: { 200: ok(z.array(ReservationView), 'Reservations'), ...errorResponses },
})

export const registerListReservations = (r: Router) =>
  r.openapi(route, async (c) => {
    const list = await c.var.services.reservations.list(contextOf(c))
    return c.json(envelope(c, list.map(reservationView)), 200)
  })
