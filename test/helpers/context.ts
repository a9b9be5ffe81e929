import { systemContext, type RequestContext } from '../../src/lib/context'

/** A request context for `accountId`, for tests that call a service verb directly. */
export function ctxFor(accountId: string): RequestContext {
  return systemContext('test', accountId, `req_test_${accountId}`)
}
