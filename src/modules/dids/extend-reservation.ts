import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { ReservationIdParam, ReservationView } from './schemas'
import { reservationView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/numbers/reservations/{id}/extend',
  operationId: 'extendReservation',
  tags: ['numbers'],
  summary: 'Extend a reservation',
  description:
    'Every still-held number of the reservation (or just the number whose id is given) is held for another 30 minutes from now. ' +
    'A number can be extended `RESERVATION_MAX_EXTENSIONS` times (default 4), also across a new reservation of it; numbers ' +
    'that have used theirs keep their expiry and show `error: RESERVATION_EXTENSION_LIMIT`, and when none is left to extend the ' +
    'answer is 409 RESERVATION_EXTENSION_LIMIT. The wallet must still cover buying every number the account holds (else 400 ' +
    'INSUFFICIENT_BALANCE). An expired, released or purchased reservation answers 409 RESERVATION_NOT_ACTIVE.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { params: ReservationIdParam },
  responses: { 200: ok(ReservationView, 'The reservation'), ...errorResponses, 409: err('Nothing left to extend (`RESERVATION_NOT_ACTIVE`, `RESERVATION_EXTENSION_LIMIT`)') },
})

export const registerExtendReservation = (r: Router) =>
  r.openapi(route, async (c) => {
    const v = await c.var.services.reservations.extend(contextOf(c), c.req.valid('param').id)
    return c.json(envelope(c, reservationView(v)), 200)
  })
