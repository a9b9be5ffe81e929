import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ReservationIdParam, ReservationView } from './schemas'
import { reservationView } from './views'

const route = createRoute({
  method: 'get',
  path: '/api/v1/numbers/reservations/{id}',
  operationId: 'getReservation',
  tags: ['numbers'],
  summary: 'One reservation',
  description: "By the reservation id or one of its numbers' ids; every number with its state (reserved, expired, released, purchased).",
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:read' })] as const,
  security: keySecurity,
  request: { params: ReservationIdParam },
  responses: { 200: ok(ReservationView, 'The reservation'), ...errorResponses },
})

export const registerGetReservation = (r: Router) =>
  r.openapi(route, async (c) => {
    const v = await c.var.services.reservations.get(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, reservationView(v)), 200)
  })
