/** SIM records as the SIM API shows them (schemas.ts): snake_case, ISO instants, both ICCID forms. */
import type { z } from '@hono/zod-openapi'
import type { Sim, SimEvent, SimQuota, SimSms, SimTopup } from '../../db/schema'
import { fromMicros } from '../../lib/money'
import { luhnCheckDigit } from './iccid'
import { thresholdVolume } from './observe'
import type { SimLimits } from './sim-limits.service'
import type { QuotaView, SimDetails, SimEventView, SimLimitsView, SimSmsDetails, SimSmsView, SimSummary, SmsAccepted, TopUpResult } from './schemas'

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null)

export const withLuhn = (iccid: string) => `${iccid}${luhnCheckDigit(iccid)}`

export const iccidView = (iccid: string) => ({ iccid, iccid_with_luhn: withLuhn(iccid) })

export function simSummaryView(s: Sim): z.infer<typeof SimSummary> {
  return {
    id: s.id,
    ...iccidView(s.iccid),
    imsi: s.imsi,
    msisdn: s.msisdn,
    status: s.status,
    label: s.label,
    ip_address: s.ipAddress,
    imei: s.imei,
    organization_id: null,
    activation_date: iso(s.activationDate),
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
  }
}

export function simDetailsView(s: Sim): z.infer<typeof SimDetails> {
  return {
    ...simSummaryView(s),
    ipv6_address: s.ipv6Address,
    imei_lock: s.imeiLock,
    current_rat: s.currentRat,
    current_country: s.currentCountry,
    current_operator: s.currentOperator,
    tags: s.tags,
    metadata: s.metadata,
    last_synced_at: iso(s.lastSyncedAt),
  }
}

export function quotaView(iccid: string, q: SimQuota): z.infer<typeof QuotaView> {
  const remaining = Math.max(0, q.volume - q.usedVolume)
  return {
    ...iccidView(iccid),
    quota_type: q.quotaType,
    volume: q.volume,
    used_volume: q.usedVolume,
    remaining_volume: remaining,
    percentage_used: q.volume > 0 ? Math.round((q.usedVolume / q.volume) * 1000) / 10 : 100,
    status: q.status,
    threshold_percentage: q.thresholdPercentage,
    threshold_volume: thresholdVolume(q.volume, q.thresholdPercentage),
    threshold_reached: q.thresholdReached,
    auto_reload: q.autoReload,
    auto_reload_amount: q.autoReloadAmount,
    last_volume_added: q.lastVolumeAdded,
    last_status_change_date: iso(q.lastStatusChangeDate),
    expiry_date: iso(q.expiryDate),
  }
}

export function simEventView(e: SimEvent): z.infer<typeof SimEventView> {
  return {
    id: e.id,
    event_type: e.eventType,
    event_category: e.eventCategory,
    severity: e.severity,
    description: e.description,
    ...(e.eventData ? { event_data: e.eventData } : {}),
    timestamp: e.occurredAt.toISOString(),
  }
}

export function topUpResultView(t: SimTopup): z.infer<typeof TopUpResult> {
  return {
    ...iccidView(t.iccid),
    quota_type: t.quotaType,
    volume_added: t.volume,
    new_total: t.newTotal ?? 0,
    new_remaining: t.newRemaining ?? 0,
    transaction_id: t.id,
    price: fromMicros(t.amount),
    currency: 'USD',
    timestamp: t.updatedAt.toISOString(),
  }
}

export function simSmsView(m: SimSms): z.infer<typeof SimSmsView> {
  return {
    id: m.id,
    sms_id: m.smsId,
    direction: m.direction,
    message: m.message,
    encoding: m.encoding,
    status: m.status,
    created_at: m.createdAt.toISOString(),
    sent_at: iso(m.sentAt),
    delivered_at: iso(m.deliveredAt),
  }
}

export function simSmsDetailsView(iccid: string, m: SimSms): z.infer<typeof SimSmsDetails> {
  const { id, sms_id, ...rest } = simSmsView(m)
  return { id, sms_id, iccid, ...rest }
}

export function smsAcceptedView(iccid: string, m: SimSms): z.infer<typeof SmsAccepted> {
  return {
    sms_id: m.smsId,
    iccid,
    message: m.message,
    status: 'pending',
    created_at: m.createdAt.toISOString(),
    status_url: `/api/v1/sims/${iccid}/sms/${m.smsId}`,
  }
}

export function simLimitsView(l: SimLimits): z.infer<typeof SimLimitsView> {
  return {
    daily_data_limit: l.dailyDataLimit,
    monthly_data_limit: l.monthlyDataLimit,
    daily_sms_limit: l.dailySmsLimit,
    monthly_sms_limit: l.monthlySmsLimit,
    enforce_limits: l.enforceLimits,
  }
}
