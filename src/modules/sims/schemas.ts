/**
 * Schemas of the SIM API (seed 002): fields in snake_case as the document writes them. Volumes are
 * bytes (data) or messages (SMS); instants ISO 8601; money decimals in USD. Every SIM answer carries
 * `iccid` (19 digits) and `iccid_with_luhn` (20, with the Luhn check digit).
 */
import { z } from '@hono/zod-openapi'
import { QUOTA_TYPES, SIM_EVENT_CATEGORIES, SIM_SMS_STATUSES, SIM_STATUSES } from '../../db/schema'
import { dateParam, parseDate } from '../../lib/dates'
import { displayText } from '../../lib/text'
import { SMS_MAX_UNITS, smsTextProblem } from './sms-text'
import { Instant, Money, money } from '../../lib/http'

export const SIM_SORT_KEYS = ['created_at', 'updated_at', 'label', 'iccid', 'activation_date', 'status'] as const

/** A path's ICCID: 19 or 20 digits; checked by parseIccid (400 INVALID_ICCID), not here, so the code is the documented one. */
export const IccidParam = z.object({
  iccid: z.string().openapi({ param: { name: 'iccid', in: 'path' }, example: '8988228666000000001', description: "The SIM's ICCID: 19 digits, or 20 with the Luhn check digit" }),
})

export const Iccid = z.string().openapi({ example: '8988228666000000001', description: '19 digits, without the Luhn check digit' })
export const IccidWithLuhn = z.string().openapi({ example: '89882286660000000013', description: 'The ICCID with its Luhn check digit (20 digits)' })

/** `{ total, page, page_size, total_pages, has_next, has_prev }`: the SIM API's list style. */
export const SimPagination = z
  .object({
    total: z.number().int(),
    page: z.number().int(),
    page_size: z.number().int(),
    total_pages: z.number().int(),
    has_next: z.boolean(),
    has_prev: z.boolean(),
  })
  .openapi('SimPagination')

export function simPagination(page: number, pageSize: number, total: number): z.infer<typeof SimPagination> {
  const totalPages = Math.max(1, Math.ceil(total / pageSize))
  return { total, page, page_size: pageSize, total_pages: totalPages, has_next: page < totalPages, has_prev: page > 1 }
}

export const SimPageQuery = {
  page: z.coerce.number().int().min(1).default(1).openapi({ example: 1, description: 'Page number, from 1' }),
  page_size: z.coerce.number().int().min(1).max(100).default(50).openapi({ example: 50, description: 'Items per page (max 100)' }),
}

export const ListSimsQuery = z.object({
  ...SimPageQuery,
  status: z.enum(SIM_STATUSES).optional().openapi({ description: 'Only SIMs in this status' }),
  organization_id: z.coerce.number().int().optional().openapi({ description: 'Accepted for compatibility: SIMs have no organization here (`organization_id` is null), so a value matches none.' }),
  search: z.string().trim().min(1).max(64).optional().openapi({ description: 'The start of an ICCID (digits), or part of a label' }),
  sort_by: z.enum(SIM_SORT_KEYS).default('created_at').openapi({ description: 'The field to sort by' }),
  sort_order: z.enum(['asc', 'desc']).default('desc').openapi({ description: 'Ascending or descending' }),
})

export const SimStatus = z.enum(SIM_STATUSES)

export const SimSummary = z
  .object({
    id: z.number().int(),
    iccid: Iccid,
    iccid_with_luhn: IccidWithLuhn,
    imsi: z.string().nullable(),
    msisdn: z.string().nullable(),
    status: SimStatus,
    label: z.string().nullable(),
    ip_address: z.string().nullable(),
    imei: z.string().nullable(),
    organization_id: z.number().int().nullable(),
    activation_date: Instant.nullable(),
    created_at: Instant,
    updated_at: Instant,
  })
  .openapi('SimSummary')

