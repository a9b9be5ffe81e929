/**
 * The relational data of Switchboard (D1). drizzle-kit writes migrations/ from this file.
 *
 * Conventions: ids are prefixed sortable strings (src/lib/ids.ts); instants are integer
 * milliseconds since the epoch (`timestamp_ms`); money is integer micro-units (src/lib/money.ts);
 * lists and objects that are only ever read whole are JSON text.
 * Every table that belongs to an account carries `user_id`, and every query filters by it.
 */
import { sql } from 'drizzle-orm'
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

const ms = (name: string) => integer(name, { mode: 'timestamp_ms' })
const createdAt = () => ms('created_at').notNull().default(sql`(cast(unixepoch('subsec') * 1000 as integer))`)

export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    firstName: text('first_name').notNull().default(''),
    lastName: text('last_name').notNull().default(''),
    company: text('company'),
    phone: text('phone'),
    timezone: text('timezone').notNull().default('UTC'),
    role: text('role', { enum: ['user', 'admin'] })
      .notNull()
      .default('user'),
    /** `suspended` ends by itself at `suspendedUntil` when that is set; `banned` does not end. */
    status: text('status', { enum: ['active', 'suspended', 'banned', 'inactive'] })
      .notNull()
      .default('active'),
    statusReason: text('status_reason'),
    suspendedUntil: ms('suspended_until'),
    emailVerified: integer('email_verified', { mode: 'boolean' }).notNull().default(false),
    marketingConsent: integer('marketing_consent', { mode: 'boolean' }).notNull().default(false),
    preferences: text('preferences', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    lastLoginAt: ms('last_login_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [uniqueIndex('users_email_uq').on(t.email), index('users_created_idx').on(t.createdAt), index('users_role_status_idx').on(t.role, t.status), index('users_last_login_idx').on(t.lastLoginAt)],
)

/** One login on one device. Refresh tokens rotate inside it; reuse of a rotated one revokes it. */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    userAgent: text('user_agent'),
    ip: text('ip'),
    deviceInfo: text('device_info', { mode: 'json' }).$type<Record<string, unknown>>(),
    expiresAt: ms('expires_at').notNull(),
    revokedAt: ms('revoked_at'),
    revokeReason: text('revoke_reason'),
    lastUsedAt: ms('last_used_at'),
    createdAt: createdAt(),
  },
  (t) => [index('sessions_user_idx').on(t.userId, t.revokedAt)],
)

