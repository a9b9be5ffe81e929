/**
 * createServices(env, ctx) — the one place a service is constructed, for requests, queue
 * consumers, cron jobs and tests alike. Built once per invocation; nothing here outlives it.
 *
 * Each service is built on first use (a getter that keeps what it built), after the ones it
 * depends on, and is handed exactly those dependencies — never this bag. A request that reads a
 * balance builds the wallet client and nothing else.
 */
import { afterAnswerScope } from './lib/after-answer'
import { deferral } from './lib/deferral'
import { createDb } from './db/client'
import { readConfig, type Config, type Env } from './env'
import { createMailer, type Mailer } from './providers/mailer/mailer'
import type { ProviderDeps } from './providers/numbers/types'
import { simAdapter } from './providers/sims/registry'
import type { SimProvider } from './providers/sims/types'
import type { Provider } from './db/schema'
import { paymentProcessor } from './providers/payments/registry'
import { ActivationsService, scheduleSandboxSms } from './modules/activations/activations.service'
import { AdminUsersService } from './modules/admin/admin-users.service'
import { AnalyticsService } from './modules/analytics/analytics.service'
import { ApiKeyService } from './modules/api-keys/api-keys.service'
import { AuditService } from './modules/audit/audit.service'
import { AuthService } from './modules/auth/auth.service'
import { AuthnService } from './modules/auth/authn.service'
import { InvoicePaymentsService } from './modules/billing/invoice-payments.service'
import { InvoicesService } from './modules/billing/invoices.service'
import { DidsService } from './modules/dids/dids.service'
import { OrdersService } from './modules/dids/orders.service'
import { PurchaseService } from './modules/dids/purchase.service'
import { ReservationsService } from './modules/dids/reservations.service'
import { HealthService } from './modules/health/health.service'
import { NumberLockService } from './modules/number-locks/number-lock.service'
import { OffersService } from './modules/offers/offers.service'
import { BillingAccountService } from './modules/payments/billing-account.service'
import { PaymentMethodsService } from './modules/payments/payment-methods.service'
import { TopUpService } from './modules/payments/top-up.service'
import { offerCache } from './modules/providers/offer-cache'
import { ProvidersService } from './modules/providers/providers.service'
import { messageHourly, resolveLimits } from './modules/rate-limit/limits'
import { RateLimitService } from './modules/rate-limit/rate-limit.service'
import { SmsActivateService } from './modules/sms-activate/sms-activate.service'
import { SimLimitsService } from './modules/sims/sim-limits.service'
import { SimSmsService } from './modules/sims/sim-sms.service'
import { SimsService } from './modules/sims/sims.service'
import { SimTopUpService } from './modules/sims/topup.service'
import { SimTopUps } from './modules/sims/topups'
import { ConnectorsService } from './modules/messaging/connectors.service'
import { Dispatcher } from './modules/messaging/dispatch'
import { MessageAnalyticsService } from './modules/messaging/message-analytics.service'
import { MessagesService } from './modules/messaging/messages.service'
import { ProjectsService } from './modules/messaging/projects.service'
import { TemplatesService } from './modules/messaging/templates.service'
import { DidSmsService } from './modules/sms/did-sms.service'
import { InboundSmsService } from './modules/sms/inbound-sms.service'
import { SubscriptionsService } from './modules/subscriptions/subscriptions.service'
import { UsageService } from './modules/usage/usage.service'
import { WalletService } from './modules/wallet/wallet.service'
import { WebhooksService } from './modules/webhooks/webhooks.service'
import { logger } from './lib/logger'

type Fetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>

/** What a test (or a script) may swap: outbound HTTP, and the provider adapters' fetch and secrets. */
export interface ServiceOverrides {
  /** Outbound HTTP to partners and payment processors (webhook deliveries, Stripe). */
  fetch?: Fetch
  /** The number and SIM providers' upstream HTTP and secrets. */
  providers?: ProviderDeps
  /** Wraps or replaces a provider row's SIM adapter (a test's failing upstream). */
  simAdapter?: (p: Provider, built: () => SimProvider) => SimProvider
  /** Services to use instead of the ones built here (a test's failing wallet, a fake upstream); by getter name. */
  replace?: Partial<Record<string, unknown>>
}

const limitsByConfig = new WeakMap<Config, { limits: ReturnType<typeof resolveLimits>; messageTiers: ReturnType<typeof messageHourly> }>()

/**
 * The route classes' limits and the messaging API's hourly tiers by plan (the `messages` rate
 * class), worked out once per configuration (readConfig keeps one per isolate and env).
 */
function limitsOf(config: Config) {
  let known = limitsByConfig.get(config)
  if (!known) {
    known = { limits: resolveLimits(config.RATE_LIMITS), messageTiers: messageHourly(config.RATE_LIMITS) }
    limitsByConfig.set(config, known)
  }
  return known
}