export const SimDetails = SimSummary.extend({
  ipv6_address: z.string().nullable(),
  imei_lock: z.boolean(),
  current_rat: z.string().nullable(),
  current_country: z.string().nullable(),
  current_operator: z.string().nullable(),
  tags: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()),
  last_synced_at: Instant.nullable(),
}).openapi('SimDetails')

const Label = displayText({ max: 128 })
const Tags = z.array(z.string().trim().min(1).max(64)).max(32)
const Metadata = z.record(z.string().max(64), z.unknown()).refine((m) => Object.keys(m).length <= 50 && JSON.stringify(m).length <= 4096, { message: 'At most 50 keys and 4 KB' })

export const CreateSimsBody = z
  .object({
    sims: z
      .array(
        z.object({
          iccid: z.string().openapi({ example: '8988228666000000001' }),
          label: Label.optional(),
          imei_lock: z.boolean().optional(),
          tags: Tags.optional(),
          metadata: Metadata.optional(),
        }),
      )
      .min(1)
      .max(100),
  })
  .openapi('CreateSims')

export const CreatedSims = z
  .object({
    created: z.number().int(),
    failed: z.number().int(),
    sims: z.array(
      z.object({
        iccid: z.string(),
        iccid_with_luhn: z.string().optional(),
        id: z.number().int().optional(),
        status: z.enum(['created', 'failed']),
        error: z.object({ code: z.string(), message: z.string() }).optional(),
      }),
    ),
  })
  .openapi('CreatedSims')

export const UpdateSimBody = z
  .object({
    label: Label.nullable().optional(),
    imei_lock: z.boolean().optional(),
    tags: Tags.optional(),
    metadata: Metadata.optional(),
    status: z.enum(['Enabled', 'Disabled']).optional().openapi({ description: 'Enable or disable the SIM at the provider' }),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'Nothing to change' })
  .openapi('UpdateSim')

export const UpdatedSim = z
  .object({
    iccid: Iccid,
    iccid_with_luhn: IccidWithLuhn,
    status: SimStatus,
    label: z.string().nullable(),
    imei_lock: z.boolean(),
    tags: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()),
    updated_at: Instant,
  })
  .openapi('UpdatedSim')

export const SimStatusView = z
  .object({
    iccid: Iccid,
    iccid_with_luhn: IccidWithLuhn,
    status: SimStatus,
    status_details: z.object({ is_active: z.boolean(), is_expired: z.boolean(), is_suspended: z.boolean() }),
    activation_date: Instant.nullable(),
    last_checked: z.string().nullable(),
  })
  .openapi('SimStatus')

export const Connectivity = z
  .object({
    iccid: Iccid,
    iccid_with_luhn: IccidWithLuhn,
    connected: z.boolean(),
    connection_details: z.object({
      cell_id: z.string().nullable(),
      signal_strength: z.number().nullable(),
      signal_quality: z.number().nullable(),
      rat: z.string().nullable(),
      country_code: z.string().nullable(),
      operator_name: z.string().nullable(),
      mcc: z.string().nullable(),
      mnc: z.string().nullable(),
      apn: z.string().nullable(),
    }),
    timestamp: Instant,
  })
  .openapi('SimConnectivity')

export const ResetBody = z.object({ reset_type: z.enum(['soft', 'hard']).default('soft') }).openapi('SimReset')

export const ResetStarted = z
  .object({
    iccid: Iccid,
    iccid_with_luhn: IccidWithLuhn,
    reset_initiated: z.boolean(),
    reset_type: z.string(),
    expected_completion: z.string(),
    status_url: z.string(),
  })
  .openapi('SimResetStarted')

export const ResetStatus = z
  .object({
    iccid: Iccid,
    iccid_with_luhn: IccidWithLuhn,
    status: z.enum(['in_progress', 'completed', 'failed']),
    reset_type: z.string().nullable(),
    requested_at: Instant,
    expected_completion: z.string().nullable(),
  })
  .openapi('SimResetStatus')

