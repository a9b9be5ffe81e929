/**
 * createClient(): every route of the API as a typed call, from the generated OpenAPI types.
 *
 *   const sb = createClient({ baseUrl, apiKey })
 *   const balance = await sb.getWalletBalance()                    // by operation id
 *   const same = await sb.GET('/api/wallet/balance')               // by method and path
 *   for await (const m of sb.paginate('listMessages')) …           // every item of a list, page by page
 *
 * A call resolves to the envelope's `data` — for a list, to `{ data, pagination, … }` (the envelope
 * without `success` and `meta`) — or throws a `SwitchboardError`. POSTs the API marks idempotent (the
 * document's `Idempotency-Key` header) get a fresh key per call, reused by that call's retries.
 * `raw` is the underlying openapi-fetch client (`{ data, error, response }`, with auth and timeouts,
 * retrying only GET/HEAD/PUT/DELETE/OPTIONS) for when the answer's headers matter.
 */
import createFetchClient, { type Client, type Middleware, type ParamsOption, type RequestBodyOption } from 'openapi-fetch'
import { errorFromResponse } from './errors.js'
import { OPERATIONS, type OperationInfo } from './generated/operations.js'
import type { operations, paths } from './generated/schema.js'
import { DEFAULT_POLICY, type Fetch, type RetryPolicy, send } from './transport.js'
import { uuid } from './uuid.js'

export interface ClientOptions {
  /** Where the API answers, e.g. `https://api.switchboard.dev` or `http://localhost:8787` (no `/api` suffix). */
  baseUrl: string
  /** An account key (`sk_live_…`, `sk_test_…`) or a messaging project key (`pk_live_…`), sent as `X-API-Key`. */
  apiKey?: string
  /** A user session's access token (from `login`), sent as `Authorization: Bearer`; a function is asked before every request (for refreshing). */
  accessToken?: string | (() => string | Promise<string>)
  /** The fetch to use (default: the global one). */
  fetch?: Fetch
  /** Retries of an idempotent request on a network error, a timeout, 429 or 5xx (default 2). */
  retries?: number
  /** Time per attempt until the answer's headers arrive, in ms; 0 for none (default 30,000). */
  timeoutMs?: number
  /** The longest `Retry-After` waited out before retrying, in ms (default 60,000); a longer one throws. */
  maxRetryDelayMs?: number
  /** Headers sent with every request. */
  headers?: Record<string, string>
}

type Method = 'get' | 'put' | 'post' | 'delete' | 'patch' | 'head' | 'options' | 'trace'
type Media = `${string}/${string}`
type RequiredKeys<T> = { [K in keyof T]-?: Partial<Pick<T, K>> extends Pick<T, K> ? never : K }[keyof T]
type StatusBodies<R> = { [S in keyof R]: S extends 200 | 201 | 202 | 203 | 204 | 206 | '2XX' ? (R[S] extends { content: infer C } ? C[keyof C & Media] : undefined) : never }[keyof R]

/** The body of an operation's success answer (the envelope, or text for the few non-JSON routes). */
export type ResponseBody<Op> = Op extends { responses: infer R } ? StatusBodies<R> : never
/** What a call resolves to: `data`, or the envelope without `success`/`meta` for a list. */
export type Unwrap<B> = B extends { success: true; data: infer D } ? ('pagination' extends keyof B ? Omit<B, 'success' | 'meta'> : D) : B
export type Result<Op> = [ResponseBody<Op>] extends [never] ? undefined : Unwrap<ResponseBody<Op>>

/** Options of one call: the operation's parameters and body, plus per-call transport settings. */
export type CallOptions<Op> = ParamsOption<Op> &
  RequestBodyOption<Op> & {
    /** Aborts the call, its retries and their waits; rejects with the signal's reason. */
    signal?: AbortSignal
    /** This call's Idempotency-Key (default: a random UUID for the operations that honour one). */
    idempotencyKey?: string
    timeoutMs?: number
    retries?: number
    headers?: Record<string, string>
  }
