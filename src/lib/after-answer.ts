/**
 * Work a request defers past its answer (`services.afterAnswer`: captures, queue sends, the API-call meter) runs
 * inside this scope, so whoever watches a request's calls — the round-trip trace of `npm run bench -- --trace` —
 * can tell what the answer waited for from what followed it. The work itself starts at once, as waitUntil work does.
 */
import { AsyncLocalStorage } from 'node:async_hooks'

export const afterAnswerScope = new AsyncLocalStorage<true>()

/** Whether the caller runs in work deferred past a request's answer. */
export const inAfterAnswer = () => afterAnswerScope.getStore() === true