export const ListEventsQuery = z.object({
  ...SimPageQuery,
  start_date: dateParam('Events from this instant.').optional(),
  end_date: dateParam('Events up to this instant (a date: the whole day).').optional(),
  event_type: z.string().trim().min(1).max(64).optional().openapi({ description: 'Only events of this type' }),
})

export const SimEventView = z
  .object({
    id: z.number().int(),
    event_type: z.string(),
    event_category: z.enum(SIM_EVENT_CATEGORIES),
    severity: z.enum(['info', 'warning', 'critical']),
    description: z.string(),
    event_data: z.record(z.string(), z.unknown()).optional(),
    timestamp: Instant,
  })
  .openapi('SimEvent')

export const UsageQuery = z.object({
  start_date: dateParam('First day (default: 30 days ago).').optional(),
  end_date: dateParam('Last day (default: today).').optional(),
  granularity: z.enum(['daily', 'weekly', 'monthly']).default('daily').openapi({ description: 'The length of each usage bucket' }),
})

const UsageRow = z.object({
  date: z.string(),
  volume_rx: z.number().int(),
  volume_tx: z.number().int(),
  total_volume: z.number().int(),
  sms_mo: z.number().int(),
  sms_mt: z.number().int(),
  session_count: z.number().int(),
})

export const SimUsage = z
  .object({
    iccid: Iccid,
    iccid_with_luhn: IccidWithLuhn,
    period: z.object({ start: z.string(), end: z.string() }),
    granularity: z.enum(['daily', 'weekly', 'monthly']),
    usage: z.array(UsageRow),
    summary: z.object({
      total_volume: z.number().int(),
      total_volume_rx: z.number().int(),
      total_volume_tx: z.number().int(),
      total_sms_mo: z.number().int(),
      total_sms_mt: z.number().int(),
      average_daily_volume: z.number().int(),
      peak_daily_volume: z.number().int(),
      peak_date: z.string().nullable(),
    }),
  })
  .openapi('SimUsage')

export const QuotaType = z.enum(QUOTA_TYPES)

export const QuotaView = z
  .object({
    iccid: Iccid,
    iccid_with_luhn: IccidWithLuhn,
    quota_type: QuotaType,
    volume: z.number().int(),
    used_volume: z.number().int(),
    remaining_volume: z.number().int(),
    percentage_used: z.number(),
    status: z.enum(['Active', 'Exhausted', 'Expired']),
    threshold_percentage: z.number().int(),
    threshold_volume: z.number().int(),
    threshold_reached: z.boolean(),
    auto_reload: z.boolean(),
    auto_reload_amount: z.number().int().nullable(),
    last_volume_added: z.number().int().nullable(),
    last_status_change_date: Instant.nullable(),
    expiry_date: Instant.nullable(),
  })
  .openapi('SimQuota')

/** Largest single top-up: 100 GiB of data, or 100,000 SMS. */
export const MAX_TOPUP = { data: 100 * 1024 ** 3, sms: 100_000 } as const

export const TopUpBody = z
  .object({
    quota_type: QuotaType,
    volume: z.number().int().positive().openapi({ example: 104857600, description: 'Bytes (data; charged per started MiB) or messages (sms)' }),
  })
  .superRefine((b, ctx) => {
    if (b.volume > MAX_TOPUP[b.quota_type]) ctx.addIssue({ code: 'custom', path: ['volume'], message: `At most ${MAX_TOPUP[b.quota_type]} for ${b.quota_type}` })
  })
  .openapi('SimTopUp')

export const TopUpResult = z
  .object({
    iccid: Iccid,
    iccid_with_luhn: IccidWithLuhn,
    quota_type: QuotaType,
    volume_added: z.number().int(),
    new_total: z.number().int(),
    new_remaining: z.number().int(),
    transaction_id: z.string(),
    price: z.number().openapi(money({ description: 'What the top-up cost, taken from the wallet' })),
    currency: z.literal('USD'),
    timestamp: Instant,
  })
  .openapi('SimTopUpResult')