type Init<Op> = RequiredKeys<CallOptions<Op>> extends never ? [init?: CallOptions<Op>] : [init: CallOptions<Op>]

type PathsWith<M extends Method> = { [P in keyof paths]: paths[P] extends { [K in M]: object } ? P : never }[keyof paths]
type PathCall<M extends Method> = <P extends PathsWith<M>>(path: P, ...init: Init<paths[P][M & keyof paths[P]]>) => Promise<Result<paths[P][M & keyof paths[P]]>>

/** One method per operation id (`getWalletBalance`, `purchaseActivation`, `sendMessage`, …). */
export type OperationMethods = { [K in keyof operations]: (...init: Init<operations[K]>) => Promise<Result<operations[K]>> }

/** The operation ids whose answer is a page of a list. */
export type PaginatedOperation = { [K in keyof operations]: ResponseBody<operations[K]> extends { data: unknown; pagination: unknown } ? K : never }[keyof operations]
/** One page: `{ data, pagination, … }`. */
export type Page<K extends PaginatedOperation> = Result<operations[K]>
type ItemsOf<D> = D extends readonly (infer I)[] ? I : { [P in keyof D]: D[P] extends readonly (infer I)[] ? I : never }[keyof D]
/** One item of a list: an element of `data`, or of its one array field (`data.messages`, `data.projects`, …). */
export type Item<K extends PaginatedOperation> = ResponseBody<operations[K]> extends { data: infer D } ? ItemsOf<D> : never

export interface ClientHelpers {
  GET: PathCall<'get'>
  POST: PathCall<'post'>
  PUT: PathCall<'put'>
  PATCH: PathCall<'patch'>
  DELETE: PathCall<'delete'>
  /** Every item of a list, fetching page after page (page/limit, page/page_size or limit/offset, as the operation pages). */
  paginate<K extends PaginatedOperation>(operationId: K, ...init: Init<operations[K]>): AsyncGenerator<Item<K>, void, undefined>
  /** Every page of a list, as `{ data, pagination, … }`. */
  pages<K extends PaginatedOperation>(operationId: K, ...init: Init<operations[K]>): AsyncGenerator<Page<K>, void, undefined>
  /** The openapi-fetch client underneath: `{ data, error, response }` answers, envelope not unwrapped. */
  raw: Client<paths>
}

export type SwitchboardClient = OperationMethods & ClientHelpers

type AnyInit = { params?: { query?: Record<string, unknown>; path?: Record<string, unknown>; header?: Record<string, unknown> }; body?: unknown } & Omit<CallOptions<unknown>, 'params' | 'body'>
type Envelope = { success?: unknown; data?: unknown; pagination?: unknown; meta?: unknown }

const SAFE_TO_REPEAT = new Set(['get', 'head', 'put', 'delete', 'options'])
const BY_ROUTE = new Map<string, OperationInfo>(Object.values(OPERATIONS).map((op) => [`${op.method} ${op.path}`, op]))

function itemsOf(op: OperationInfo, page: Envelope): unknown[] {
  const items = op.items ? (page.data as Record<string, unknown> | undefined)?.[op.items] : page.data
  return Array.isArray(items) ? items : []
}

/** The success body as the call resolves it. */
async function readResult(response: Response): Promise<unknown> {
  if (response.status === 204 || response.status === 205) return undefined
  const type = response.headers.get('content-type') ?? ''
  if (/[/+]json\b/.test(type)) {
    const text = await response.text()
    const body = (text ? JSON.parse(text) : undefined) as Envelope | undefined
    if (body?.success !== true || !('data' in body)) return body
    if (!('pagination' in body)) return body.data
    const { success: _s, meta: _m, ...rest } = body
    return rest
  }
  if (type.startsWith('text/') || /[/+]xml\b/.test(type) || /javascript/.test(type)) return response.text()
  return response.blob()
}

