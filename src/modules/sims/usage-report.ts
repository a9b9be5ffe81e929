/** Daily SIM usage grouped by day, week or month, with the period's summary (GET …/usage). */
import type { SimUsageDay } from '../../providers/sims/types'

type Granularity = 'daily' | 'weekly' | 'monthly'

const DAY = 86_400_000
const dayNumber = (date: string) => Date.parse(`${date}T00:00:00Z`) / DAY

/** The first day of the group `date` falls in (clamped to the period's start). */
function groupStart(date: string, granularity: Granularity, start: string): string {
  if (granularity === 'daily') return date
  let first: string
  if (granularity === 'monthly') first = `${date.slice(0, 7)}-01`
  else {
    const d = new Date(`${date}T00:00:00Z`)
    const monday = new Date(d.getTime() - ((d.getUTCDay() + 6) % 7) * DAY)
    first = monday.toISOString().slice(0, 10)
  }
  return first < start ? start : first
}

export function usageReport(days: SimUsageDay[], start: string, end: string, granularity: Granularity) {
  const inPeriod = days.filter((d) => d.date >= start && d.date <= end).sort((a, b) => a.date.localeCompare(b.date))
  const groups = new Map<string, { date: string; volume_rx: number; volume_tx: number; total_volume: number; sms_mo: number; sms_mt: number; session_count: number }>()
  for (const d of inPeriod) {
    const key = groupStart(d.date, granularity, start)
    const g = groups.get(key) ?? { date: key, volume_rx: 0, volume_tx: 0, total_volume: 0, sms_mo: 0, sms_mt: 0, session_count: 0 }
    g.volume_rx += d.volumeRx
    g.volume_tx += d.volumeTx
    g.total_volume += d.volumeRx + d.volumeTx
    g.sms_mo += d.smsMo
    g.sms_mt += d.smsMt
    g.session_count += d.sessionCount
    groups.set(key, g)
  }
  let peak: SimUsageDay | null = null
  for (const d of inPeriod) if (!peak || d.volumeRx + d.volumeTx > peak.volumeRx + peak.volumeTx) peak = d
  const rx = inPeriod.reduce((s, d) => s + d.volumeRx, 0)
  const tx = inPeriod.reduce((s, d) => s + d.volumeTx, 0)
  const periodDays = dayNumber(end) - dayNumber(start) + 1
  return {
    period: { start, end },
    granularity,
    usage: [...groups.values()],
    summary: {
      total_volume: rx + tx,
      total_volume_rx: rx,
      total_volume_tx: tx,
      total_sms_mo: inPeriod.reduce((s, d) => s + d.smsMo, 0),
      total_sms_mt: inPeriod.reduce((s, d) => s + d.smsMt, 0),
      average_daily_volume: Math.round((rx + tx) / Math.max(1, periodDays)),
      peak_daily_volume: peak ? peak.volumeRx + peak.volumeTx : 0,
      peak_date: peak && peak.volumeRx + peak.volumeTx > 0 ? peak.date : null,
    },
  }
}