/** Most SIMs in one bulk top-up. */
export const MAX_BULK_TOPUP = 10_000

export const BulkTopUpBody = z
  .object({
    sims: z
      .array(z.object({ iccid: z.string(), quota_type: QuotaType, volume: z.number().int().positive() }))
      .min(1)
      .max(MAX_BULK_TOPUP),
  })
  .openapi('SimBulkTopUp')

export const BulkTopUpAccepted = z
  .object({
    job_id: z.string(),
    status: z.enum(['processing', 'completed']),
    total_sims: z.number().int(),
    status_url: z.string(),
  })
  .openapi('SimBulkTopUpAccepted')

export const AutoTopUpBody = z
  .object({
    sims: z.array(z.string()).min(1).max(100),
    quota_type: QuotaType.default('data'),
    threshold_percentage: z.number().int().min(1).max(99).default(80),
    topup_amount: z.number().int().positive().openapi({ example: 104857600, description: 'Bytes (data) or messages (sms) added at each crossing' }),
    enabled: z.boolean().default(true),
  })
  .superRefine((b, ctx) => {
    if (b.topup_amount > MAX_TOPUP[b.quota_type]) ctx.addIssue({ code: 'custom', path: ['topup_amount'], message: `At most ${MAX_TOPUP[b.quota_type]} for ${b.quota_type}` })
  })
  .openapi('SimAutoTopUp')

export const AutoTopUpResult = z
  .object({
    configured_sims: z.number().int(),
    failed_sims: z.number().int(),
    details: z.array(
      z.object({
        iccid: z.string(),
        status: z.enum(['configured', 'failed']),
        enabled: z.boolean().optional(),
        threshold: z.number().int().optional(),
        topup_amount: z.number().int().optional(),
        error: z.object({ code: z.string(), message: z.string() }).optional(),
      }),
    ),
  })
  .openapi('SimAutoTopUpResult')

export const JobIdParam = z.object({
  job_id: z.string().openapi({ param: { name: 'job_id', in: 'path' }, example: 'job_01hx0000000000000000000000', description: 'The job id a bulk request answered with' }),
})

export const JobQuery = z.object({
  page: z.coerce.number().int().min(1).default(1).openapi({ description: 'Page of the results, from 1' }),
  page_size: z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: 'Results per page (max 1000)' }),
})

export const JobView = z
  .object({
    job_id: z.string(),
    type: z.literal('sim_topup'),
    status: z.enum(['processing', 'completed']),
    total_sims: z.number().int(),
    processed: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    pending: z.number().int(),
    total_price: Money,
    currency: z.literal('USD'),
    created_at: Instant,
    completed_at: Instant.nullable(),
    results: z.array(
      z.object({
        index: z.number().int().openapi({ description: "The SIM's place in the request (from 0)" }),
        iccid: z.string().nullable().openapi({ description: 'As stored (19 digits), or as sent when invalid; null while its chunk has not run yet' }),
        quota_type: QuotaType.nullable(),
        volume: z.number().int().nullable(),
        status: z.enum(['pending', 'succeeded', 'failed']),
        transaction_id: z.string(),
        price: Money,
        new_total: z.number().int().nullable(),
        new_remaining: z.number().int().nullable(),
        error: z.object({ code: z.string(), message: z.string() }).nullable(),
      }),
    ),
  })
  .openapi('SimJob')

// ---- SMS --------------------------------------------------------------------------------------

/** Days ahead an SMS's `expiry_date` may be. */
export const SMS_MAX_EXPIRY_DAYS = 7

export const SmsParam = z.object({
  iccid: z.string().openapi({ param: { name: 'iccid', in: 'path' }, example: '8988228666000000001', description: "The SIM's ICCID: 19 digits, or 20 with the Luhn check digit" }),
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'sms_01hx0000000000000000000000', description: 'The `sms_id`, or the integer `id`' }),
})