export function createClient(options: ClientOptions): SwitchboardClient {
  if (!options?.baseUrl) throw new TypeError('createClient: baseUrl is required')
  const fetch: Fetch = options.fetch ?? ((request) => globalThis.fetch(request))
  const policy: RetryPolicy = {
    retries: options.retries ?? DEFAULT_POLICY.retries,
    timeoutMs: options.timeoutMs ?? DEFAULT_POLICY.timeoutMs,
    maxRetryDelayMs: options.maxRetryDelayMs ?? DEFAULT_POLICY.maxRetryDelayMs,
  }
  const raw = createFetchClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers: options.headers,
    fetch: (request) => send(fetch, request, policy, { retryable: SAFE_TO_REPEAT.has(request.method.toLowerCase()) }),
  })
  const auth: Middleware = {
    async onRequest({ request }) {
      if (options.apiKey && !request.headers.has('x-api-key')) request.headers.set('X-API-Key', options.apiKey)
      if (options.accessToken && !request.headers.has('authorization')) {
        const token = typeof options.accessToken === 'function' ? await options.accessToken() : options.accessToken
        request.headers.set('Authorization', `Bearer ${token}`)
      }
      return request
    },
  }
  raw.use(auth)

  async function call(op: OperationInfo, init: AnyInit = {}): Promise<unknown> {
    const { params, body, signal, idempotencyKey, timeoutMs, retries, headers } = init
    const key = idempotencyKey ?? (op.idempotent ? uuid() : undefined)
    const callPolicy = { ...policy, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(retries === undefined ? {} : { retries }) }
    // A POST is repeated only where the API honours the key; elsewhere a key the caller sends is passed on, not relied on.
    const retryable = SAFE_TO_REPEAT.has(op.method) || Boolean(op.idempotent)
    const { error, response } = await raw.request(
      op.method as 'get',
      op.path as never,
      {
        params,
        body,
        headers: { ...headers, ...(key ? { 'Idempotency-Key': key } : {}) },
        parseAs: 'stream',
        fetch: (request: Request) => send(fetch, request, callPolicy, { retryable, signal }),
      } as never,
    )
    if (!response.ok) throw errorFromResponse(response, error)
    return readResult(response)
  }

  async function* pages(operationId: string, init: AnyInit = {}): AsyncGenerator<Envelope> {
    const op = (OPERATIONS as Record<string, OperationInfo>)[operationId]
    if (!op?.pagination) throw new TypeError(`${operationId} is not a paginated list`)
    const query = { ...init.params?.query }
    const sizeParam = op.pagination === 'page_size' ? 'page_size' : 'limit'
    if (query[sizeParam] === undefined && op.maxPageSize) query[sizeParam] = op.maxPageSize
    let page = Number(query.page ?? 1)
    let offset = Number(query.offset ?? 0)
    for (;;) {
      const position = op.pagination === 'offset' ? { offset } : { page }
      const result = (await call(op, { ...init, params: { ...init.params, query: { ...query, ...position } } })) as Envelope
      yield result
      const p = (result.pagination ?? {}) as Record<string, unknown>
      const more = op.pagination === 'page' ? p.hasNext : op.pagination === 'page_size' ? p.has_next : p.hasMore
      const count = itemsOf(op, result).length
      if (!more || count === 0) return
      page += 1
      offset += count
    }
  }

  async function* paginate(operationId: string, init?: AnyInit): AsyncGenerator<unknown> {
    const op = (OPERATIONS as Record<string, OperationInfo>)[operationId]!
    for await (const page of pages(operationId, init)) yield* itemsOf(op, page)
  }

  const byPath = (method: Method) => (path: string, init?: AnyInit) => call(BY_ROUTE.get(`${method} ${path}`) ?? { method, path }, init)
  const client: Record<string, unknown> = {
    GET: byPath('get'),
    POST: byPath('post'),
    PUT: byPath('put'),
    PATCH: byPath('patch'),
    DELETE: byPath('delete'),
    paginate,
    pages,
    raw,
  }
  for (const [id, op] of Object.entries(OPERATIONS as Record<string, OperationInfo>)) client[id] = (init?: AnyInit) => call(op, init)
  return client as unknown as SwitchboardClient
}
