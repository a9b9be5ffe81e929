import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { CreatedProjectKey, CreateProjectKeyBody, ProjectParam } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'
import { projectKeyView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/projects/{projectId}/keys',
  operationId: 'createProjectKey',
  tags: [PROJECTS_TAG],
  summary: 'Create a project key',
  description:
    'A `pk_live_…` (or `pk_test_…`) key bound to this project: it may only send messages (`POST /api/v1/messages`) and read this ' +
    "project's messages, as `Authorization: Bearer pk_…` or `X-API-Key`. The key is in this answer only; it is stored hashed. " +
    "`rateLimit`: messages per hour for this key (429 `RATE_LIMIT_EXCEEDED` past it), on top of the plan's hourly tier (429 `QUOTA_EXCEEDED`).",
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectParam, body: jsonBody(CreateProjectKeyBody) },
  responses: { 201: ok(CreatedProjectKey, 'The key, shown once'), ...projectErrors },
})

export const registerCreateProjectKey = (r: Router) =>
  r.openapi(route, async (c) => {
    const { key, row } = await c.var.services.projects.createKey(contextOf(c), c.req.valid('param').projectId, c.req.valid('json'))
    return c.json(envelope(c, { key, ...projectKeyView(row) }), 201)
  })
