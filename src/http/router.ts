/**
 * The typed Hono app/router. Every router is an OpenAPIHono whose validation failures go through
 * one `defaultHook` into the `VALIDATION_ERROR` envelope, naming each failing field.
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import type { Env } from '../env'
import type { Principal } from '../lib/principal'
import type { Services } from '../services'
import { ValidationError, type FieldIssue } from '../lib/errors'
import { MemoRouter } from './memo-router'

export interface AppEnv {
  Bindings: Env
  Variables: {
    requestId: string
    services: Services
    /** Set by the authenticate middleware when credentials were presented and are valid. */
    principal?: Principal
    /** Why presented credentials were refused; thrown by `requireAuth`. */
    authError?: Error
  }
}

export type Router = OpenAPIHono<AppEnv>

export function issuesOf(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string; input?: unknown }> }): FieldIssue[] {
  return error.issues.map((i) => ({ field: i.path.map(String).join('.') || '(body)', message: i.message }))
}

export function createRouter(): Router {
  return new OpenAPIHono<AppEnv>({
    router: new MemoRouter(),
    defaultHook: (result) => {
      if (!result.success) throw new ValidationError('Request validation failed', issuesOf(result.error))
    },
  })
}
