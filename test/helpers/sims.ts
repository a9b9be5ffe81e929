/**
 * SIM API helpers: a sandbox SIM provider row, fresh ICCIDs the sandbox knows, registration
 * through the API, and reads of what the SIM flows wrote.
 */
import { env } from 'cloudflare:test'
import { call, type TestUser } from './api'
import { SandboxSimConfig, sandboxSimRates } from '../../src/providers/sims/sandbox'
import { insertProvider } from './providers'

let serial = Math.floor(Math.random() * 1e6)

/** A 19-digit ICCID the sandbox knows (prefix 8988228), unique in this test file. */
export function uniqueIccid(): string {
  serial++
  return `8988228${String(Date.now() % 1e6).padStart(6, '0')}${String(serial % 1e6).padStart(6, '0')}`
}

/** The 20-digit form of a 19-digit ICCID (Luhn check digit appended). */
export function withLuhn(iccid: string): string {
  let sum = 0
  for (let i = iccid.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = Number(iccid[i])
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return `${iccid}${(10 - (sum % 10)) % 10}`
}

/** The file's SIM provider: a sandbox row of kind `sim` with the highest priority. */
export async function simProvider(sim: Record<string, unknown> = {}, priority = 1) {
  return insertProvider({ adapter: 'sandbox', kinds: ['sim'], priority, config: { sim } })
}

export async function registerSims(user: TestUser, iccids: string[]) {
  const res = await call('/api/v1/sims', { token: user.accessToken, body: { sims: iccids.map((iccid) => ({ iccid })) } })
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${res.text}`)
  const failed = res.body.data.sims.filter((s: { status: string }) => s.status !== 'created')
  if (failed.length) throw new Error(`registration failed for some: ${JSON.stringify(failed)}`)
  return res.body.data.sims as { iccid: string; id: number }[]
}

export async function quotaRow(iccid: string, type: 'data' | 'sms' = 'data') {
  return env.DB.prepare(`SELECT q.* FROM sim_quotas q JOIN sims s ON s.id = q.sim_id WHERE s.iccid = ? AND q.quota_type = ?`).bind(iccid, type).first<Record<string, any>>()
}

export async function topUpRows(iccid: string) {
  return (await env.DB.prepare(`SELECT * FROM sim_topups WHERE iccid = ? ORDER BY created_at`).bind(iccid).all<Record<string, any>>()).results
}

export async function simEventRows(iccid: string, type?: string) {
  const rows = (await env.DB.prepare(`SELECT e.* FROM sim_events e JOIN sims s ON s.id = e.sim_id WHERE s.iccid = ? ORDER BY e.id`).bind(iccid).all<Record<string, any>>()).results
  return type ? rows.filter((r) => r.event_type === type) : rows
}

export async function outboxFor(type: string, iccid: string) {
  return (await env.DB.prepare(`SELECT * FROM outbox WHERE type = ? AND json_extract(payload, '$.iccid') = ?`).bind(type, iccid).all<Record<string, any>>()).results
}

/** Moves the sandbox's first sight of a SIM back, so its usage has grown by then. */
export async function ageSandboxSim(iccid: string, byMs: number) {
  await env.DB.prepare(`UPDATE sandbox_sims SET activated_at = activated_at - ? WHERE iccid = ?`).bind(byMs, iccid).run()
}

/** Ages a SIM so the sandbox (configured with `sim`) has used `bytes` more data on it (its rate varies per ICCID). */
export async function useSandboxData(iccid: string, bytes: number, sim: Record<string, unknown> = {}) {
  const { dataBytesPerMinute } = sandboxSimRates(iccid, SandboxSimConfig.parse({ sim }))
  await ageSandboxSim(iccid, Math.ceil((bytes / dataBytesPerMinute) * 60_000))
}

/** Makes every stored reading of the SIM stale, so the next read goes to the upstream. */
export async function staleReadings(iccid: string) {
  await env.DB.prepare(`UPDATE sim_quotas SET observed_at = observed_at - 3600000 WHERE sim_id = (SELECT id FROM sims WHERE iccid = ?)`).bind(iccid).run()
  await env.DB.prepare(`UPDATE sims SET status_checked_at = status_checked_at - 3600000 WHERE iccid = ?`).bind(iccid).run()
}

/**
 * Moves a SIM's SMS back in time by `byMs`: the sandbox's record of each message (its state follows
 * from its age), the stored rows and their times, the SIM's registration (a device reply stays after it) and its
 * last SMS listing (so the next read lists again).
 */
export async function ageSimSms(iccid: string, byMs: number) {
  await env.DB.batch([
    env.DB.prepare(`UPDATE sandbox_sim_sms SET created_at = created_at - ? WHERE iccid = ?`).bind(byMs, iccid),
    env.DB.prepare(
      `UPDATE sim_sms SET created_at = created_at - ?1, sent_at = sent_at - ?1, delivered_at = delivered_at - ?1, failed_at = failed_at - ?1 WHERE sim_id = (SELECT id FROM sims WHERE iccid = ?2)`,
    ).bind(byMs, iccid),
    env.DB.prepare(`UPDATE sims SET created_at = created_at - ?, sms_refreshed_at = sms_refreshed_at - ? - 5000 WHERE iccid = ?`).bind(byMs, byMs, iccid),
  ])
}

export async function simSmsRows(iccid: string) {
  return (await env.DB.prepare(`SELECT m.* FROM sim_sms m JOIN sims s ON s.id = m.sim_id WHERE s.iccid = ? ORDER BY m.id`).bind(iccid).all<Record<string, any>>()).results
}