export function createServices(env: Env, ctx: Pick<ExecutionContext, 'waitUntil'>, overrides: ServiceOverrides = {}) {
  const config = readConfig(env)
  const db = createDb(env.DB)
  const defer = (p: Promise<unknown>) => ctx.waitUntil(p.catch((e) => logger.error('deferred task failed', { error: e })))
  /** Runs `task` after the answer, inside waitUntil and the after-answer scope (lib/after-answer.ts). */
  const afterAnswer = (task: () => Promise<unknown>) => defer(afterAnswerScope.run(true, task))
  const outbound: Fetch = overrides.fetch ?? ((input, init) => fetch(input, init))
  const secret = (name: string) => {
    const value = (env as unknown as Record<string, unknown>)[name]
    return typeof value === 'string' ? value : undefined
  }
  const jwt = {
    secret: env.JWT_SECRET,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  }

  const providerDeps: ProviderDeps = overrides.providers ?? { fetch: (input, init) => fetch(input, init), secret }
  const built = new Map<string, unknown>()
  const once = <T>(name: string, build: () => T): T => {
    if (!built.has(name)) built.set(name, overrides.replace && name in overrides.replace ? overrides.replace[name] : build())
    return built.get(name) as T
  }

  return {
    env,
    config,
    db,
    defer,
    afterAnswer,
    /** How long deferred flushes and captures may wait to go with other requests' (lib/deferral.ts). */
    flushWindowMs: deferral.flushWindow(config.ENVIRONMENT),
    captureWindowMs: deferral.captureWindow(config.ENVIRONMENT),
    /** Outbound HTTP to partners (webhook deliveries). */
    fetch: outbound,
    ...limitsOf(config),

    // ---- bindings, upstreams and platform ------------------------------------------------
    get mailer(): Mailer {
      return once('mailer', () => createMailer(config.MAILER, db))
    },
    get audit(): AuditService {
      return once('audit', () => new AuditService(db))
    },
    get rateLimiter(): RateLimitService {
      return once('rateLimiter', () => new RateLimitService(env.RATE_LIMITER))
    },
    get wallet(): WalletService {
      return once('wallet', () => new WalletService(env.WALLET))
    },
    get numberLocks(): NumberLockService {
      return once('numberLocks', () => new NumberLockService(env.NUMBER_LOCK))
    },
    get providers(): ProvidersService {
      return once('providers', () => new ProvidersService(db, providerDeps))
    },
    get authn(): AuthnService {
      return once('authn', () => new AuthnService(db, jwt, defer))
    },
    get auth(): AuthService {
      return once('auth', () => new AuthService(db, config, jwt, this.mailer))
    },
    get apiKeys(): ApiKeyService {
      return once('apiKeys', () => new ApiKeyService(db, { maxActive: config.MAX_ACTIVE_API_KEYS }))
    },
    get health(): HealthService {
      return once('health', () => new HealthService(env, db, { once_api: () => this.sims.ping() }))
    },
    get webhooks(): WebhooksService {
      return once('webhooks', () => new WebhooksService({ db, env, config, fetch: outbound, defer, mailer: this.mailer }))
    },

    // ---- money: payment methods, card top-ups ------------------------------------------
    get billingAccounts(): BillingAccountService {
      return once('billingAccounts', () => new BillingAccountService({ db, wallet: this.wallet }))
    },
    get paymentMethods(): PaymentMethodsService {
      return once('paymentMethods', () => new PaymentMethodsService({ db, accounts: this.billingAccounts, processor: (name) => paymentProcessor(name, { config, fetch: outbound }) }))
    },
    get topUps(): TopUpService {
      return once('topUps', () => new TopUpService({ db, wallet: this.wallet, methods: this.paymentMethods }))
    },

    // ---- products ------------------------------------------------------------------------
    get offers(): OffersService {
      return once('offers', () => new OffersService(db))
    },
    get activations(): ActivationsService {
      return once(
        'activations',
        () =>
          new ActivationsService({
            db,
            wallet: this.wallet,
            adapters: (p) => this.providers.adapters(p),
            afterPurchase: (a, p) => scheduleSandboxSms({ environment: config.ENVIRONMENT, defer, jobs: env.JOBS }, a, p),
            afterAnswer,
            captureWindowMs: deferral.captureWindow(config.ENVIRONMENT),
            offersTtlMs: offerCache.ttlFor(config.ENVIRONMENT),
          }),
      )
    },
    /** The sms-activate protocol (handler_api.php) over the activation engine. */
    get smsActivate(): SmsActivateService {
      return once('smsActivate', () => new SmsActivateService({ db, activations: this.activations, wallet: this.wallet }))
    },
    get inboundSms(): InboundSmsService {
      return once('inboundSms', () => new InboundSmsService({ db, wallet: this.wallet, secret }))
    },
    get didSms(): DidSmsService {
      return once('didSms', () => new DidSmsService({ db, adapters: (p) => this.providers.adapters(p) }))
    },
    get dids(): DidsService {
      return once('dids', () => new DidsService({ db, locks: this.numberLocks, providers: this.providers }))
    },
    get reservations(): ReservationsService {
      return once(
        'reservations',
        () =>
          new ReservationsService({
            db,
            locks: this.numberLocks,
            wallet: this.wallet,
            limits: { maxNumbers: config.RESERVATION_MAX_NUMBERS, maxExtensions: config.RESERVATION_MAX_EXTENSIONS },
          }),
      )
    },
    get purchase(): PurchaseService {
      return once(
        'purchase',
        () =>
          new PurchaseService({
            db,
            wallet: this.wallet,
            locks: this.numberLocks,
            providers: this.providers,
            topUps: this.topUps,
            appUrl: config.appUrl,
            afterAnswer,
          }),
      )
    },
    get orders(): OrdersService {
      return once('orders', () => new OrdersService({ db, wallet: this.wallet, purchase: this.purchase, dids: this.dids }))
    },
    get sims(): SimsService {
      return once('sims', () => {
        const build = (p: Provider) => simAdapter(p, { ...providerDeps, db })
        return new SimsService({ db, adapter: overrides.simAdapter ? (p) => overrides.simAdapter!(p, () => build(p)) : build })
      })
    },
    get simSms(): SimSmsService {
      return once('simSms', () => new SimSmsService({ db, sims: this.sims }))
    },
    get simLimits(): SimLimitsService {
      return once('simLimits', () => new SimLimitsService({ db, sims: this.sims }))
    },
    get simTopUps(): SimTopUps {
      return once('simTopUps', () => new SimTopUps({ db, wallet: this.wallet, adapterOf: (sim) => this.sims.adapterOf(sim) }))
    },
    get simTopUpService(): SimTopUpService {
      return once('simTopUpService', () => new SimTopUpService({ db, sims: this.sims, engine: this.simTopUps, wallet: this.wallet, jobs: env.JOBS }))
    },
    // ---- messaging (seed 004) -------------------------------------------------------------
    get projects(): ProjectsService {
      return once('projects', () => new ProjectsService(db))
    },
    get connectors(): ConnectorsService {
      return once(
        'connectors',
        () =>
          new ConnectorsService({
            db,
            projects: this.projects,
            encryptionKey: env.ENCRYPTION_KEY,
            build: { fetch: providerDeps.fetch as typeof fetch, baseUrls: { whatsapp: config.WHATSAPP_API_BASE, telegram: config.TELEGRAM_API_BASE, twilio: config.TWILIO_API_BASE } },
          }),
      )
    },
    get templates(): TemplatesService {
      return once('templates', () => new TemplatesService(db, this.projects))
    },
    get messages(): MessagesService {
      return once('messages', () => new MessagesService({ db, projects: this.projects, wallet: this.wallet, rateLimiter: this.rateLimiter, queue: env.MESSAGES, afterAnswer }))
    },
    get dispatcher(): Dispatcher {
      return once('dispatcher', () => new Dispatcher({ db, connectors: this.connectors, wallet: this.wallet, rateLimiter: this.rateLimiter, queue: env.MESSAGES, callbackBase: config.appUrl }))
    },
    get subscriptions(): SubscriptionsService {
      return once('subscriptions', () => new SubscriptionsService({ db }))
    },
    get usage(): UsageService {
      return once('usage', () => new UsageService({ db }))
    },

    // ---- billing -----------------------------------------------------------------------
    get invoices(): InvoicesService {
      return once('invoices', () => new InvoicesService({ db, taxRatePercent: config.BILLING_TAX_RATE_PERCENT }))
    },
    get invoicePayments(): InvoicePaymentsService {
      return once(
        'invoicePayments',
        () =>
          new InvoicePaymentsService({
            db,
            wallet: this.wallet,
            method: (userId, id) => this.paymentMethods.get(userId, id),
            // A claim names its method; a method deleted since still finishes the claim it began.
            charge: (userId, input) => this.paymentMethods.chargeRecorded(userId, input),
          }),
      )
    },

    // ---- analytics and admin -----------------------------------------------------------
    get analytics(): AnalyticsService {
      return once('analytics', () => new AnalyticsService({ db }))
    },
    get messageAnalytics(): MessageAnalyticsService {
      return once('messageAnalytics', () => new MessageAnalyticsService(db))
    },
    get adminUsers(): AdminUsersService {
      return once('adminUsers', () => new AdminUsersService(db, this.audit, this.mailer))
    },
  }
}

export type Services = ReturnType<typeof createServices>
