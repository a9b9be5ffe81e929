/**
 * `GET|POST /stubs/handler_api.php`: the sms-activate protocol, so activation software written for
 * it works against us by changing its base URL. `action` and `api_key` (one of our API keys) come
 * as query or form-encoded parameters; answers are the protocol's plain-text words (JSON for the
 * JSON actions), always HTTP 200 except a rate-limit refusal (429, with Retry-After). Nothing on
 * this path answers the JSON envelope, an HTML page or a 5xx: `handlerApiError` (also called by
 * the app's onError for the middleware that runs before the route) turns every error into a word.
 *
 * The route counts in the `general` class like the public v1 reads; the buying actions count in
 * the `purchase` class too, per account, as `POST /api/v1/numbers` does.
 */
import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { AppEnv, Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { readCredential } from '../../http/authenticate'
import { countIn } from '../../http/rate-limit'
import { AppError, Forbidden } from '../../lib/errors'
import { callerContext, type RequestContext } from '../../lib/context'
import { logger } from '../../lib/logger'
import { toMicros } from '../../lib/money'
import { can, type Permission, type Principal } from '../../lib/principal'
import { PROTOCOL_COUNTRIES } from '../../providers/numbers/protocol-codes'
import { apiKeyCache } from '../auth/authn.service'
import { clientIp } from '../auth/client-info'
import { CURRENCY_USD, Refusal, SERVER_ERROR, balance, banUntil, costNumber, digits, instant, wordOf } from './protocol'
import { protocolCodes } from './sms-activate.service'

export const HANDLER_API_PATH = '/stubs/handler_api.php'

type Params = Record<string, string | undefined>
type Answer = string | Record<string, unknown>

interface Action {
  /** Any one of these permissions lets a key call the action. */
  anyOf: Permission[]
  /** Buys: counted in the purchase class as well. */
  buys?: boolean
  run: (c: Context<AppEnv>, ctx: RequestContext, p: Params) => Promise<Answer>
}

const READ: Permission[] = ['numbers:read', 'numbers:write']
const WRITE: Permission[] = ['numbers:write']

const ACTIONS: Record<string, Action> = {
  getBalance: { anyOf: ['wallet:read', 'numbers:write'], run: async (c, ctx) => `ACCESS_BALANCE:${balance(await c.var.services.smsActivate.balance(ctx))}` },
  // No cashback account here: the same balance.
  getBalanceAndCashBack: { anyOf: ['wallet:read', 'numbers:write'], run: async (c, ctx) => `ACCESS_BALANCE:${balance(await c.var.services.smsActivate.balance(ctx))}` },
  getNumber: {
    anyOf: WRITE,
    buys: true,
    run: async (c, ctx, p) => {
      const { record, alias } = await c.var.services.smsActivate.buy(ctx, buyInput(p))
      return `ACCESS_NUMBER:${alias}:${digits(record.phone)}`
    },
  },
  getNumberV2: {
    anyOf: WRITE,
    buys: true,
    run: async (c, ctx, p) => {
      const { record, alias, countryId } = await c.var.services.smsActivate.buy(ctx, buyInput(p))
      return {
        activationId: alias,
        phoneNumber: digits(record.phone),
        activationCost: costNumber(record.price),
        currency: CURRENCY_USD,
        countryCode: countryId,
        canGetAnotherSms: '1',
        activationTime: instant(record.createdAt),
        // The upstream's operator is not known here.
        activationOperator: 'any',
      }
    },
  },
  getStatus: { anyOf: READ, run: (c, ctx, p) => c.var.services.smsActivate.status(ctx, p.id) },
  setStatus: { anyOf: WRITE, run: (c, ctx, p) => c.var.services.smsActivate.setStatus(ctx, p.id, p.status) },
  getActiveActivations: {
    anyOf: READ,
    run: async (c, ctx) => {
      const list = await c.var.services.smsActivate.active(ctx)
      if (!list.length) return 'NO_ACTIVATIONS'
      return {
        status: 'success',
        activeActivations: list.map(({ alias, record, code }) => {
          const codes = protocolCodes(record.countryCode, record.serviceCode)
          return {
            activationId: String(alias),
            serviceCode: codes.service ?? record.serviceCode,
            phoneNumber: digits(record.phone),
            activationCost: costNumber(record.price),
            smsCode: code ? [code] : null,
            activationTime: instant(record.createdAt),
            discount: '0.00',
            repeated: '0',
            countryCode: codes.countryId ?? '',
            countryName: codes.countryId ? PROTOCOL_COUNTRIES[codes.countryId]![1] : record.countryCode.toUpperCase(),
            canGetAnotherSms: '1',
            currency: CURRENCY_USD,
          }
        }),
      }
    },
  },
  getPrices: {
    anyOf: READ,
    run: async (c, _ctx, p) => {
      const table = await c.var.services.smsActivate.prices({ country: p.country, service: p.service })
      const out: Record<string, Record<string, { cost: number; count: number }>> = {}
      for (const [country, services] of Object.entries(table)) {
        out[country] = Object.fromEntries(Object.entries(services).map(([s, v]) => [s, { cost: costNumber(v.cost), count: v.count }]))
      }
      return out
    },
  },
  getNumbersStatus: {
    anyOf: READ,
    run: async (c, _ctx, p) => {
      const counts: Record<string, number> = {}
      for (const services of Object.values(await c.var.services.smsActivate.prices({ country: p.country }))) {
        for (const [s, v] of Object.entries(services)) counts[s] = (counts[s] ?? 0) + v.count
      }
      return counts
    },
  },
  getCountries: {
    anyOf: READ,
    run: async () => Object.fromEntries(Object.entries(PROTOCOL_COUNTRIES).map(([id, [, name]]) => [id, { id: Number(id), eng: name, visible: 1, retry: 1, rent: 0, multiService: 0 }])),
  },
}

function buyInput(p: Params) {
  let maxPrice: number | undefined
  if (p.maxPrice !== undefined && p.maxPrice !== '') {
    const n = Number(p.maxPrice)
    // An unreadable maximum is below every price.
    maxPrice = Number.isFinite(n) && n >= 0 ? toMicros(n) : 0
  }
  return { service: p.service, country: p.country, maxPrice, forward: p.forward === '1' }
}

/** The query and, for a form-encoded POST, the body's fields (the body wins). */
async function paramsOf(c: Context<AppEnv>): Promise<Params> {
  const params: Params = { ...c.req.query() }
  if (c.req.method === 'POST' && /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(c.req.header('content-type') ?? '')) {
    const body = await c.req.parseBody().catch(() => ({}))
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string') params[k] = v
  }
  return params
}

/** The caller behind `api_key`, or the protocol's refusal: BAD_KEY, BANNED[:until], ACCOUNT_INACTIVE. */
async function principalFor(c: Context<AppEnv>, key: string | undefined): Promise<Principal> {
  if (!key) throw new Refusal('BAD_KEY')
  let principal: Principal | undefined
  let refused: unknown
  const presented = readCredential(c)
  if (presented?.kind === 'api_key' && presented.key === key) {
    // The global authenticate middleware resolved this very key from the query.
    principal = c.get('principal')
    refused = c.get('authError')
  } else {
    const { authn, config } = c.var.services
    principal = await authn.resolve({ kind: 'api_key', key }, { cacheTtlMs: apiKeyCache.ttlFor(config.ENVIRONMENT) }).catch((e) => {
      refused = e
      return undefined
    })
  }
  if (refused instanceof Forbidden) {
    const d = (refused.details ?? {}) as { status?: string; until?: string | null }
    if (d.status === 'inactive') throw new Refusal('ACCOUNT_INACTIVE')
    throw d.status === 'suspended' && d.until ? new Refusal('BANNED', banUntil(new Date(d.until))) : new Refusal('BANNED')
  }
  if (refused && !(refused instanceof AppError)) throw refused
  if (principal?.via !== 'api_key') throw new Refusal('BAD_KEY')
  return principal
}

/** The protocol's answer to an error thrown on this path, by the route or by the middleware before it. */
export function handlerApiError(c: Context<AppEnv>, e: unknown): Response {
  if (e instanceof AppError && e.status === 429) {
    // The protocol has no word for a rate limit: the server-error word, with the status and Retry-After that say why.
    for (const [k, v] of Object.entries(e.headers ?? {})) c.header(k, v)
    return c.text(SERVER_ERROR, 429)
  }
  if (!(e instanceof Refusal) && !(e instanceof AppError)) {
    logger.error('handler_api: failed', { requestId: c.get('requestId'), error: (e as Error)?.message, stack: (e as Error)?.stack })
  }
  return c.text(wordOf(e), 200)
}

async function answer(c: Context<AppEnv>): Promise<Response> {
  const p = await paramsOf(c)
  const principal = await principalFor(c, p.api_key)
  const action = p.action && Object.hasOwn(ACTIONS, p.action) ? ACTIONS[p.action] : undefined
  if (!action) throw new Refusal('BAD_ACTION')
  if (!action.anyOf.some((perm) => can(principal, perm))) throw new Refusal('BAD_KEY')
  c.set('principal', principal)
  if (action.buys) {
    const refused = await countIn(c, ['purchase'])
    if (refused) throw refused
  }
  const out = await action.run(c, callerContext(principal, c.get('requestId'), clientIp(c)), p)
  return typeof out === 'string' ? c.text(out, 200) : c.json(out, 200)
}

const param = (description: string, example?: string) =>
  z
    .string()
    .optional()
    .openapi({ description, ...(example ? { example } : {}) })

const Query = z.object({
  action: param('getBalance, getBalanceAndCashBack, getNumber, getNumberV2, getStatus, setStatus, getActiveActivations, getPrices, getCountries, getNumbersStatus (else `BAD_ACTION`)', 'getBalance'),
  api_key: param('One of your API keys (`sk_live_…`); buying and setStatus need `numbers:write`, reads `numbers:read`, getBalance `wallet:read` or `numbers:write`'),
  service: param('The protocol’s service code (`tg` Telegram, `wa` WhatsApp, `go` Google …; README "Use your existing sms-activate client")', 'tg'),
  country: param('The protocol’s numeric country id (`187` USA, `16` United Kingdom, `43` Germany …)', '187'),
  maxPrice: param('getNumber: the most you pay, in USD (`1.25`); above the cheapest offer the answer is `WRONG_MAX_PRICE:{cheapest}`'),
  operator: param('getNumber: accepted and ignored (any operator)'),
  forward: param('getNumber: `1` asks for call forwarding, which no number has (`NO_NUMBERS`)'),
  id: param('getStatus, setStatus: the integer activation id that getNumber answered', '1'),
  status: param('setStatus: `1` ready, `3` another code, `6` complete, `8` cancel (`-1` too)', '6'),
})

const description =
  'The sms-activate `handler_api.php` protocol on top of the activation API, so existing activation software works by changing its base URL. ' +
  'Parameters come in the query or as a form-encoded POST body. Answers are plain-text words (`ACCESS_BALANCE:12.34`, ' +
  '`ACCESS_NUMBER:{id}:{phone}`, `STATUS_OK:{code}`, `NO_NUMBERS`, `NO_BALANCE`, `BAD_KEY`, `BAD_ACTION`, `BAD_SERVICE`, `BAD_COUNTRY`, ' +
  '`WRONG_MAX_PRICE:{min}`, `NO_ACTIVATION`, `BAD_STATUS`, `EARLY_CANCEL_DENIED`, `BANNED:{until}`, `ERROR_SQL` …) or JSON for ' +
  'getNumberV2, getActiveActivations, getPrices, getCountries and getNumbersStatus — always HTTP 200, except a rate-limit refusal (429 `ERROR_SQL` ' +
  'with Retry-After). Activation ids are integers; phones are digits without `+`; money is USD with a dot and two decimals. ' +
  'Every action goes through the same purchase, cancel (refunded once) and complete as `/api/numbers`; a cancel within 2 minutes of the purchase is `EARLY_CANCEL_DENIED`.'

const responses = {
  200: {
    description: 'The protocol’s answer: a word (text/plain) or, for the JSON actions, a JSON object',
    content: { 'text/plain': { schema: z.string().openapi({ example: 'ACCESS_NUMBER:1042:12025550123' }) }, 'application/json': { schema: z.record(z.string(), z.unknown()) } },
  },
  429: { description: 'Rate limit reached (`ERROR_SQL`, `Retry-After`)', content: { 'text/plain': { schema: z.string().openapi({ example: 'ERROR_SQL' }) } } },
}

const routes = [
  createRoute({
    method: 'get',
    path: HANDLER_API_PATH,
    operationId: 'smsActivateHandlerApi',
    tags: ['numbers'],
    summary: 'The sms-activate protocol (handler_api.php)',
    description,
    middleware: [rateClass('general')] as const,
    security: [{ apiKeyQuery: [] }],
    request: { query: Query },
    responses,
  }),
  createRoute({
    method: 'post',
    path: HANDLER_API_PATH,
    operationId: 'smsActivateHandlerApiForm',
    tags: ['numbers'],
    summary: 'The sms-activate protocol (handler_api.php), form-encoded',
    description: `${description} The same parameters as the GET, in the query or the form-encoded body.`,
    middleware: [rateClass('general')] as const,
    security: [{ apiKeyQuery: [] }],
    request: { query: Query, body: { required: false, content: { 'application/x-www-form-urlencoded': { schema: Query } } } },
    responses,
  }),
]

/** Every failure of the route becomes a word; the answers are plain Responses (text or JSON), hence the cast. */
const handle = (c: Context<AppEnv>): Promise<Response> => answer(c).catch((e) => handlerApiError(c, e))

export const registerHandlerApi = (r: Router) => {
  for (const route of routes) r.openapi(route, (c) => handle(c) as never)
}
