import type { MiddlewareHandler } from 'hono'
import { newId } from '../lib/ids'
import type { AppEnv } from './router'

const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/

/** A sane incoming `X-Request-Id`, else a new one. */
export function chooseRequestId(incoming: string | undefined): string {
  return incoming && ACCEPTABLE.test(incoming) ? incoming : newId('req')
}

/** Honours a sane incoming `X-Request-Id`, else makes one; echoes it and puts it in every `meta`. */
export const requestId: MiddlewareHandler<AppEnv> = async (c, next) => {
  const id = chooseRequestId(c.req.header('x-request-id'))
  c.set('requestId', id)
  c.header('X-Request-Id', id)
  await next()
}
