import { createRoute } from '@hono/zod-openapi'
import { envelope, err, errorResponses, jsonBody, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { CreateReservationBody, ReservationView } from './schemas'
import { reservationView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/numbers/reservations',
  operationId: 'createReservation',
  tags: ['numbers'],
  summary: 'Reserve numbers for 30 minutes',
  description:
    'Each number of the inventory is held for this account for 30 minutes. Other accounts can neither reserve nor buy it ' +
    'meanwhile (and no longer find it in search); this account can buy it. The answer lists every number (`reserved` or `failed`); ' +
    'the reservation id covers them all, and each reserved number has its own id (`<reservation id>.<n>`) — extend and release ' +
    'take either. Nothing reservable: 409 NUMBER_NOT_AVAILABLE.\n\n' +
    'Limits: an account holds at most `RESERVATION_MAX_NUMBERS` reserved numbers at a time (default 50; more is 409 ' +
    'RESERVATION_LIMIT_REACHED), and only while its wallet could buy every number it would hold (setup plus first month; less is ' +
    '400 INSUFFICIENT_BALANCE). Reserving a number the account already holds moves it into the new reservation without counting twice.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { body: jsonBody(CreateReservationBody) },
  responses: {
    201: ok(ReservationView, 'The reservation'),
    ...errorResponses,
    409: err('No number could be reserved (`NUMBER_NOT_AVAILABLE`), or the account holds as many as it may (`RESERVATION_LIMIT_REACHED`)'),
  },
})

export const registerCreateReservation = (r: Router) =>
  r.openapi(route, async (c) => {
    const v = await c.var.services.reservations.create(contextOf(c), c.req.valid('json').phoneNumbers)
    return c.json(envelope(c, reservationView(v)), 201)
  })