export const refreshTokens = sqliteTable(
  'refresh_tokens',
  {
    id: text('id').primaryKey(),
    sessionId: text('session_id')
      .notNull()
      .references(() => sessions.id),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    tokenHash: text('token_hash').notNull(),
    expiresAt: ms('expires_at').notNull(),
    /** Set when the token was exchanged; presenting it again is reuse. */
    usedAt: ms('used_at'),
    replacedBy: text('replaced_by'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('refresh_tokens_hash_uq').on(t.tokenHash), index('refresh_tokens_session_idx').on(t.sessionId)],
)

/** Single-use, expiring tokens mailed to users: email verification and password reset. */
export const authTokens = sqliteTable(
  'auth_tokens',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    kind: text('kind', { enum: ['verify_email', 'password_reset'] }).notNull(),
    tokenHash: text('token_hash').notNull(),
    expiresAt: ms('expires_at').notNull(),
    usedAt: ms('used_at'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('auth_tokens_hash_uq').on(t.tokenHash), index('auth_tokens_user_idx').on(t.userId, t.kind)],
)

export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    /** Set for messaging project keys (messaging: not yet available); null for account keys. */
    projectId: text('project_id'),
    name: text('name').notNull(),
    description: text('description'),
    keyHash: text('key_hash').notNull(),
    keyPrefix: text('key_prefix').notNull(),
    mode: text('mode', { enum: ['live', 'test'] })
      .notNull()
      .default('live'),
    permissions: text('permissions', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /** Messaging's per-key limit (messages per hour); null means the plan default. */
    rateLimit: integer('rate_limit'),
    expiresAt: ms('expires_at'),
    lastUsedAt: ms('last_used_at'),
    revokedAt: ms('revoked_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [uniqueIndex('api_keys_hash_uq').on(t.keyHash), index('api_keys_user_idx').on(t.userId, t.createdAt), index('api_keys_project_idx').on(t.projectId)],
)

export const auditLog = sqliteTable(
  'audit_log',
  {
    id: text('id').primaryKey(),
    actorId: text('actor_id'),
    actorType: text('actor_type', { enum: ['user', 'api_key', 'system'] }).notNull(),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id').notNull(),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    ip: text('ip'),
    requestId: text('request_id'),
    createdAt: createdAt(),
  },
  (t) => [
    index('audit_target_idx').on(t.targetType, t.targetId, t.createdAt),
    index('audit_target_id_idx').on(t.targetId, t.createdAt),
    index('audit_actor_idx').on(t.actorId, t.createdAt),
    index('audit_created_idx').on(t.createdAt),
  ],
)

/** Mail written by the sandbox mailer (and a copy of what real mailers sent). */
export const emails = sqliteTable(
  'emails',
  {
    id: text('id').primaryKey(),
    userId: text('user_id'),
    to: text('to').notNull(),
    subject: text('subject').notNull(),
    text: text('text').notNull(),
    kind: text('kind').notNull(),
    transport: text('transport').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('emails_to_idx').on(t.to, t.createdAt), index('emails_created_idx').on(t.createdAt), index('emails_kind_created_idx').on(t.kind, t.createdAt)],
)

/** Upstream providers (numbers, SIMs, messaging, payments). The numbers work extends it. */
export const providers = sqliteTable(
  'providers',
  {
    id: text('id').primaryKey(),
    code: text('code').notNull(),
    name: text('name').notNull(),
    adapter: text('adapter').notNull(),
    kinds: text('kinds', { mode: 'json' }).$type<string[]>().notNull(),
    status: text('status', { enum: ['active', 'disabled'] })
      .notNull()
      .default('active'),
    healthy: integer('healthy', { mode: 'boolean' }).notNull().default(true),
    priority: integer('priority').notNull().default(100),
    config: text('config', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    /** Our price = cost × (1 + marginBps / 10,000) + marginFixed (micro-units). */
    marginBps: integer('margin_bps').notNull().default(2000),
    marginFixed: integer('margin_fixed').notNull().default(0),
    lastSyncAt: ms('last_sync_at'),
    lastError: text('last_error'),
    /** Stock summary from the last sync: activation offers in stock, DIDs available. */
    stock: text('stock', { mode: 'json' }).$type<{ offers: number; numbers: number }>().notNull().default({ offers: 0, numbers: 0 }),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [uniqueIndex('providers_code_uq').on(t.code)],
)

// ---- Numbers and money ----------------------------------------------------------------------

/** Activation offers (service × country) per provider, refreshed by the provider sync. */
export const offers = sqliteTable(
  'offers',
  {
    id: text('id').primaryKey(),
    providerId: text('provider_id')
      .notNull()
      .references(() => providers.id),
    serviceCode: text('service_code').notNull(),
    serviceName: text('service_name').notNull(),
    /** ISO 3166-1 alpha-2, lower case (`us`). */
    countryCode: text('country_code').notNull(),
    countryName: text('country_name').notNull(),
    /** Upstream code of the country/service when it differs (HeroSMS uses numeric countries). */
    upstreamCountry: text('upstream_country'),
    upstreamService: text('upstream_service'),
    cost: integer('cost').notNull(),
    price: integer('price').notNull(),
    stock: integer('stock').notNull().default(0),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('offers_provider_service_country_uq').on(t.providerId, t.serviceCode, t.countryCode),
    index('offers_service_country_price_idx').on(t.serviceCode, t.countryCode, t.price),
    index('offers_country_idx').on(t.countryCode, t.price),
    index('offers_price_idx').on(t.price, t.serviceCode, t.countryCode),
  ],
)

/** Short-lived SMS-activation numbers (the activation API). Ids are `num_…`. */
export const activations = sqliteTable(
  'activations',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    providerId: text('provider_id')
      .notNull()
      .references(() => providers.id),
    offerId: text('offer_id').references(() => offers.id),
    upstreamId: text('upstream_id').notNull(),
    phone: text('phone').notNull(),
    countryCode: text('country_code').notNull(),
    serviceCode: text('service_code').notNull(),
    price: integer('price').notNull(),
    status: text('status', { enum: ['active', 'sms_received', 'completed', 'cancelled', 'expired'] }).notNull(),
    /**
     * Money state: `captured` (paid); `refund_pending` (cancelled or expired: the refund is owed,
     * the sweeper credits it until it goes through) then `refunded`; `unbilled` (the purchase's own
     * charge, op `charge_<id>`, was never collected); `recharge_due` (refunded, then an SMS came and
     * its charge, op `late_<id>`, is not collected yet). SMS on an activation that is not `captured`
     * are withheld until it is.
     */
    billing: text('billing', { enum: ['captured', 'refund_pending', 'refunded', 'unbilled', 'recharge_due'] })
      .notNull()
      .default('captured'),
    holdId: text('hold_id').notNull(),
    expiresAt: ms('expires_at').notNull(),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    index('activations_user_created_idx').on(t.userId, t.createdAt),
    index('activations_user_status_created_idx').on(t.userId, t.status, t.createdAt),
    index('activations_status_expires_idx').on(t.status, t.expiresAt),
    index('activations_refund_pending_idx').on(t.updatedAt).where(sql`billing = 'refund_pending'`),
    uniqueIndex('activations_upstream_uq').on(t.providerId, t.upstreamId),
    uniqueIndex('activations_hold_uq').on(t.holdId),
  ],
)

/**
 * The integer alias of every activation, for the handler_api.php protocol (modules/sms-activate),
 * whose clients parse activation ids as integers. A trigger on `activations` (migrations/0019)
 * writes one row per inserted activation, so every writer gets one without knowing of it;
 * AUTOINCREMENT never hands out an id twice. `retryAt`: when the client last asked for another
 * code (setStatus 3); a code that arrives after it ends the wait.
 */
export const activationAliases = sqliteTable(
  'activation_aliases',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    activationId: text('activation_id').notNull(),
    userId: text('user_id').notNull(),
    retryAt: ms('retry_at'),
  },
  (t) => [uniqueIndex('activation_aliases_activation_uq').on(t.activationId)],
)

/** Inbound SMS, on activations and on DIDs. Stored once per upstream message id. */
export const smsMessages = sqliteTable(
  'sms_messages',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    providerId: text('provider_id')
      .notNull()
      .references(() => providers.id),
    upstreamMessageId: text('upstream_message_id').notNull(),
    activationId: text('activation_id'),
    phoneNumberId: text('phone_number_id'),
    phone: text('phone').notNull(),
    sender: text('sender'),
    text: text('text').notNull(),
    code: text('code'),
    /** An SMS on an activation whose price is not collected: stored, but shown (and announced) only once it is paid. */
    withheld: integer('withheld', { mode: 'boolean' }).notNull().default(false),
    receivedAt: ms('received_at').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('sms_upstream_uq').on(t.providerId, t.upstreamMessageId),
    index('sms_withheld_idx').on(t.createdAt).where(sql`withheld = 1`),
    index('sms_activation_idx').on(t.activationId, t.receivedAt),
    index('sms_number_idx').on(t.phoneNumberId, t.receivedAt),
    index('sms_user_idx').on(t.userId, t.receivedAt),
  ],
)

/** DIDs the providers offer for sale, refreshed by the provider sync (the search index). */
export const didInventory = sqliteTable(
  'did_inventory',
  {
    id: text('id').primaryKey(),
    providerId: text('provider_id')
      .notNull()
      .references(() => providers.id),
    phoneNumber: text('phone_number').notNull(),
    countryCode: text('country_code').notNull(),
    areaCode: text('area_code'),
    region: text('region'),
    locality: text('locality'),
    numberType: text('number_type', { enum: ['LOCAL', 'TOLL_FREE', 'MOBILE', 'NATIONAL'] }).notNull(),
    capabilities: text('capabilities', { mode: 'json' }).$type<string[]>().notNull(),
    setupPrice: integer('setup_price').notNull(),
    monthlyPrice: integer('monthly_price').notNull(),
    restrictions: text('restrictions', { mode: 'json' }).$type<string[]>().notNull().default([]),
    /** `sold` once bought through us; the sync marks numbers gone upstream as `gone`. */
    status: text('status', { enum: ['available', 'sold', 'gone'] })
      .notNull()
      .default('available'),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('did_inventory_number_uq').on(t.phoneNumber),
    index('did_inventory_search_idx').on(t.countryCode, t.status, t.numberType, t.monthlyPrice),
    index('did_inventory_area_idx').on(t.countryCode, t.areaCode),
  ],
)

/** Orders of DIDs (the DID API). */
export const orders = sqliteTable(
  'orders',
  {
    id: text('id').primaryKey(),
    orderNumber: text('order_number').notNull(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    type: text('type', { enum: ['number_purchase'] })
      .notNull()
      .default('number_purchase'),
    status: text('status', {
      enum: ['pending', 'processing', 'completed', 'partially_completed', 'failed', 'cancelled', 'payment_failed'],
    }).notNull(),
    paymentStatus: text('payment_status', { enum: ['pending', 'held', 'paid', 'partially_refunded', 'refunded', 'failed'] }).notNull(),
    total: integer('total').notNull(),
    charged: integer('charged').notNull().default(0),
    refunded: integer('refunded').notNull().default(0),
    currency: text('currency').notNull().default('USD'),
    holdId: text('hold_id'),
    billing: text('billing', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    notes: text('notes'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
    completedAt: ms('completed_at'),
  },
  (t) => [
    uniqueIndex('orders_number_uq').on(t.orderNumber),
    index('orders_user_created_idx').on(t.userId, t.createdAt),
    index('orders_user_status_idx').on(t.userId, t.status),
    index('orders_user_total_idx').on(t.userId, t.total),
    index('orders_status_updated_idx').on(t.status, t.updatedAt),
  ],
)

export const orderItems = sqliteTable(
  'order_items',
  {
    id: text('id').primaryKey(),
    orderId: text('order_id')
      .notNull()
      .references(() => orders.id),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    phoneNumber: text('phone_number').notNull(),
    providerId: text('provider_id'),
    /** `unconfirmed`: the upstream's answer to its purchase never came; the sweeper looks the number up (success or failed). */
    status: text('status', { enum: ['pending', 'unconfirmed', 'success', 'failed', 'cancelled', 'refunded'] }).notNull(),
    phoneNumberId: text('phone_number_id'),
    setupPrice: integer('setup_price').notNull().default(0),
    monthlyPrice: integer('monthly_price').notNull().default(0),
    error: text('error'),
    request: text('request', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [index('order_items_order_idx').on(t.orderId), index('order_items_unconfirmed_idx').on(t.updatedAt).where(sql`status = 'unconfirmed'`)],
)

/** The order timeline. */
export const orderEvents = sqliteTable(
  'order_events',
  {
    id: text('id').primaryKey(),
    orderId: text('order_id')
      .notNull()
      .references(() => orders.id),
    status: text('status').notNull(),
    message: text('message').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('order_events_order_idx').on(t.orderId, t.createdAt)],
)

/** Long-lived numbers an account owns (DIDs; the API's UserNumber). */
export const phoneNumbers = sqliteTable(
  'phone_numbers',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    providerId: text('provider_id')
      .notNull()
      .references(() => providers.id),
    upstreamId: text('upstream_id'),
    phoneNumber: text('phone_number').notNull(),
    friendlyName: text('friendly_name'),
    countryCode: text('country_code').notNull(),
    region: text('region'),
    locality: text('locality'),
    areaCode: text('area_code'),
    numberType: text('number_type', { enum: ['LOCAL', 'TOLL_FREE', 'MOBILE', 'NATIONAL'] }).notNull(),
    capabilities: text('capabilities', { mode: 'json' }).$type<string[]>().notNull(),
    status: text('status', { enum: ['active', 'pending', 'suspended', 'released'] }).notNull(),
    voiceUrl: text('voice_url'),
    voiceMethod: text('voice_method'),
    voiceFallbackUrl: text('voice_fallback_url'),
    smsUrl: text('sms_url'),
    statusCallback: text('status_callback'),
    features: text('features', { mode: 'json' }).$type<Record<string, boolean>>().notNull().default({}),
    monthlyPrice: integer('monthly_price').notNull(),
    setupPrice: integer('setup_price'),
    currency: text('currency').notNull().default('USD'),
    tags: text('tags', { mode: 'json' }).$type<string[]>().notNull().default([]),
    notes: text('notes'),
    orderId: text('order_id'),
    purchasedAt: ms('purchased_at').notNull(),
    nextRenewalAt: ms('next_renewal_at'),
    /** A scheduled release; the sweeper releases the number once it has passed. */
    releaseAt: ms('release_at'),
    releaseReason: text('release_reason'),
    releasedAt: ms('released_at'),
    /** Set when a monthly renewal could not be charged; the number is suspended once it passes. */
    renewalGraceUntil: ms('renewal_grace_until'),
    suspendedAt: ms('suspended_at'),
    lastUsedAt: ms('last_used_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    index('phone_numbers_user_created_idx').on(t.userId, t.createdAt),
    index('phone_numbers_user_status_idx').on(t.userId, t.status),
    index('phone_numbers_user_number_idx').on(t.userId, t.phoneNumber),
    index('phone_numbers_user_price_idx').on(t.userId, t.monthlyPrice),
    index('phone_numbers_user_last_used_idx').on(t.userId, t.lastUsedAt),
    // At most one account holds a number at a time (NumberLock serializes; D1 refuses a second owner).
    uniqueIndex('phone_numbers_live_number_uq').on(t.phoneNumber).where(sql`status <> 'released'`),
    index('phone_numbers_release_idx').on(t.releaseAt),
    index('phone_numbers_renewal_idx').on(t.status, t.nextRenewalAt),
  ],
)

/**
 * Each account's live numbers (status other than released): how many, how many active, and their
 * monthly total. Kept by triggers on phone_numbers (migrations/0005), so every writer — purchase,
 * release, renewal, suspension, a seed — keeps it exact, and the numbers list reads one row
 * instead of aggregating every number the account owns.
 */
export const accountNumberStats = sqliteTable('account_number_stats', {
  userId: text('user_id').primaryKey(),
  live: integer('live').notNull().default(0),
  active: integer('active').notNull().default(0),
  monthlyTotal: integer('monthly_total').notNull().default(0),
})

/** Named routing configurations of a number (POST /api/v1/numbers/{id}/configure). */
export const numberConfigurations = sqliteTable(
  'number_configurations',
  {
    id: text('id').primaryKey(),
    phoneNumberId: text('phone_number_id')
      .notNull()
      .references(() => phoneNumbers.id),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    name: text('name').notNull(),
    isActive: integer('is_active', { mode: 'boolean' }).notNull().default(false),
    routingRules: text('routing_rules', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    schedule: text('schedule', { mode: 'json' }).$type<Record<string, unknown>>(),
    features: text('features', { mode: 'json' }).$type<Record<string, boolean>>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('number_configurations_number_idx').on(t.phoneNumberId, t.createdAt)],
)

/** Number reservations (30 minutes, extendable); NumberLock holds the truth. */
export const numberReservations = sqliteTable(
  'number_reservations',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    phoneNumber: text('phone_number').notNull(),
    status: text('status', { enum: ['active', 'released', 'expired', 'purchased'] }).notNull(),
    expiresAt: ms('expires_at').notNull(),
    /** Times this number's hold was extended (capped by RESERVATION_MAX_EXTENSIONS); kept when the account reserves it again. */
    extensions: integer('extensions').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [index('number_reservations_user_idx').on(t.userId, t.createdAt), index('number_reservations_number_idx').on(t.phoneNumber, t.status)],
)

/**
 * Copy of every Wallet DO ledger entry, for cross-account reporting. Written idempotently by
 * entry id; the Wallet DO is the source of truth.
 */
export const walletLedger = sqliteTable(
  'wallet_ledger',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull(),
    type: text('type').notNull(),
    amount: integer('amount').notNull(),
    balanceAfter: integer('balance_after').notNull(),
    opId: text('op_id').notNull(),
    holdId: text('hold_id'),
    referenceType: text('reference_type'),
    referenceId: text('reference_id'),
    description: text('description'),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [index('wallet_ledger_user_created_idx').on(t.userId, t.createdAt), index('wallet_ledger_ref_idx').on(t.referenceType, t.referenceId)],
)

/**
 * How a flow that owns a wallet hold ended, written in the same D1 batch as the flow's result.
 * When a hold expires, the Wallet DO reads this: `capture` → captured (the purchase crashed after
 * its number was assigned), no row → voided.
 */
export const holdOutcomes = sqliteTable('hold_outcomes', {
  holdId: text('hold_id').primaryKey(),
  userId: text('user_id').notNull(),
  outcome: text('outcome', { enum: ['capture', 'void'] }).notNull(),
  amount: integer('amount').notNull(),
  createdAt: createdAt(),
})

/**
 * Wallet credits the platform owes an account (a renewal debit to give back, …), written in D1
 * before the credit is made — in the same batch as the decision to make it — so a credit that
 * fails, or a Worker that dies first, leaves a `pending` row: the sweeper makes the credit under
 * the same operation id (the Wallet replays a credit it already made) and marks it `done`.
 * A row with `debit_op_id` gives back that debit: the Wallet credits what the debit took, only if
 * it was made, at most once (and a debit not made by then can never be made).
 */
export const pendingCredits = sqliteTable(
  'pending_credits',
  {
    /** The Wallet operation id of the credit. */
    opId: text('op_id').primaryKey(),
    /** Set when the credit gives back a debit: that debit's Wallet operation id (the amount is the debit's). */
    debitOpId: text('debit_op_id'),
    userId: text('user_id').notNull(),
    amount: integer('amount').notNull(),
    referenceType: text('reference_type'),
    referenceId: text('reference_id'),
    description: text('description'),
    status: text('status', { enum: ['pending', 'done'] }).notNull(),
    /** Failed tries; the next one waits until `next_attempt_at`. */
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    nextAttemptAt: ms('next_attempt_at').notNull(),
    createdAt: ms('created_at').notNull(),
    doneAt: ms('done_at'),
  },
  (t) => [index('pending_credits_due_idx').on(t.status, t.nextAttemptAt)],
)

/** Idempotency-Key records: the first answer to a (caller, key), replayed for 24 hours. */
export const idempotencyKeys = sqliteTable(
  'idempotency_keys',
  {
    scope: text('scope').notNull(),
    key: text('key').notNull(),
    method: text('method').notNull(),
    path: text('path').notNull(),
    requestHash: text('request_hash').notNull(),
    status: text('status', { enum: ['in_progress', 'done'] }).notNull(),
    responseStatus: integer('response_status'),
    responseBody: text('response_body'),
    createdAt: createdAt(),
    expiresAt: ms('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] }), index('idempotency_expires_idx').on(t.expiresAt)],
)

/**
 * `jobs` queue messages that failed: one row per job (its id derives from the message body, so a
 * redelivery or a duplicate of the same job lands on the same row). The jobs consumer writes it on
 * each failed attempt (`retrying`, with the error) and removes it when a retry succeeds; the
 * `jobs-dlq` consumer marks it `dead` once the queue gave up. Read by admins.
 */
export const failedJobs = sqliteTable(
  'failed_jobs',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    body: text('body', { mode: 'json' }).$type<unknown>().notNull(),
    status: text('status', { enum: ['retrying', 'dead'] }).notNull(),
    /** Failed deliveries seen by the jobs consumer. */
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    messageId: text('message_id'),
    firstFailedAt: ms('first_failed_at').notNull(),
    lastFailedAt: ms('last_failed_at').notNull(),
    deadAt: ms('dead_at'),
  },
  (t) => [index('failed_jobs_last_failed_idx').on(t.lastFailedAt), index('failed_jobs_status_idx').on(t.status, t.lastFailedAt), index('failed_jobs_type_idx').on(t.type, t.lastFailedAt)],
)

/** Domain events, written in the same batch as their cause, then sent to the `events` queue. */
export const outbox = sqliteTable(
  'outbox',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    userId: text('user_id'),
    payload: text('payload', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    createdAt: ms('created_at').notNull(),
    sentAt: ms('sent_at'),
    /** A drain has taken the row to send until this instant; after it, another drain may take it. */
    claimedUntil: ms('claimed_until'),
  },
  (t) => [index('outbox_unsent_idx').on(t.sentAt, t.createdAt)],
)

// ---- Partner webhooks --------------------------------------------------------------------

export const webhookEndpoints = sqliteTable(
  'webhook_endpoints',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    url: text('url').notNull(),
    description: text('description'),
    /** Event names, or `*` for all. */
    events: text('events', { mode: 'json' }).$type<string[]>().notNull(),
    isActive: integer('is_active', { mode: 'boolean' }).notNull().default(true),
    timeoutMs: integer('timeout_ms').notNull().default(10_000),
    retryPolicy: text('retry_policy', { mode: 'json' }).$type<{ maxAttempts: number }>().notNull(),
    /** `whsec_…`, sealed with ENCRYPTION_KEY (src/lib/secret-box.ts). */
    secretSealed: text('secret_sealed').notNull(),
    /** The secret before the last rotation; both sign until `previousSecretExpiresAt`. */
    previousSecretSealed: text('previous_secret_sealed'),
    previousSecretExpiresAt: ms('previous_secret_expires_at'),
    lastDeliveryAt: ms('last_delivery_at'),
    lastStatus: text('last_status'),
    deliveryCount: integer('delivery_count').notNull().default(0),
    failureCount: integer('failure_count').notNull().default(0),
    /** First failure since the last success; five days of failures disable the endpoint. */
    failingSince: ms('failing_since'),
    disabledReason: text('disabled_reason'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [index('webhook_endpoints_user_idx').on(t.userId, t.isActive)],
)

/** One event to one endpoint (or a number's smsUrl); retried under the same event id. */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    endpointId: text('endpoint_id').references(() => webhookEndpoints.id),
    /** The endpoint id, or `sms_url:<number id>` for a number's own smsUrl: one delivery per target and event. */
    target: text('target').notNull(),
    /** Where it goes (copied at fan-out, so a later URL change does not redirect a retry). */
    url: text('url').notNull(),
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    /** The exact body sent on every attempt. */
    payload: text('payload').notNull(),
    status: text('status', { enum: ['pending', 'retrying', 'succeeded', 'failed'] }).notNull(),
    attemptCount: integer('attempt_count').notNull().default(0),
    httpStatus: integer('http_status'),
    responseTimeMs: integer('response_time_ms'),
    errorMessage: text('error_message'),
    payloadSize: integer('payload_size').notNull(),
    nextRetryAt: ms('next_retry_at'),
    deliveredAt: ms('delivered_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_target_event_uq').on(t.target, t.eventId),
    // The fan-out looks up an event's deliveries by event id (the unique index leads with target).
    index('webhook_deliveries_event_idx').on(t.eventId),
    index('webhook_deliveries_endpoint_idx').on(t.endpointId, t.createdAt),
    index('webhook_deliveries_status_idx').on(t.endpointId, t.status, t.createdAt),
  ],
)

export const webhookAttempts = sqliteTable(
  'webhook_attempts',
  {
    id: text('id').primaryKey(),
    deliveryId: text('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id),
    attempt: integer('attempt').notNull(),
    status: text('status', { enum: ['success', 'failure'] }).notNull(),
    httpStatus: integer('http_status'),
    responseTimeMs: integer('response_time_ms'),
    error: text('error'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('webhook_attempts_delivery_attempt_uq').on(t.deliveryId, t.attempt)],
)

export type WebhookEndpoint = typeof webhookEndpoints.$inferSelect
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect
export type User = typeof users.$inferSelect
export type ApiKey = typeof apiKeys.$inferSelect
export type Provider = typeof providers.$inferSelect
export type Offer = typeof offers.$inferSelect
export type Activation = typeof activations.$inferSelect
export type DidInventory = typeof didInventory.$inferSelect
export type PhoneNumber = typeof phoneNumbers.$inferSelect
export type Order = typeof orders.$inferSelect
export type OrderItem = typeof orderItems.$inferSelect

// ---------------------------------------------------------------------------------------------
// Billing (the DID API's billing and usage billing): usage, subscriptions, invoices, payments,
// payment methods, billing accounts, DID renewals.
// ---------------------------------------------------------------------------------------------

/** What a usage row counts. The first three are usage billing's metrics; the rest are product meters. */
export const USAGE_TYPES = ['call_minutes', 'sms', 'api_calls', 'activation', 'did_purchase', 'did_monthly', 'subscription_proration', 'sim_data_topup', 'sim_sms_topup', 'message'] as const
export type UsageType = (typeof USAGE_TYPES)[number]

/**
 * One metered quantity. Reported usage (POST /api/usage) writes one row per non-zero metric, all
 * sharing `reportId`; product actions write their own rows (an activation, a DID fee) and API
 * calls are one row per key per day whose quantity grows. `transactionId` is the natural key
 * that makes every writer idempotent (unique per account). `totalCost` is at the bare rate;
 * invoices apply the plan's included units. `prepaid` rows were already paid from the wallet.
 */
export const usageRecords = sqliteTable(
  'usage_records',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    resourceType: text('resource_type', { enum: USAGE_TYPES }).notNull(),
    resourceId: text('resource_id'),
    quantity: integer('quantity').notNull(),
    unit: text('unit').notNull(),
    unitPrice: integer('unit_price').notNull(),
    totalCost: integer('total_cost').notNull(),
    currency: text('currency').notNull().default('USD'),
    prepaid: integer('prepaid', { mode: 'boolean' }).notNull().default(false),
    description: text('description'),
    /** `YYYY-MM` (UTC) the usage belongs to. */
    month: text('month').notNull(),
    occurredAt: ms('occurred_at').notNull(),
    transactionId: text('transaction_id'),
    reportId: text('report_id'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('usage_records_txn_uq').on(t.userId, t.transactionId),
    index('usage_records_user_occurred_idx').on(t.userId, t.occurredAt),
    index('usage_records_user_month_idx').on(t.userId, t.month, t.resourceType),
    // Calls on a number (usage/call-records.ts): a number's usage and analytics, analytics per number.
    index('usage_records_user_type_resource_idx').on(t.userId, t.resourceType, t.resourceId, t.occurredAt),
    index('usage_records_report_idx').on(t.reportId),
    index('usage_records_month_idx').on(t.month),
  ],
)

export const PLAN_CODES = ['basic', 'pro', 'enterprise'] as const

/** One subscription per account (re-subscribing reuses it). Periods are calendar months (UTC). */
export const subscriptions = sqliteTable(
  'subscriptions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    plan: text('plan', { enum: PLAN_CODES }).notNull(),
    status: text('status', { enum: ['active', 'cancelled', 'past_due'] }).notNull(),
    startDate: ms('start_date').notNull(),
    currentPeriodStart: ms('current_period_start').notNull(),
    currentPeriodEnd: ms('current_period_end').notNull(),
    cancelledAt: ms('cancelled_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [uniqueIndex('subscriptions_user_uq').on(t.userId), index('subscriptions_status_idx').on(t.status)],
)

/** Every plan or status change, so an invoice can tell which plan was in force when. */
export const subscriptionChanges = sqliteTable(
  'subscription_changes',
  {
    id: text('id').primaryKey(),
    subscriptionId: text('subscription_id')
      .notNull()
      .references(() => subscriptions.id),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    fromPlan: text('from_plan', { enum: PLAN_CODES }),
    toPlan: text('to_plan', { enum: PLAN_CODES }).notNull(),
    fromStatus: text('from_status'),
    toStatus: text('to_status').notNull(),
    /** Micro-units charged for the rest of the period on an upgrade (0 otherwise). */
    proration: integer('proration').notNull().default(0),
    at: ms('at').notNull(),
  },
  (t) => [index('subscription_changes_sub_idx').on(t.subscriptionId, t.at)],
)

export const billingAccounts = sqliteTable('billing_accounts', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id),
  id: text('id').notNull(),
  company: text('company'),
  taxId: text('tax_id'),
  billingAddress: text('billing_address', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
  creditLimit: integer('credit_limit'),
  currency: text('currency').notNull().default('USD'),
  autoPayEnabled: integer('auto_pay_enabled', { mode: 'boolean' }).notNull().default(false),
  /** Automatic wallet top-up: at most once per UTC day, `amount` when the available balance is below `threshold` (micro-units). */
  autoTopUpEnabled: integer('auto_top_up_enabled', { mode: 'boolean' }).notNull().default(false),
  autoTopUpThreshold: integer('auto_top_up_threshold'),
  autoTopUpAmount: integer('auto_top_up_amount'),
  /** The method charged; null: the account's default method at the time. */
  autoTopUpPaymentMethodId: text('auto_top_up_payment_method_id'),
  billingCycle: text('billing_cycle').notNull().default('MONTHLY'),
  stripeCustomerId: text('stripe_customer_id'),
  paypalCustomerId: text('paypal_customer_id'),
  createdAt: createdAt(),
  updatedAt: ms('updated_at').notNull(),
})

export const paymentMethods = sqliteTable(
  'payment_methods',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    type: text('type').notNull(),
    processor: text('processor').notNull(),
    /** The processor's id for the method (Stripe `pm_…`, sandbox `pm_sandbox_…`). */
    processorRef: text('processor_ref').notNull(),
    last4: text('last4'),
    brand: text('brand'),
    expiryMonth: integer('expiry_month'),
    expiryYear: integer('expiry_year'),
    bankName: text('bank_name'),
    accountType: text('account_type'),
    billingAddress: text('billing_address', { mode: 'json' }).$type<Record<string, unknown>>(),
    isDefault: integer('is_default', { mode: 'boolean' }).notNull().default(false),
    isVerified: integer('is_verified', { mode: 'boolean' }).notNull().default(false),
    isActive: integer('is_active', { mode: 'boolean' }).notNull().default(true),
    deletedAt: ms('deleted_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    index('payment_methods_user_idx').on(t.userId, t.createdAt),
    // At most one default per account.
    uniqueIndex('payment_methods_default_uq').on(t.userId).where(sql`is_default = 1 and deleted_at is null`),
  ],
)

export const INVOICE_STATUSES = ['draft', 'pending', 'partially_paid', 'paid', 'overdue', 'void'] as const

/** One invoice per account and closed month: the unique index is what makes a rerun create nothing. */
export const invoices = sqliteTable(
  'invoices',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    invoiceNumber: text('invoice_number').notNull(),
    /** `YYYY-MM` the invoice covers. */
    month: text('month').notNull(),
    status: text('status', { enum: INVOICE_STATUSES }).notNull(),
    currency: text('currency').notNull().default('USD'),
    subtotal: integer('subtotal').notNull(),
    tax: integer('tax').notNull().default(0),
    discount: integer('discount').notNull().default(0),
    total: integer('total').notNull(),
    amountPaid: integer('amount_paid').notNull().default(0),
    /** Payments made so far; a payment claims `paymentSeq` + 1 (compare-and-set), so two concurrent payers cannot both land. */
    paymentSeq: integer('payment_seq').notNull().default(0),
    subscriptionFee: integer('subscription_fee').notNull().default(0),
    usageFee: integer('usage_fee').notNull().default(0),
    /** The invoice's `breakdown`: callMinutes, smsCount, apiCalls. */
    breakdown: text('breakdown', { mode: 'json' }).$type<Record<string, number>>().notNull(),
    billingAddress: text('billing_address', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    periodStart: ms('period_start').notNull(),
    periodEnd: ms('period_end').notNull(),
    issueDate: ms('issue_date').notNull(),
    dueDate: ms('due_date').notNull(),
    paidAt: ms('paid_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('invoices_user_month_uq').on(t.userId, t.month),
    uniqueIndex('invoices_number_uq').on(t.invoiceNumber),
    index('invoices_user_issue_idx').on(t.userId, t.issueDate),
    index('invoices_user_status_idx').on(t.userId, t.status),
    index('invoices_status_due_idx').on(t.status, t.dueDate),
  ],
)

export const invoiceLineItems = sqliteTable(
  'invoice_line_items',
  {
    id: text('id').primaryKey(),
    invoiceId: text('invoice_id')
      .notNull()
      .references(() => invoices.id),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    position: integer('position').notNull(),
    type: text('type', { enum: ['usage', 'subscription', 'one_time', 'tax', 'discount'] }).notNull(),
    description: text('description').notNull(),
    quantity: integer('quantity').notNull(),
    unitPrice: integer('unit_price').notNull(),
    totalPrice: integer('total_price').notNull(),
    periodStart: ms('period_start'),
    periodEnd: ms('period_end'),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (t) => [index('invoice_line_items_invoice_idx').on(t.invoiceId, t.position)],
)

/** Money received: invoice payments (wallet or payment method) and wallet top-ups by payment method. */
export const payments = sqliteTable(
  'payments',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    purpose: text('purpose', { enum: ['invoice', 'wallet_topup'] }).notNull(),
    invoiceId: text('invoice_id'),
    amount: integer('amount').notNull(),
    currency: text('currency').notNull().default('USD'),
    status: text('status', { enum: ['pending', 'succeeded', 'failed', 'refunded'] }).notNull(),
    processor: text('processor').notNull(),
    paymentMethodId: text('payment_method_id'),
    processorRef: text('processor_ref'),
    failureReason: text('failure_reason'),
    /** Natural key of the attempt (e.g. `invpay_<invoice>_<seq>`); a retry finds the first row. */
    attemptKey: text('attempt_key').notNull(),
    /** Sweeper runs that tried to finish this pending attempt and left it pending. */
    resumeAttempts: integer('resume_attempts').notNull().default(0),
    /** The sweeper does not try it again before this instant (backoff after each such run). */
    resumeAfter: ms('resume_after'),
    processedAt: ms('processed_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('payments_attempt_uq').on(t.attemptKey),
    index('payments_user_created_idx').on(t.userId, t.createdAt),
    index('payments_invoice_idx').on(t.invoiceId),
    // The sweeper finds attempts left pending.
    index('payments_status_created_idx').on(t.status, t.createdAt),
  ],
)

/**
 * The Wallet debits of DID renewal periods, each written `open` BEFORE its debit is tried, so a
 * debit that may have happened is never recorded nowhere. Exactly one outcome closes it, in a D1
 * batch: `kept` (the batch that renews the number for the period) or `returned` (the number
 * stopped being renewable: the same batch writes the pending credit that gives the debit back).
 * A period charged again after a return gets the next `seq` and a new operation id: a returned
 * debit is never replayed as a payment. Open rows whose number is no longer renewable are
 * returned by the sweeper (modules/dids/renewal-charges.ts).
 */
export const renewalCharges = sqliteTable(
  'renewal_charges',
  {
    /** The Wallet debit's operation id: `renew_<number>_<periodStart ms>`, then `…_<seq>` from the second. */
    opId: text('op_id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    phoneNumberId: text('phone_number_id')
      .notNull()
      .references(() => phoneNumbers.id),
    periodStart: ms('period_start').notNull(),
    periodEnd: ms('period_end').notNull(),
    /** 1 for the period's first debit; one more for each debit after a return. */
    seq: integer('seq').notNull(),
    amount: integer('amount').notNull(),
    status: text('status', { enum: ['open', 'kept', 'returned'] }).notNull(),
    createdAt: ms('created_at').notNull(),
    resolvedAt: ms('resolved_at'),
  },
  (t) => [uniqueIndex('renewal_charges_period_uq').on(t.phoneNumberId, t.periodStart, t.seq), index('renewal_charges_open_idx').on(t.status, t.createdAt)],
)

/** One row per DID and monthly period: the anniversary charge, or its failure. Unique, so a rerun charges nothing twice. */
export const didRenewals = sqliteTable(
  'did_renewals',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    phoneNumberId: text('phone_number_id')
      .notNull()
      .references(() => phoneNumbers.id),
    /** The anniversary this renewal pays for (start of the new month of service). */
    periodStart: ms('period_start').notNull(),
    periodEnd: ms('period_end').notNull(),
    amount: integer('amount').notNull(),
    status: text('status', { enum: ['charged', 'failed'] }).notNull(),
    attempts: integer('attempts').notNull().default(1),
    lastAttemptAt: ms('last_attempt_at').notNull(),
    chargedAt: ms('charged_at'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('did_renewals_period_uq').on(t.phoneNumberId, t.periodStart), index('did_renewals_user_idx').on(t.userId, t.createdAt)],
)

// ---------------------------------------------------------------------------------------------
// IoT SIMs (the SIM API, seed 002): SIMs, their quotas, events, SMS, top-ups and bulk jobs, the
// account's global limits; and the sandbox SIM upstream's own state.
// Ids of SIMs, events and SMS are integers, as the SIM API shows them (`"id": 1`).
// ---------------------------------------------------------------------------------------------

export const SIM_STATUSES = ['Enabled', 'Disabled', 'Suspended', 'Expired'] as const
export type SimStatus = (typeof SIM_STATUSES)[number]
export const QUOTA_TYPES = ['data', 'sms'] as const
export type QuotaType = (typeof QUOTA_TYPES)[number]

/** A SIM registered by an account. `iccid` is the 19-digit form (no Luhn digit); one account holds it. */
export const sims = sqliteTable(
  'sims',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    iccid: text('iccid').notNull(),
    providerId: text('provider_id')
      .notNull()
      .references(() => providers.id),
    imsi: text('imsi'),
    msisdn: text('msisdn'),
    imei: text('imei'),
    imeiLock: integer('imei_lock', { mode: 'boolean' }).notNull().default(false),
    status: text('status', { enum: SIM_STATUSES }).notNull().default('Enabled'),
    label: text('label'),
    ipAddress: text('ip_address'),
    ipv6Address: text('ipv6_address'),
    /** The last connectivity seen: null until first read. */
    connected: integer('connected', { mode: 'boolean' }),
    currentRat: text('current_rat'),
    currentCountry: text('current_country'),
    currentOperator: text('current_operator'),
    connection: text('connection', { mode: 'json' }).$type<Record<string, unknown>>(),
    connectivityAt: ms('connectivity_at'),
    activationDate: ms('activation_date'),
    tags: text('tags', { mode: 'json' }).$type<string[]>().notNull().default([]),
    metadata: text('metadata', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    /** The last connectivity reset: when asked, when the upstream expects it done, its outcome. */
    resetRequestedAt: ms('reset_requested_at'),
    resetExpectedAt: ms('reset_expected_at'),
    resetStatus: text('reset_status', { enum: ['in_progress', 'completed', 'failed'] }),
    resetType: text('reset_type'),
    statusCheckedAt: ms('status_checked_at'),
    /** When the SIM's SMS were last listed from the upstream: a read-through waits a few seconds between two. */
    smsRefreshedAt: ms('sms_refreshed_at'),
    lastSyncedAt: ms('last_synced_at'),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('sims_iccid_uq').on(t.iccid),
    // GET /api/v1/sims: one index per sort key, the status filter with the default sort.
    index('sims_user_created_idx').on(t.userId, t.createdAt),
    index('sims_user_updated_idx').on(t.userId, t.updatedAt),
    index('sims_user_label_idx').on(t.userId, t.label),
    index('sims_user_iccid_idx').on(t.userId, t.iccid),
    index('sims_user_activation_idx').on(t.userId, t.activationDate),
    index('sims_user_status_created_idx').on(t.userId, t.status, t.createdAt),
    // The sync walks each provider's SIMs by id; the gauge counts enabled SIMs.
    index('sims_provider_idx').on(t.providerId, t.id),
    index('sims_status_idx').on(t.status),
  ],
)

/**
 * A SIM's data or SMS quota as last seen (bytes or messages): its total `volume` and `usedVolume`.
 * `thresholdReached`/`depleted` remember the last state, so an event fires once per crossing.
 * Auto top-up: `autoReload` with its amount; `autoArmed` is 1 while usage is under the threshold,
 * and a sync claims a crossing by moving it to 0 (at most one top-up per crossing).
 * `observedAt` is when the upstream was read: an older reading never overwrites a newer one.
 */
export const simQuotas = sqliteTable(
  'sim_quotas',
  {
    simId: integer('sim_id')
      .notNull()
      .references(() => sims.id),
    quotaType: text('quota_type', { enum: QUOTA_TYPES }).notNull(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    volume: integer('volume').notNull().default(0),
    usedVolume: integer('used_volume').notNull().default(0),
    status: text('status', { enum: ['Active', 'Exhausted', 'Expired'] })
      .notNull()
      .default('Active'),
    thresholdPercentage: integer('threshold_percentage').notNull().default(80),
    thresholdReached: integer('threshold_reached', { mode: 'boolean' }).notNull().default(false),
    depleted: integer('depleted', { mode: 'boolean' }).notNull().default(false),
    autoReload: integer('auto_reload', { mode: 'boolean' }).notNull().default(false),
    autoReloadAmount: integer('auto_reload_amount'),
    autoArmed: integer('auto_armed', { mode: 'boolean' }).notNull().default(true),
    lastVolumeAdded: integer('last_volume_added'),
    lastStatusChangeDate: ms('last_status_change_date'),
    expiryDate: ms('expiry_date'),
    observedAt: ms('observed_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.simId, t.quotaType] }), index('sim_quotas_auto_idx').on(t.autoReload, t.simId)],
)

export const SIM_EVENT_CATEGORIES = ['status', 'quota', 'connectivity', 'sms', 'topup'] as const

/** A SIM's event history (GET /api/v1/sims/{iccid}/events). */
export const simEvents = sqliteTable(
  'sim_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    simId: integer('sim_id')
      .notNull()
      .references(() => sims.id),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    eventType: text('event_type').notNull(),
    eventCategory: text('event_category', { enum: SIM_EVENT_CATEGORIES }).notNull(),
    severity: text('severity', { enum: ['info', 'warning', 'critical'] }).notNull(),
    description: text('description').notNull(),
    eventData: text('event_data', { mode: 'json' }).$type<Record<string, unknown>>(),
    /** Makes a writer idempotent (one event per crossing, per top-up, per SMS); null when none is needed. */
    dedupeKey: text('dedupe_key'),
    occurredAt: ms('occurred_at').notNull(),
  },
  (t) => [
    index('sim_events_sim_time_idx').on(t.simId, t.occurredAt),
    index('sim_events_sim_type_time_idx').on(t.simId, t.eventType, t.occurredAt),
    uniqueIndex('sim_events_dedupe_uq').on(t.simId, t.dedupeKey),
  ],
)

export const SIM_SMS_STATUSES = ['pending', 'sent', 'delivered', 'failed', 'cancelled', 'received'] as const
export type SimSmsStatus = (typeof SIM_SMS_STATUSES)[number]

/** SMS to (MT) and from (MO) a SIM. `smsId` is the public id; `upstreamId` the provider's. */
export const simSms = sqliteTable(
  'sim_sms',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    smsId: text('sms_id').notNull(),
    simId: integer('sim_id')
      .notNull()
      .references(() => sims.id),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    direction: text('direction', { enum: ['MO', 'MT'] }).notNull(),
    message: text('message').notNull(),
    encoding: text('encoding', { enum: ['GSM7', 'UCS2'] }).notNull(),
    status: text('status', { enum: SIM_SMS_STATUSES }).notNull(),
    upstreamId: text('upstream_id'),
    sourceAddress: text('source_address'),
    expiryDate: ms('expiry_date'),
    error: text('error'),
    createdAt: ms('created_at').notNull(),
    sentAt: ms('sent_at'),
    deliveredAt: ms('delivered_at'),
    failedAt: ms('failed_at'),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('sim_sms_sms_id_uq').on(t.smsId),
    uniqueIndex('sim_sms_upstream_uq').on(t.simId, t.direction, t.upstreamId),
    index('sim_sms_sim_created_idx').on(t.simId, t.createdAt),
    index('sim_sms_sim_direction_created_idx').on(t.simId, t.direction, t.createdAt),
    index('sim_sms_sim_status_created_idx').on(t.simId, t.status, t.createdAt),
  ],
)

/** An account's global SIM limits (GET/POST /api/v1/sims/limits). */
export const simLimits = sqliteTable('sim_limits', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id),
  dailyDataLimit: integer('daily_data_limit'),
  monthlyDataLimit: integer('monthly_data_limit'),
  dailySmsLimit: integer('daily_sms_limit'),
  monthlySmsLimit: integer('monthly_sms_limit'),
  enforceLimits: integer('enforce_limits', { mode: 'boolean' }).notNull().default(false),
  updatedAt: ms('updated_at').notNull(),
})

/** A bulk operation on SIMs (POST /api/v1/sims/topup → GET /api/v1/jobs/{job_id}). Its items are sim_topups rows. */
export const simJobs = sqliteTable(
  'sim_jobs',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    kind: text('kind', { enum: ['sim_topup'] }).notNull(),
    status: text('status', { enum: ['processing', 'completed'] }).notNull(),
    total: integer('total').notNull(),
    chunks: integer('chunks').notNull(),
    createdAt: ms('created_at').notNull(),
    completedAt: ms('completed_at'),
  },
  (t) => [index('sim_jobs_user_created_idx').on(t.userId, t.createdAt)],
)

/**
 * One top-up of one SIM quota, from any source (a request, a bulk job item, an auto top-up). Its
 * id is the operation id: fixed before any money moves, so a retried request or a redelivered job
 * message finds the row and never charges or tops up twice. `amount` is the price (micro-units).
 */
export const simTopups = sqliteTable(
  'sim_topups',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    /** Null when the bulk item named no SIM of the account (its failure is the result). */
    simId: integer('sim_id').references(() => sims.id),
    iccid: text('iccid').notNull(),
    quotaType: text('quota_type', { enum: QUOTA_TYPES }).notNull(),
    volume: integer('volume').notNull(),
    amount: integer('amount').notNull(),
    source: text('source', { enum: ['api', 'bulk', 'auto'] }).notNull(),
    jobId: text('job_id').references(() => simJobs.id),
    jobIndex: integer('job_index'),
    status: text('status', { enum: ['pending', 'succeeded', 'failed'] }).notNull(),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    holdId: text('hold_id'),
    newTotal: integer('new_total'),
    newRemaining: integer('new_remaining'),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [uniqueIndex('sim_topups_job_item_uq').on(t.jobId, t.jobIndex), index('sim_topups_sim_created_idx').on(t.simId, t.createdAt), index('sim_topups_user_created_idx').on(t.userId, t.createdAt)],
)

/** The sandbox SIM upstream's own records (what a real upstream keeps on its side): per SIM. */
export const sandboxSims = sqliteTable('sandbox_sims', {
  iccid: text('iccid').primaryKey(),
  status: text('status').notNull(),
  label: text('label'),
  imeiLock: integer('imei_lock', { mode: 'boolean' }).notNull().default(false),
  limits: text('limits', { mode: 'json' }).$type<Record<string, unknown>>(),
  /** When the sandbox first saw the SIM: its usage grows from here. */
  activatedAt: ms('activated_at').notNull(),
  resetRequestedAt: ms('reset_requested_at'),
  updatedAt: ms('updated_at').notNull(),
})

/** The sandbox's top-ups, keyed by the caller's reference: the same reference tops up once. */
export const sandboxSimTopups = sqliteTable(
  'sandbox_sim_topups',
  {
    reference: text('reference').primaryKey(),
    iccid: text('iccid').notNull(),
    quotaType: text('quota_type', { enum: QUOTA_TYPES }).notNull(),
    volume: integer('volume').notNull(),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [index('sandbox_sim_topups_iccid_idx').on(t.iccid, t.quotaType)],
)

/** SMS the sandbox was asked to send to its SIMs (their status and the devices' replies follow from time). */
export const sandboxSimSms = sqliteTable(
  'sandbox_sim_sms',
  {
    id: text('id').primaryKey(),
    iccid: text('iccid').notNull(),
    message: text('message').notNull(),
    createdAt: ms('created_at').notNull(),
    cancelledAt: ms('cancelled_at'),
  },
  (t) => [index('sandbox_sim_sms_iccid_idx').on(t.iccid, t.createdAt)],
)

export type Sim = typeof sims.$inferSelect
export type SimQuota = typeof simQuotas.$inferSelect
export type SimEvent = typeof simEvents.$inferSelect
export type SimSms = typeof simSms.$inferSelect
export type SimTopup = typeof simTopups.$inferSelect
export type SimJob = typeof simJobs.$inferSelect

// ---- messaging (seed 004) ------------------------------------------------------------------

export const CONNECTOR_TYPES = ['whatsapp', 'telegram', 'twilio', 'sandbox'] as const
export const MESSAGE_STATUSES = ['queued', 'sent', 'delivered', 'read', 'failed'] as const

/** A messaging project: its keys, connectors, templates and messages belong to it. Deleting one is final (`deleted_at`). */
export const projects = sqliteTable(
  'projects',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    name: text('name').notNull(),
    description: text('description'),
    isActive: integer('is_active', { mode: 'boolean' }).notNull().default(true),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
    deletedAt: ms('deleted_at'),
  },
  (t) => [index('projects_user_created_idx').on(t.userId, t.createdAt)],
)

/** A project's channel: its credentials sealed with the secret box, only a masked hint readable. */
export const connectors = sqliteTable(
  'connectors',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    projectId: text('project_id')
      .notNull()
      .references(() => projects.id),
    type: text('type', { enum: CONNECTOR_TYPES }).notNull(),
    name: text('name').notNull(),
    /** `v1.<iv>.<ciphertext>` of the credentials' JSON (src/lib/secret-box.ts). */
    credentials: text('credentials').notNull(),
    credentialsHint: text('credentials_hint'),
    /** Pacing overrides: `{perSecond, perRecipientMs}`; absent keys take the type's defaults. */
    settings: text('settings', { mode: 'json' }).$type<{ perSecond?: number; perRecipientMs?: number }>().notNull().default({}),
    isActive: integer('is_active', { mode: 'boolean' }).notNull().default(true),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
    deletedAt: ms('deleted_at'),
  },
  (t) => [index('connectors_project_created_idx').on(t.projectId, t.createdAt)],
)

/** A message template: `{{name}}` placeholders, the declared variables equal to them. */
export const messageTemplates = sqliteTable(
  'message_templates',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    projectId: text('project_id')
      .notNull()
      .references(() => projects.id),
    name: text('name').notNull(),
    connectorType: text('connector_type', { enum: CONNECTOR_TYPES }).notNull(),
    content: text('content').notNull(),
    variables: text('variables', { mode: 'json' }).$type<string[]>().notNull(),
    isActive: integer('is_active', { mode: 'boolean' }).notNull().default(true),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
    deletedAt: ms('deleted_at'),
  },
  (t) => [index('message_templates_project_created_idx').on(t.projectId, t.createdAt)],
)

/**
 * One outbound message. Its id is fixed before any money moves (derived from the Idempotency-Key
 * when one is sent), its price held on the wallet (`<id>:hold`) until the connector accepts
 * (captured) or it fails for good (voided). `attempt_started_at` is written before each call to the
 * connector and cleared with its outcome: a redelivered queue message that finds it set without an
 * upstream id does not send blindly again (reconciliation).
 */
export const messages = sqliteTable(
  'messages',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    projectId: text('project_id')
      .notNull()
      .references(() => projects.id),
    connectorId: text('connector_id')
      .notNull()
      .references(() => connectors.id),
    connectorType: text('connector_type', { enum: CONNECTOR_TYPES }).notNull(),
    templateId: text('template_id'),
    /** The project key that sent it (null: a user session or an account API key). */
    apiKeyId: text('api_key_id'),
    to: text('to').notNull(),
    text: text('text').notNull(),
    status: text('status', { enum: MESSAGE_STATUSES }).notNull(),
    price: integer('price').notNull(),
    upstreamId: text('upstream_id'),
    metadata: text('metadata', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
    attempts: integer('attempts').notNull().default(0),
    attemptStartedAt: ms('attempt_started_at'),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    createdAt: ms('created_at').notNull(),
    sentAt: ms('sent_at'),
    deliveredAt: ms('delivered_at'),
    readAt: ms('read_at'),
    failedAt: ms('failed_at'),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    index('messages_project_created_idx').on(t.projectId, t.createdAt),
    index('messages_project_status_created_idx').on(t.projectId, t.status, t.createdAt),
    index('messages_project_type_created_idx').on(t.projectId, t.connectorType, t.createdAt),
    index('messages_user_created_idx').on(t.userId, t.createdAt),
    index('messages_connector_upstream_idx').on(t.connectorId, t.upstreamId),
    // The sweeper's look for queued messages never picked up (a partial index: only queued rows).
    index('messages_queued_created_idx').on(t.createdAt).where(sql`${t.status} = 'queued'`),
  ],
)

/**
 * What the sandbox connector accepted, by Switchboard's message id: a repeated send is the same
 * message upstream, and `sends` counts the calls (tests check that nothing is sent twice).
 */
export const sandboxMessages = sqliteTable(
  'sandbox_messages',
  {
    messageId: text('message_id').primaryKey(),
    upstreamId: text('upstream_id').notNull(),
    connectorKey: text('connector_key').notNull(),
    to: text('to').notNull(),
    text: text('text').notNull(),
    sends: integer('sends').notNull().default(1),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [index('sandbox_messages_upstream_idx').on(t.upstreamId)],
)

export type Project = typeof projects.$inferSelect
export type Connector = typeof connectors.$inferSelect
export type MessageTemplate = typeof messageTemplates.$inferSelect
export type Message = typeof messages.$inferSelect
