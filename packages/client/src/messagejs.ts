/**
 * The MessageJS client (seed 004, "SDK Usage"): one call, `sendMessage`, with a project key.
 *
 *   import { messagejs } from '@switchboard/client/messagejs'
 *   messagejs.init({ apiKey: 'pk_live_…', baseUrl: 'https://api.switchboard.dev', retries: 2 })
 *   const { messageId, status } = await messagejs.sendMessage({ to, connectorId, templateId, variables })
 *
 * It throws `SwitchboardError` with the API's codes, which are the seed's (`INVALID_TO`,
 * `MISSING_REQUIRED_FIELD`, `INVALID_API_KEY`, `RATE_LIMIT_EXCEEDED`, `QUOTA_EXCEEDED`,
 * `CONNECTOR_NOT_FOUND`, …), plus `MISSING_API_KEY` before `init`, `NETWORK_ERROR` and `TIMEOUT`.
 * Every send carries an Idempotency-Key (the API honours it on `POST /api/v1/messages`), so a
 * retry — `retries`, default 0 as the seed says — answers the first send and never sends twice.
 * It uses no openapi-fetch, only fetch and Web Crypto: the browser script stays small.
 */
import { SwitchboardError, errorFromResponse } from './errors.js'
import type { operations } from './generated/schema.js'
import { DEFAULT_POLICY, type Fetch, send } from './transport.js'
import { uuid } from './uuid.js'

/** Production, as the OpenAPI document's servers name it. */
export const DEFAULT_BASE_URL = 'https://api.switchboard.dev'

export interface MessageJSOptions {
  /** A project key (`pk_live_…` / `pk_test_…`). */
  apiKey: string
  /** Where the API answers; with or without the seed's `/api/v1` suffix. Default: production (the browser script: the host it was loaded from). */
  baseUrl?: string
  /** Retries on 429, 5xx and network errors (default 0). */
  retries?: number
  /** Time per attempt until the answer's headers arrive, in ms (default 30,000). */
  timeoutMs?: number
  fetch?: Fetch
}

type SendBody = operations['sendMessage']['requestBody']['content']['application/json']

export type SendMessageInput = SendBody & {
  /** This send's Idempotency-Key (default: a random UUID); pass your own to make a send safe to repeat across restarts. */
  idempotencyKey?: string
  signal?: AbortSignal
}

export interface SendMessageResult {
  messageId: string
  status: string
}

export interface MessageJS {
  init(options: MessageJSOptions): void
  sendMessage(input: SendMessageInput): Promise<SendMessageResult>
}

/** The URL of `POST /api/v1/messages` under `baseUrl`, which may already end in `/api/v1` (the seed's form). */
export function messagesUrl(baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, '')
  return `${/\/api\/v1$/.test(base) ? base : `${base}/api/v1`}/messages`
}

/** A MessageJS instance; `defaultBaseUrl` is what `init` uses without a `baseUrl`. */
export function createMessageJS(defaultBaseUrl: string = DEFAULT_BASE_URL): MessageJS {
  let config: (MessageJSOptions & { baseUrl: string }) | undefined
  return {
    init(options) {
      if (!options?.apiKey) throw new SwitchboardError({ status: 0, code: 'MISSING_API_KEY', message: 'messagejs.init: apiKey is required' })
      config = { ...options, baseUrl: options.baseUrl ?? defaultBaseUrl }
    },
    async sendMessage(input) {
      if (!config) throw new SwitchboardError({ status: 0, code: 'MISSING_API_KEY', message: 'call messagejs.init({ apiKey }) before sendMessage' })
      const { idempotencyKey, signal, ...body } = input
      const request = new Request(messagesUrl(config.baseUrl), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${config.apiKey}`, 'Idempotency-Key': idempotencyKey ?? uuid() },
        body: JSON.stringify(body),
      })
      const policy = { ...DEFAULT_POLICY, retries: config.retries ?? 0, timeoutMs: config.timeoutMs ?? DEFAULT_POLICY.timeoutMs }
      const fetch = config.fetch ?? ((r: Request) => globalThis.fetch(r))
      const response = await send(fetch, request, policy, { retryable: true, signal })
      const text = await response.text()
      let parsed: unknown = text
      try {
        parsed = JSON.parse(text)
      } catch {
        // not JSON: a proxy's error page; errorFromResponse keeps the text
      }
      if (!response.ok) throw errorFromResponse(response, parsed)
      const data = (parsed as { data?: SendMessageResult }).data
      if (!data?.messageId) throw new SwitchboardError({ status: response.status, code: 'INVALID_RESPONSE', message: 'the answer has no messageId', headers: response.headers })
      return { messageId: data.messageId, status: data.status }
    },
  }
}

/** The default instance, as the seed uses it: `messagejs.init(…)`, then `messagejs.sendMessage(…)`. */
export const messagejs: MessageJS = createMessageJS()

export { SwitchboardError }
