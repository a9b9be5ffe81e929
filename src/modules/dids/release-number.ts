import { createRoute } from '@hono/zod-openapi'
import { AppError } from '../../lib/errors'
import { envelope, err, errorResponses, ok, keySecurity } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { NumberIdParam, ReleaseNumberBody, UserNumber } from './schemas'
import { numberWithUsageView } from './views'

const route = createRoute({
  method: 'delete',
  path: '/api/v1/numbers/{id}',
  operationId: 'releaseNumber',
  tags: ['numbers'],
  summary: 'Release a number (now or at a date)',
  description:
    'The body (ReleaseNumberRequest) is optional. A `releaseDate` in the future schedules the release (`scheduledReleaseAt`; ' +
    'the per-minute sweeper releases it then); otherwise the number is released now: upstream first, then `status: released`, ' +
    'a NUMBER_RELEASED event, and the number is free for others. Releasing a released number answers it unchanged. `transferTo` is not ' +
    'supported (400 TRANSFER_NOT_SUPPORTED). An upstream failure is a 502 and changes nothing.',
  middleware: [rateClass('general'), requireAuth({ permission: 'numbers:write' })] as const,
  security: keySecurity,
  request: { params: NumberIdParam, body: { content: { 'application/json': { schema: ReleaseNumberBody } }, required: false } },
  responses: {
    200: ok(UserNumber, 'The number, released or scheduled'),
    ...errorResponses,
    400: err('Invalid input (`VALIDATION_ERROR`) or `TRANSFER_NOT_SUPPORTED`'),
    415: err('A body that is not JSON (`UNSUPPORTED_MEDIA_TYPE`): nothing is released'),
    502: err('The provider refused the release (`UPSTREAM_ERROR`)'),
  },
})

export const registerReleaseNumber = (r: Router) =>
  r.openapi(route, async (c) => {
    // The body is optional, so a non-JSON one would be skipped — and a scheduled release become an immediate one.
    const length = Number(c.req.header('content-length') ?? '0')
    if ((length > 0 || c.req.header('transfer-encoding')) && !/^application\/(.+\+)?json\b/i.test(c.req.header('content-type') ?? '')) {
      throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON with Content-Type: application/json')
    }
    const n = await c.var.services.dids.release(contextOf(c), c.req.valid('param').id, c.req.valid('json') ?? {})
    return c.json(envelope(c, numberWithUsageView(n)), 200)
  })
