/**
 * Schemas of the DID feature (the views that fill them are in views.ts). Money leaves as decimals
 * (`1.25`), ids and instants as strings; `countryCode` is shown upper case (ISO 3166-1) and
 * accepted in any case.
 */
import { z } from '@hono/zod-openapi'
import { orders } from '../../db/schema'
import { displayText } from '../../lib/text'
import { checkWebhookUrl } from '../webhooks/url-guard'
import { BillingAddress } from '../payments/schemas'
import { Instant, Money, money } from '../../lib/http'

export const NUMBER_TYPES = ['LOCAL', 'TOLL_FREE', 'MOBILE', 'NATIONAL'] as const
export const CAPABILITIES = ['VOICE', 'SMS', 'MMS', 'FAX'] as const
export const NUMBER_STATUSES = ['active', 'pending', 'suspended', 'released'] as const

export const E164 = z
  .string()
  .trim()
  .regex(/^\+[1-9]\d{6,14}$/, 'Expected an E.164 number like +14155550123')
  .openapi({ example: '+14155550123' })

/**
 * Callback URLs of a number (voice, SMS, status). Never an internal address, in any spelling
 * (the webhook URL guard); whether plain http is allowed is decided per environment when
 * Switchboard itself calls the URL.
 */
const callbackUrl = (allowLoopback: boolean) =>
  z
    .url({ protocol: /^https?$/, error: 'Expected an http(s) URL' })
    .max(2048)
    .superRefine((url, ctx) => {
      const verdict = checkWebhookUrl(url, { allowHttp: true, allowLoopback })
      if (!verdict.ok) ctx.addIssue({ code: 'custom', message: `URL ${verdict.reason}` })
    })
const HttpUrl = callbackUrl(false)
/**
 * A number's smsUrl, which Switchboard calls itself: loopback passes here and is then allowed or
 * refused for this environment by `checkSmsUrls` (sms-url.ts) — the schema cannot see the config.
 * The voice URLs go to the upstream carrier, for which our loopback means nothing: never loopback.
 */
const SmsUrl = callbackUrl(true)
export const HttpMethod = z.enum(['GET', 'POST'])

/** The label a customer gives one of its numbers. */
export const FriendlyName = displayText({ max: 64 })

/**
 * A query parameter that may be repeated (`?status=a&status=b`) or comma-separated
 * (`?status=a,b`), matched case-insensitively against `allowed`.
 */
export function listParam<const T extends readonly string[]>(allowed: T, normalize: (s: string) => string = (s) => s) {
  return z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v, ctx): T[number][] | undefined => {
      if (v === undefined) return undefined
      const parts = (Array.isArray(v) ? v : [v])
        .flatMap((s) => s.split(','))
        .map((s) => normalize(s.trim()))
        .filter(Boolean)
      const bad = parts.filter((p) => !allowed.includes(p))
      if (bad.length) {
        ctx.addIssue({ code: 'custom', message: `Unknown value(s) ${bad.join(', ')}; expected any of ${allowed.join(', ')}` })
        return z.NEVER
      }
      return [...new Set(parts)] as T[number][]
    })
    .openapi({ type: 'array', items: { type: 'string', enum: [...allowed] }, description: `Repeat the parameter or separate values with commas. Any of ${allowed.join(', ')}.` })
}

/** `true`/`false`/`1`/`0` in a query string. */
export const QueryBool = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((v) => (v === undefined ? undefined : v === 'true' || v === '1'))
  .openapi({ type: 'boolean' })

const upper = (s: string) => s.toUpperCase()
const lower = (s: string) => s.toLowerCase()

// ---- Search -------------------------------------------------------------------------------

