/**
 * Requests through a freshly built app with a modified environment (a broken binding, a
 * RATE_LIMITS or METRICS_TOKEN override, CORS origins). Everything else is the production path:
 * the same createApp(), the real bindings of the test worker, and an ExecutionContext whose
 * waitUntil promises are awaited before the answer is returned.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test'
import { createApp } from '../../src/app'
import type { Env } from '../../src/env'
import { buildRequest, readResponse, type ApiResponse, type CallOptions } from './api'

export type AppInstance = ReturnType<typeof createApp>

export interface AppCallOptions extends CallOptions {
  /** Reuse one app instance across calls; a new one is built otherwise. */
  app?: AppInstance
  /** Bindings and vars merged over the test worker's env. */
  env?: Partial<Record<keyof Env, unknown>>
}

export async function callApp<T = any>(path: string, opts: AppCallOptions = {}): Promise<ApiResponse<T>> {
  return send<T>(opts.app ?? createApp(), buildRequest(path, opts), opts.env)
}

/** Sends a ready-made Request through `app` with `overrides` merged over the env. */
export async function send<T = any>(app: AppInstance, request: Request, overrides: AppCallOptions['env'] = {}): Promise<ApiResponse<T>> {
  const ctx = createExecutionContext()
  const res = await readResponse<T>(await app.fetch(request, { ...env, ...overrides } as Env, ctx))
  await waitOnExecutionContext(ctx)
  return res
}

/**
 * Rate-limit windows are aligned to the clock (a 60 s window resets on the minute). A test that
 * counts hits inside one window waits out the current one when it is about to end, so a boundary
 * crossing mid-test cannot reset the count.
 */
export async function awayFromWindowEdge(windowSeconds: number, marginMs = 5000): Promise<void> {
  const windowMs = windowSeconds * 1000
  const left = windowMs - (Date.now() % windowMs)
  if (left < marginMs) await new Promise((r) => setTimeout(r, left + 50))
}
