/**
 * createApp(): the Hono app with its middleware, the single onError, notFound, the OpenAPI
 * document and the docs pages (/docs: Swagger UI, /redoc: Redoc). Middleware order matters:
 *   request id → metrics timing → secure headers → services → CORS → body limit → authenticate →
 *   rate limit → idempotency → event send (after the handler)
 */
import { swaggerUI } from '@hono/swagger-ui'
import type { Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { HTTPException } from 'hono/http-exception'
import { secureHeaders } from 'hono/secure-headers'
import { AppError, PayloadTooLarge, ValidationError } from './lib/errors'
import { meta } from './lib/http'
import { createRouter, type AppEnv, type Router } from './http/router'
import { authenticate } from './http/authenticate'
import { metrics } from './http/metrics'
import { rateLimit } from './http/rate-limit'
import { rateClass } from './http/policy'
import { requestId } from './http/request-id'
import { registerListEmails } from './modules/admin/list-emails'
import { registerListFailedJobs } from './modules/jobs/list-failed-jobs'
import { registerAdminUsers } from './modules/admin/users'
import { registerApiKeys } from './modules/api-keys'
import { registerListAuditLog } from './modules/audit/list-audit-log'
import { registerAuth } from './modules/auth'
import { registerHealth } from './modules/health'
import { registerHealthCheck } from './modules/health/health'
import { registerMetrics } from './modules/metrics'
import { registerActivations } from './modules/activations'
import { HANDLER_API_PATH, handlerApiError, registerHandlerApi } from './modules/sms-activate/handler-api'
import { registerDids } from './modules/dids'
import { registerSims } from './modules/sims'
import { registerMessaging } from './modules/messaging'
import { redocPage } from './modules/docs/redoc'
import { registerMessagejsScript } from './modules/docs/messagejs-script'
import { API_DESCRIPTION, SERVERS, TAGS } from './modules/docs/tags'
import { registerOffers } from './modules/offers'
import { registerOrders } from './modules/dids/orders'
import { registerProviders } from './modules/providers'
import { registerInboundSms } from './modules/sms'
import { registerWallet } from './modules/wallet'
import { idempotency } from './http/idempotency'
import { withPolicyDocs } from './http/openapi-document'
import { sendEventsAfter } from './http/drain-outbox'
import { registerWebhooks } from './modules/webhooks'
import { registerUsage } from './modules/usage'
import { meterApiCalls } from './modules/usage/meter'
import { registerAnalytics } from './modules/analytics'
import { registerMessagingAnalytics } from './modules/messaging/analytics-routes'
import { registerSubscriptions } from './modules/subscriptions'
import { registerPayments } from './modules/payments'
import { registerInvoices } from './modules/billing/index'
import { createServices } from './services'
import { logger } from './lib/logger'

export const MAX_BODY_BYTES = 1024 * 1024

/** The document's security schemes: the customers' credentials, then those of callers that are not customers (upstream providers posting webhooks and callbacks, the metrics scraper). */
const SECURITY_SCHEMES = {
  bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
  apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
  apiKeyQuery: { type: 'apiKey', in: 'query', name: 'api_key' },
  webhookSecret: { type: 'apiKey', in: 'header', name: 'X-Webhook-Secret', description: "A shared-secret provider's webhook secret (also accepted as `?token=`)" },
  twilioSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Twilio-Signature',
    description: 'base64(HMAC-SHA1(auth token, the request URL + each POST field name and value, sorted by name))',
  },
  whatsappSignature: { type: 'apiKey', in: 'header', name: 'X-Hub-Signature-256', description: "HMAC-SHA256 of the body with the WhatsApp connector's `appSecret`" },
  metricsToken: { type: 'http', scheme: 'bearer', description: 'The `METRICS_TOKEN` secret (required whenever it is set; production always sets it)' },
} as const

/** The document's top level; `/openapi.json` serves it and `npm run openapi` writes it without a server. */
export const OPENAPI_CONFIG = {
  openapi: '3.1.0',
  info: { title: 'Switchboard API', version: '1.0.0', description: API_DESCRIPTION },
  servers: SERVERS,
  tags: TAGS,
}