export const SearchQuery = z.object({
  countryCode: z
    .string()
    .trim()
    .regex(/^[A-Za-z]{2}$/, 'countryCode is an ISO 3166-1 alpha-2 code like US')
    .transform(lower)
    .openapi({ example: 'US', description: 'Required. ISO 3166-1 alpha-2, any case.' }),
  areaCode: z
    .string()
    .trim()
    .regex(/^\d{1,6}$/, 'areaCode is 1–6 digits')
    .optional()
    .openapi({ example: '415', description: 'Only numbers in this area code (1–6 digits)' }),
  contains: z
    .string()
    .trim()
    .regex(/^\+?[0-9A-Za-z*]{2,16}$/, 'contains is 2–16 characters of 0-9, A-Z and * (any one digit), optionally after a leading +')
    .optional()
    .openapi({
      example: '555**12',
      description:
        'Twilio-style pattern matched anywhere in the number: `*` is any one digit, letters are their keypad digits (`CALL` = 2255). A leading `+` anchors the pattern at the start of the E.164 number.',
    }),
  nearLatLong: z
    .string()
    .regex(/^-?\d+(\.\d+)?,-?\d+(\.\d+)?$/, 'nearLatLong is "lat,lng"')
    .optional()
    .openapi({ description: 'Accepted and echoed; the inventory has no coordinates, so it does not filter.' }),
  distance: z.coerce.number().positive().optional().openapi({ description: 'Accepted and echoed with nearLatLong; does not filter.' }),
  numberType: z
    .string()
    .transform(upper)
    .pipe(z.enum(NUMBER_TYPES))
    .optional()
    .openapi({ type: 'string', enum: [...NUMBER_TYPES], description: 'Only numbers of this type (any case)' }),
  capabilities: listParam(CAPABILITIES, upper),
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ example: 20, description: 'Default 20, at most 100' }),
  priceMax: z.coerce
    .number()
    .nonnegative()
    .optional()
    .openapi(money({ example: 2.5, description: 'Maximum monthly price' })),
  excludeRestricted: QueryBool.openapi({ description: 'When true, only numbers without restrictions (`true`/`false`/`1`/`0`)' }),
})
export type SearchQuery = z.infer<typeof SearchQuery>

const Pricing = z.object({ setupPrice: Money, monthlyPrice: Money, currency: z.string() })

export const AvailableNumber = z
  .object({
    phoneNumber: z.string(),
    friendlyName: z.string(),
    locality: z.string(),
    region: z.string(),
    countryCode: z.string(),
    areaCode: z.string(),
    numberType: z.enum(NUMBER_TYPES),
    capabilities: z.array(z.string()),
    pricing: Pricing,
    features: z.object({ smsEnabled: z.boolean(), mmsEnabled: z.boolean(), voiceEnabled: z.boolean(), faxEnabled: z.boolean() }),
    restrictions: z.array(z.string()),
  })
  .openapi('AvailableNumber')

export const NumberSearchResponse = z
  .object({
    numbers: z.array(AvailableNumber),
    searchCriteria: z.record(z.string(), z.unknown()),
    total: z.number().int(),
    hasMore: z.boolean(),
    suggestions: z.object({ alternativeAreaCodes: z.array(z.string()), nearbyRegions: z.array(z.string()) }).optional(),
  })
  .openapi('NumberSearchResponse')

// ---- Purchase -----------------------------------------------------------------------------

export const NumberRouting = z.object({
  voiceUrl: HttpUrl.optional(),
  voiceMethod: HttpMethod.optional(),
  smsUrl: SmsUrl.optional(),
  statusCallback: HttpUrl.optional(),
})

/** A payment method id (`pm_…`) or `wallet`, as purchases and order payments take it. */
export const paymentMethodRef = (description: string) => z.string().trim().min(1).max(100).optional().openapi({ description })

export const Billing = z
  .object({
    paymentMethodId: paymentMethodRef(
      'One of your payment methods (`pm_…`): the order total is charged to it and added to your wallet, then the order is paid ' +
        'from the wallet; what is not bought stays there. Omitted or `wallet`: paid from the wallet.',
    ),
    billingAddress: BillingAddress.optional(),
    promoCode: z
      .string()
      .max(50)
      .optional()
      .refine((v) => v === undefined, 'Promotions do not exist yet: remove promoCode')
      .openapi({ description: 'Not available: there are no promotions yet, so any value is a 400 VALIDATION_ERROR.' }),
  })
  .openapi('OrderBilling')

export const RoutingConfiguration = z.object({
  voiceUrl: HttpUrl,
  voiceMethod: HttpMethod,
  voiceFallbackUrl: HttpUrl.optional(),
  statusCallback: HttpUrl.optional(),
  recordCalls: z.boolean().optional(),
  transcribeCalls: z.boolean().optional(),
  callScreening: z.boolean().optional(),
})

export const PurchaseBody = z
  .object({
    numbers: z
      .array(z.object({ phoneNumber: E164, friendlyName: FriendlyName.optional(), configuration: NumberRouting.optional() }))
      .min(1)
      .max(20),
    billing: Billing.optional(),
    configuration: z.object({ autoActivate: z.boolean().optional(), defaultRouting: RoutingConfiguration.optional() }).optional(),
  })
  .openapi('NumberPurchaseRequest')
export type PurchaseBody = z.infer<typeof PurchaseBody>

