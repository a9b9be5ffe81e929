/**
 * Hono's default router (RegExpRouter, else TrieRouter) with the answers to recent matches kept.
 * With this app's routes Hono falls back to the TrieRouter (the RegExpRouter refuses
 * `/api/numbers/:id` beside the other routes), which walks its tree on every request: a CPU
 * profile of the purchase put that walk at ~5 % of the isolate's time. A (method, path) matches
 * the same handlers and parameters every time, and Hono only reads a match, so an answer can
 * serve every request for the same path. At most MEMO_SIZE paths are kept; past that the oldest
 * goes (paths with ids in them come and go).
 */
import type { Result, Router } from 'hono/router'
import { RegExpRouter } from 'hono/router/reg-exp-router'
import { SmartRouter } from 'hono/router/smart-router'
import { TrieRouter } from 'hono/router/trie-router'

export const MEMO_SIZE = 1_000

export class MemoRouter<T> implements Router<T> {
  name = 'MemoRouter'
  readonly #inner: Router<T> = new SmartRouter<T>({ routers: [new RegExpRouter(), new TrieRouter()] })
  readonly #memo = new Map<string, Result<T>>()

  add(method: string, path: string, handler: T): void {
    this.#memo.clear()
    this.#inner.add(method, path, handler)
  }

  match(method: string, path: string): Result<T> {
    const key = `${method} ${path}`
    const known = this.#memo.get(key)
    if (known) return known
    const result = this.#inner.match(method, path)
    if (this.#memo.size >= MEMO_SIZE) this.#memo.delete(this.#memo.keys().next().value as string)
    this.#memo.set(key, result)
    return result
  }
}