export const SmsDirection = z.enum(['MO', 'MT']).openapi({ description: 'MT: sent to the device; MO: sent by the device' })
export const SmsStatus = z.enum(SIM_SMS_STATUSES)

export const ListSmsQuery = z.object({
  ...SimPageQuery,
  direction: SmsDirection.optional(),
  start_date: dateParam('Messages created from this instant.').optional(),
  end_date: dateParam('Messages created up to this instant (a date: the whole day).').optional(),
  status: SmsStatus.optional().openapi({ description: 'Only messages in this status' }),
})

export const SimSmsView = z
  .object({
    id: z.number().int(),
    sms_id: z.string(),
    direction: SmsDirection,
    message: z.string(),
    encoding: z.enum(['GSM7', 'UCS2']),
    status: SmsStatus,
    created_at: Instant,
    sent_at: Instant.nullable(),
    delivered_at: Instant.nullable(),
  })
  .openapi('SimSms')

export const SimSmsDetails = SimSmsView.extend({ iccid: Iccid }).openapi('SimSmsDetails')

/** A sender shown on the device: a number (up to 20 digits, `+` for international) or up to 11 letters and digits. */
const SourceAddress = z.string().regex(/^(\+?\d{1,20}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11})$/, { message: 'A number (up to 20 digits, optionally with +) or up to 11 letters, digits and spaces' })

export const SendSmsBody = z
  .object({
    message: z.string().min(1).openapi({ example: 'Reboot device now' }),
    encoding: z.enum(['GSM7', 'UCS2']).default('GSM7'),
    expiry_date: z
      .string()
      .refine((s) => parseDate(s)?.isDay === false, { message: 'Expected an ISO 8601 date-time such as 2026-03-01T10:00:00Z' })
      .optional()
      .openapi({ description: `When the provider stops trying to deliver: in the future, at most ${SMS_MAX_EXPIRY_DAYS} days ahead` }),
    source_address: SourceAddress.optional().openapi({ description: 'The sender the device sees (some devices need one)' }),
  })
  .strict()
  .superRefine((b, ctx) => {
    const problem = smsTextProblem(b.message, b.encoding)
    if (problem) ctx.addIssue({ code: 'custom', path: ['message'], message: problem })
  })
  .openapi('SendSimSms', {
    description: `One SMS: at most ${SMS_MAX_UNITS.GSM7} GSM-7 characters (the GSM 03.38 alphabet; ^ { } \\ [ ~ ] | € count 2) or ${SMS_MAX_UNITS.UCS2} UCS-2 characters (UTF-16 code units). Longer messages are refused, not split.`,
  })

export const SmsAccepted = z
  .object({
    sms_id: z.string(),
    iccid: Iccid,
    message: z.string(),
    status: z.literal('pending'),
    created_at: Instant,
    status_url: z.string(),
  })
  .openapi('SimSmsAccepted')

// ---- limits -----------------------------------------------------------------------------------

const Limit = z.number().int().min(0).nullable()

export const SimLimitsView = z
  .object({
    daily_data_limit: z.number().int().nullable().openapi({ description: 'Bytes per day; null: none' }),
    monthly_data_limit: z.number().int().nullable().openapi({ description: 'Bytes per month; null: none' }),
    daily_sms_limit: z.number().int().nullable(),
    monthly_sms_limit: z.number().int().nullable(),
    enforce_limits: z.boolean(),
  })
  .openapi('SimLimits')

export const SetLimitsBody = z
  .object({
    daily_data_limit: Limit.optional().openapi({ example: 10485760, description: 'Bytes per day; null removes the limit' }),
    monthly_data_limit: Limit.optional().openapi({ example: 314572800 }),
    daily_sms_limit: Limit.optional().openapi({ example: 100 }),
    monthly_sms_limit: Limit.optional().openapi({ example: 1000 }),
    enforce_limits: z.boolean().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'Nothing to set' })
  .openapi('SetSimLimits')

export const SimLimitsUpdated = SimLimitsView.extend({ updated_at: Instant }).openapi('SimLimitsUpdated')