export const PurchaseResult = z
  .object({
    order: z.object({ id: z.string(), orderNumber: z.string(), status: z.enum(orders.status.enumValues), totalAmount: Money, currency: z.string() }),
    results: z.array(
      z.object({
        phoneNumber: z.string(),
        status: z.enum(['SUCCESS', 'FAILED', 'PENDING']),
        numberId: z.string().optional(),
        error: z.string().optional().openapi({ description: 'Error code: NUMBER_NOT_AVAILABLE, UPSTREAM_ERROR, PROVIDER_UNAVAILABLE' }),
        message: z.string().optional(),
        estimatedActivation: z.string().optional(),
      }),
    ),
    summary: z.object({ totalRequested: z.number().int(), successful: z.number().int(), failed: z.number().int(), pending: z.number().int() }),
    nextSteps: z.object({ configurationUrl: z.string(), documentationUrl: z.string() }).optional(),
  })
  .openapi('NumberPurchaseResponse')
export type PurchaseResult = z.infer<typeof PurchaseResult>

// ---- Owned numbers ------------------------------------------------------------------------

export const NumberIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'pn_01jd6q0000a1b2c3d4e5f6g7h8', description: 'The phone number (DID) id' }),
})

export const ListNumbersQuery = z.object({
  page: z.coerce.number().int().min(1).default(1).openapi({ description: 'Page number, from 1' }),
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: 'Items per page (max 100)' }),
  status: listParam(NUMBER_STATUSES, lower),
  numberType: listParam(NUMBER_TYPES, upper),
  search: z.string().trim().min(1).max(64).optional().openapi({ description: 'Part of the phone number or friendly name' }),
  sortBy: z.enum(['phoneNumber', 'createdAt', 'monthlyPrice', 'lastUsed']).default('createdAt').openapi({ description: 'The field to sort by' }),
  sortOrder: z.enum(['asc', 'desc']).default('desc').openapi({ description: 'Ascending or descending' }),
  tags: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v) =>
      v === undefined
        ? undefined
        : [
            ...new Set(
              (Array.isArray(v) ? v : [v])
                .flatMap((s) => s.split(','))
                .map((s) => s.trim())
                .filter(Boolean),
            ),
          ],
    )
    .openapi({ type: 'array', items: { type: 'string' }, description: 'Numbers carrying every one of these tags (repeat the parameter or separate with commas)' }),
})
export type ListNumbersQuery = z.infer<typeof ListNumbersQuery>

export const UserNumber = z
  .object({
    id: z.string(),
    phoneNumber: z.string(),
    friendlyName: z.string().nullable(),
    countryCode: z.string(),
    region: z.string().nullable(),
    locality: z.string().nullable(),
    areaCode: z.string().nullable(),
    numberType: z.enum(NUMBER_TYPES),
    capabilities: z.array(z.string()),
    status: z.enum(NUMBER_STATUSES),
    voiceUrl: z.string().nullable(),
    voiceMethod: z.string().nullable(),
    voiceFallbackUrl: z.string().nullable(),
    smsUrl: z.string().nullable(),
    statusCallback: z.string().nullable(),
    features: z.record(z.string(), z.boolean()),
    monthlyPrice: Money,
    setupPrice: z.number().nullable().openapi(money()),
    currency: z.string(),
    usage: z
      .object({
        totalCalls: z.number().int(),
        totalSms: z.number().int(),
        monthlyMinutes: z.number(),
        monthlySms: z.number().int(),
        lastUsedAt: Instant.nullable(),
      })
      .openapi({
        description:
          "`totalCalls`: all the number's calls; `monthlyMinutes`: their minutes this calendar month (UTC) — the call records " +
          'GET /api/v1/analytics/calls counts (`call_minutes` usage records naming the number). `totalSms` / `monthlySms`: SMS received on it.',
      }),
    tags: z.array(z.string()),
    notes: z.string().nullable(),
    orderId: z.string().nullable(),
    nextRenewalAt: Instant.nullable(),
    scheduledReleaseAt: Instant.nullable().openapi({ description: 'Set while a release is scheduled (DELETE with a future releaseDate)' }),
    releaseReason: z.string().nullable(),
    releasedAt: Instant.nullable(),
    purchasedAt: Instant,
    createdAt: Instant,
    updatedAt: Instant,
  })
  .openapi('UserNumber')

export const NumbersSummary = z.object({ totalNumbers: z.number().int(), activeNumbers: z.number().int(), monthlyTotal: Money, currency: z.string() }).openapi('NumbersSummary')

