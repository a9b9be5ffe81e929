import { createRoute } from '@hono/zod-openapi'
import { envelope, jsonBody, keySecurity, ok } from '../../lib/http'
import type { Router } from '../../http/router'
import { rateClass } from '../../http/policy'
import { contextOf, requireAuth } from '../../http/authenticate'
import { CreateTemplateBody, ProjectParam, Template } from './schemas'
import { PROJECTS_TAG, projectErrors } from './routes-common'
import { templateView } from './views'

const route = createRoute({
  method: 'post',
  path: '/api/v1/projects/{projectId}/templates',
  operationId: 'createTemplate',
  tags: [PROJECTS_TAG],
  summary: 'Create a template',
  description:
    '`content` with `{{name}}` placeholders; `variables` must name exactly those placeholders (400 `VALIDATION_ERROR` naming what is ' +
    'missing or unused). `connectorType` must match the connector a message is sent with.',
  middleware: [rateClass('general'), requireAuth({ permission: 'projects:write' })] as const,
  security: keySecurity,
  request: { params: ProjectParam, body: jsonBody(CreateTemplateBody) },
  responses: { 201: ok(Template, 'The template'), ...projectErrors },
})

export const registerCreateTemplate = (r: Router) =>
  r.openapi(route, async (c) => {
    const row = await c.var.services.templates.create(contextOf(c), c.req.valid('param').projectId, c.req.valid('json'))
    return c.json(envelope(c, templateView(row)), 201)
  })
