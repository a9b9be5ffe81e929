import { createRoute } from '@hono/zod-openapi'
import { envelope, errorResponses, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ReservationIdParam, ReservationView } from './schemas'
import { reservationView } from './views'

const route = createRoute({
  method: 'delete',
  path: '/api/v1/numbers/reservations/{id}',
  operationId: 'releaseReservation',
  tags: ['numbers'],
  summary: 'Release a reservation',
  description: 'Lets every still-held number of the reservation (or just the one named) go now. Idempotent: what is no longer held stays as it is.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { params: ReservationIdParam },
  responses: { 200: ok(ReservationView, 'The reservation'), ...errorResponses },
})

export const registerReleaseReservation = (r: Router) =>
  r.openapi(route, async (c) => {
    const v = await c.var.services.reservations.release(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, reservationView(v)), 200)
  })