const Usage = z.object({ calls: z.number().int(), minutes: z.number(), sms: z.number().int(), cost: Money })

export const NumberConfigurationView = z
  .object({
    id: z.string(),
    phoneNumberId: z.string(),
    name: z.string(),
    isActive: z.boolean(),
    routingRules: z.record(z.string(), z.unknown()),
    schedule: z.record(z.string(), z.unknown()).nullable(),
    features: z.record(z.string(), z.boolean()),
    createdAt: Instant,
  })
  .openapi('NumberConfiguration')

export const NumberDetails = UserNumber.extend({
  configurations: z.array(NumberConfigurationView),
  recentCalls: z.array(
    z.object({
      id: z.string(),
      from: z.string(),
      to: z.string(),
      direction: z.string(),
      status: z.string(),
      duration: z.number().nullable(),
      createdAt: Instant,
    }),
  ),
  analytics: z.object({ thisMonth: Usage, lastMonth: Usage }),
}).openapi('NumberDetailsResponse')

export const UpdateNumberBody = z
  .strictObject({
    friendlyName: FriendlyName.nullable().optional(),
    voiceUrl: HttpUrl.nullable().optional(),
    voiceMethod: HttpMethod.nullable().optional(),
    voiceFallbackUrl: HttpUrl.nullable().optional(),
    smsUrl: SmsUrl.nullable().optional(),
    statusCallback: HttpUrl.nullable().optional(),
    tags: z
      .array(displayText({ min: 1, max: 50 }))
      .max(20)
      .optional(),
    notes: displayText({ max: 1000, multiline: true }).nullable().optional(),
    configuration: z
      .strictObject({
        recordCalls: z.boolean().optional(),
        transcribeCalls: z.boolean().optional(),
        callScreening: z.boolean().optional(),
        voicemail: z.boolean().optional(),
      })
      .optional(),
  })
  .openapi('UpdateNumberRequest')
export type UpdateNumberBody = z.infer<typeof UpdateNumberBody>

export const ConfigureNumberBody = z
  .object({
    configuration: z.object({
      name: displayText({ min: 1, max: 100 }),
      routingRules: z.record(z.string(), z.unknown()),
      schedule: z
        .object({
          timezone: z.string().min(1).max(64),
          businessHours: z.array(
            z.object({
              dayOfWeek: z.array(z.number().int().min(0).max(6)).min(1),
              timeFrom: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM'),
              timeTo: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM'),
            }),
          ),
        })
        .optional(),
      features: z.object({
        recordCalls: z.boolean(),
        transcribeCalls: z.boolean(),
        callScreening: z.boolean(),
        callQueue: z.boolean(),
        voicemail: z.boolean(),
      }),
    }),
    makeDefault: z.boolean().optional(),
  })
  .openapi('ConfigureNumberRequest')
export type ConfigureNumberBody = z.infer<typeof ConfigureNumberBody>

export const ReleaseNumberBody = z
  .object({
    releaseDate: z.iso.datetime({ offset: true }).optional().openapi({ description: 'A future instant schedules the release; absent or past releases now' }),
    reason: displayText({ max: 500, multiline: true }).optional(),
    transferTo: z.string().max(100).optional().openapi({ description: 'Not supported: answered 400 TRANSFER_NOT_SUPPORTED' }),
  })
  .openapi('ReleaseNumberRequest')
export type ReleaseNumberBody = z.infer<typeof ReleaseNumberBody>

// ---- Reservations -------------------------------------------------------------------------

export const ReservationIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(80)
    .openapi({ param: { name: 'id', in: 'path' }, description: 'A reservation id, or the id of one of its numbers' }),
})

export const CreateReservationBody = z.object({ phoneNumbers: z.array(E164).min(1).max(20) }).openapi('CreateNumberReservationRequest')

export const ReservedNumber = z.object({
  id: z.string().nullable().openapi({ description: "This number's reservation id (null when it could not be reserved)" }),
  phoneNumber: z.string(),
  status: z.enum(['reserved', 'failed', 'expired', 'released', 'purchased']),
  expiresAt: Instant.nullable(),
  error: z.string().optional(),
})

export const ReservationView = z
  .object({
    id: z.string(),
    status: z.enum(['active', 'partial', 'expired', 'released', 'purchased']),
    expiresAt: Instant.nullable(),
    createdAt: Instant,
    phoneNumbers: z.array(ReservedNumber),
  })
  .openapi('NumberReservation')
export type ReservationView = z.infer<typeof ReservationView>
