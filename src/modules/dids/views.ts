/**
 * What the DID API shows of its records: the services of this module return rows and domain
 * records, the routes shape them here. Money leaves as decimals (`1.25`), instants as ISO
 * strings, `countryCode` upper case.
 */
import type { z } from '@hono/zod-openapi'
import type { DidInventory, PhoneNumber } from '../../db/schema'
import { fromMicros } from '../../lib/money'
import { iso } from '../../lib/time'
import type { CallCounts, NumberConfiguration, NumberDetailsRecord, NumberStats, NumberWithUsage, SearchResult, SmsCounts } from './dids.service'
import { failedReservationEntry, type Reservation, type ReservationRow } from './reservations.service'
import type { AvailableNumber, NumberSearchResponse, NumbersSummary, ReservationView, SearchQuery, UserNumber } from './schemas'

// ---- search -------------------------------------------------------------------------------

/** `(415) 555-0123` for North American numbers, the E.164 text otherwise. */
export function friendlyNumber(e164: string): string {
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164)
  return m ? `(${m[1]}) ${m[2]}-${m[3]}` : e164
}

export function availableNumberView(r: DidInventory): z.infer<typeof AvailableNumber> {
  const caps = r.capabilities
  return {
    phoneNumber: r.phoneNumber,
    friendlyName: friendlyNumber(r.phoneNumber),
    locality: r.locality ?? '',
    region: r.region ?? '',
    countryCode: r.countryCode.toUpperCase(),
    areaCode: r.areaCode ?? '',
    numberType: r.numberType,
    capabilities: caps,
    pricing: { setupPrice: fromMicros(r.setupPrice), monthlyPrice: fromMicros(r.monthlyPrice), currency: 'USD' },
    features: {
      smsEnabled: caps.includes('SMS'),
      mmsEnabled: caps.includes('MMS'),
      voiceEnabled: caps.includes('VOICE'),
      faxEnabled: caps.includes('FAX'),
    },
    restrictions: r.restrictions,
  }
}

/** The search's answer; `searchCriteria` echoes the query as understood (country upper case). */
export function searchView(q: SearchQuery, r: SearchResult): z.infer<typeof NumberSearchResponse> {
  const searchCriteria = Object.fromEntries(Object.entries({ ...q, countryCode: q.countryCode.toUpperCase() }).filter(([, v]) => v !== undefined))
  const out: z.infer<typeof NumberSearchResponse> = { numbers: r.numbers.map(availableNumberView), searchCriteria, total: r.total, hasMore: r.hasMore }
  if (r.suggestions) out.suggestions = r.suggestions
  return out
}

// ---- the account's numbers ----------------------------------------------------------------

export function userNumberView(n: PhoneNumber, sms: SmsCounts = { totalSms: 0, monthlySms: 0 }, calls?: CallCounts): z.infer<typeof UserNumber> {
  return {
    id: n.id,
    phoneNumber: n.phoneNumber,
    friendlyName: n.friendlyName,
    countryCode: n.countryCode.toUpperCase(),
    region: n.region,
    locality: n.locality,
    areaCode: n.areaCode,
    numberType: n.numberType,
    capabilities: n.capabilities,
    status: n.status,
    voiceUrl: n.voiceUrl,
    voiceMethod: n.voiceMethod,
    voiceFallbackUrl: n.voiceFallbackUrl,
    smsUrl: n.smsUrl,
    statusCallback: n.statusCallback,
    features: n.features,
    monthlyPrice: fromMicros(n.monthlyPrice),
    setupPrice: n.setupPrice === null ? null : fromMicros(n.setupPrice),
    currency: n.currency,
    usage: {
      totalCalls: calls?.totalCalls ?? 0,
      totalSms: Number(sms.totalSms),
      monthlyMinutes: calls?.thisMonth.minutes ?? 0,
      monthlySms: Number(sms.monthlySms),
      lastUsedAt: iso(n.lastUsedAt),
    },
    tags: n.tags,
    notes: n.notes,
    orderId: n.orderId,
    nextRenewalAt: iso(n.nextRenewalAt),
    scheduledReleaseAt: n.status === 'released' ? null : iso(n.releaseAt),
    releaseReason: n.releaseReason,
    releasedAt: iso(n.releasedAt),
    purchasedAt: iso(n.purchasedAt)!,
    createdAt: iso(n.createdAt)!,
    updatedAt: iso(n.updatedAt)!,
  }
}

export const numberWithUsageView = (u: NumberWithUsage) => userNumberView(u.number, u.sms, u.calls)

export function numbersSummaryView(s: NumberStats): z.infer<typeof NumbersSummary> {
  return { totalNumbers: s.live, activeNumbers: s.active, monthlyTotal: fromMicros(s.monthlyTotal), currency: 'USD' }
}

export function configurationView(c: NumberConfiguration) {
  return {
    id: c.id,
    phoneNumberId: c.phoneNumberId,
    name: c.name,
    isActive: c.isActive,
    routingRules: c.routingRules,
    schedule: c.schedule ?? null,
    features: c.features,
    createdAt: iso(c.createdAt)!,
  }
}

export function numberDetailsView(d: NumberDetailsRecord) {
  const { sms: s, calls: c } = d
  return {
    ...userNumberView(d.number, { totalSms: s.total, monthlySms: Number(s.thisMonth) }, c),
    configurations: d.configurations.map(configurationView),
    // Calls are usage records (minutes, cost), not call detail records: there is no call to list.
    recentCalls: [],
    analytics: {
      thisMonth: { calls: c.thisMonth.calls, minutes: c.thisMonth.minutes, sms: Number(s.thisMonth), cost: fromMicros(c.thisMonth.cost) },
      lastMonth: { calls: c.lastMonth.calls, minutes: c.lastMonth.minutes, sms: Number(s.lastMonth), cost: fromMicros(c.lastMonth.cost) },
    },
  }
}

// ---- reservations -------------------------------------------------------------------------

type ReservedNumberView = z.infer<typeof ReservationView>['phoneNumbers'][number]

function reservedNumberView(r: ReservationRow, now: number, capped: boolean): ReservedNumberView {
  const live = r.status === 'active' && r.expiresAt.getTime() > now
  const status = live ? 'reserved' : r.status === 'active' ? 'expired' : r.status
  return { id: r.id, phoneNumber: r.phoneNumber, status, expiresAt: iso(r.expiresAt), ...(live && capped ? { error: 'RESERVATION_EXTENSION_LIMIT' } : {}) }
}

/** The reservation as of its `at`; its status sums up its numbers'. */
export function reservationView(v: Reservation): z.infer<typeof ReservationView> {
  const { id, rows, at: now } = v
  const entries = [...rows.map((r) => reservedNumberView(r, now, v.capped.has(r.id))), ...v.failed.map(failedReservationEntry)]
  const reserved = entries.filter((e) => e.status === 'reserved')
  const status: z.infer<typeof ReservationView>['status'] = reserved.length
    ? reserved.length === entries.length
      ? 'active'
      : 'partial'
    : entries.some((e) => e.status === 'purchased')
      ? 'purchased'
      : entries.some((e) => e.status === 'released')
        ? 'released'
        : 'expired'
  const expiries = rows.filter((r) => r.status === 'active' && r.expiresAt.getTime() > now).map((r) => r.expiresAt.getTime())
  return {
    id,
    status,
    expiresAt: expiries.length ? new Date(Math.max(...expiries)).toISOString() : null,
    createdAt: iso(rows[0]?.createdAt ?? now)!,
    phoneNumbers: entries,
  }
}