/** The document `/openapi.json` serves and `npm run openapi` writes: the routes' own, and what the middleware add to them. */
export const openApiDocument = (app: Router) => withPolicyDocs(app.getOpenAPI31Document(OPENAPI_CONFIG), app)

function errorResponse(c: Context<AppEnv>, e: AppError) {
  for (const [k, v] of Object.entries(e.headers ?? {})) c.header(k, v)
  const error: Record<string, unknown> = { code: e.code, message: e.message }
  if (e.details !== undefined) error.details = e.details
  if (e.field !== undefined) error.field = e.field
  return c.json({ success: false as const, error, meta: meta(c) }, e.status)
}

export function onError(e: Error, c: Context<AppEnv>) {
  // The sms-activate protocol's path answers its own words, whatever failed before its route ran.
  if (c.req.path === HANDLER_API_PATH) return handlerApiError(c, e)
  if (e instanceof AppError) return errorResponse(c, e)
  if (e instanceof HTTPException) {
    if (e.status === 413) return errorResponse(c, new PayloadTooLarge(MAX_BODY_BYTES))
    if (e.status === 400) return errorResponse(c, new ValidationError(e.message || 'Malformed request', [{ field: '(body)', message: e.message }]))
    if (e.status === 415) return errorResponse(c, new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON with Content-Type: application/json'))
    return errorResponse(c, new AppError(e.status as 400, e.status >= 500 ? 'INTERNAL_ERROR' : 'HTTP_ERROR', e.message))
  }
  logger.error(e.message, { requestId: c.get('requestId'), stack: e.stack })
  return errorResponse(c, new AppError(500, 'INTERNAL_ERROR', 'Internal server error'))
}

export function createApp(): Router {
  const app = createRouter()

  // Liveness answers before any middleware: a monitor's poll costs what a bare Worker's does.
  registerHealthCheck(app)
  app.use('*', requestId)
  app.use('*', metrics)
  // A static script other sites embed: its own cross-origin headers, not secureHeaders' (messagejs-script.ts).
  registerMessagejsScript(app)
  app.use('*', secureHeaders())
  app.use('*', async (c, next) => {
    c.set('services', createServices(c.env, c.executionCtx))
    await next()
  })
  app.use(
    '*',
    cors({
      origin: (origin, c: Context<AppEnv>) => (c.var.services.config.corsOrigins.includes(origin) ? origin : null),
      allowHeaders: ['Authorization', 'Content-Type', 'X-API-Key', 'X-Request-Id', 'Idempotency-Key'],
      exposeHeaders: ['X-Request-Id', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After', 'Idempotent-Replayed'],
      maxAge: 600,
    }),
  )
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new PayloadTooLarge(MAX_BODY_BYTES)
      },
    }),
  )
  app.use('*', authenticate)
  app.use('*', rateLimit)
  app.use('*', meterApiCalls)
  app.use('*', idempotency)
  app.use('*', sendEventsAfter)

  registerHealth(app)
  registerMetrics(app)
  registerAuth(app)
  registerApiKeys(app)
  registerAdminUsers(app)
  registerListAuditLog(app)
  registerListEmails(app)
  registerListFailedJobs(app)
  registerWallet(app)
  registerOffers(app)
  registerActivations(app)
  registerHandlerApi(app)
  registerInboundSms(app)
  registerDids(app)
  registerOrders(app)
  registerSims(app)
  registerMessaging(app)
  registerProviders(app)
  registerWebhooks(app)
  registerUsage(app)
  registerAnalytics(app)
  registerMessagingAnalytics(app)
  registerSubscriptions(app)
  registerPayments(app)
  registerInvoices(app)

  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) app.openAPIRegistry.registerComponent('securitySchemes', name, scheme)
  app.get('/openapi.json', rateClass('exempt'), (c) => c.json(openApiDocument(app)))
  app.get('/docs', rateClass('exempt'), swaggerUI({ url: '/openapi.json', title: 'Switchboard API' }))
  app.get('/redoc', rateClass('exempt'), redocPage)

  app.notFound((c) => errorResponse(c, new AppError(404, 'NOT_FOUND', `Route ${c.req.method} ${c.req.path} not found`)))
  app.onError(onError)
  return app
}
