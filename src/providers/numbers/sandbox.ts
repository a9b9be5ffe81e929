/**
 * The sandbox provider: the embedded default upstream. It needs no account and behaves the same
 * way every time, which is what the demo and the tests need. Its behaviour comes from the
 * provider row's `config`:
 *
 *   activation: { offers?: [...], failure?: 'no_numbers' | 'upstream_error', failEvery?: n, latencyMs?, autoSmsSeconds? }
 *   did:        { countries?: ['us', …], perCountry?, failure?, failNumbers?: [E.164], pendingNumbers?: [E.164],
 *                 timeoutAfterBuying?: [E.164], timeoutBeforeBuying?: [E.164], latencyMs? }
 *
 * `failure` makes every call fail that way; `failEvery: n` makes every n-th purchase fail (a
 * deterministic failure rate of 1/n). Phones are derived from the upstream id, so the same id
 * always means the same phone. SMS are delivered by Switchboard itself (the sandbox inbound
 * route, or the demo's automatic SMS), as a real upstream's webhook would.
 */
import { z } from 'zod'
import { NoNumbersAvailable, UpstreamError } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { toMicros } from '../../lib/money'
import type { ActivationOffer, ActivationProvider, AvailableDid, DidProvider, DidPurchase, DidSearch, NumberType } from './types'
import { sleep } from '../../lib/concurrency'
import { fnv1a } from '../../lib/hash'

const Failure = z.enum(['no_numbers', 'upstream_error']).optional()

export const SandboxConfig = z.object({
  activation: z
    .object({
      offers: z
        .array(
          z.object({
            service: z.string(),
            serviceName: z.string(),
            country: z.string(),
            countryName: z.string(),
            cost: z.number().nonnegative().describe('USD'),
            stock: z.number().int().nonnegative(),
          }),
        )
        .optional(),
      failure: Failure,
      failEvery: z.number().int().min(1).optional(),
      latencyMs: z.number().int().min(0).max(10_000).optional(),
      /** In local dev, deliver an SMS this many seconds after a purchase (null/absent: never). */
      autoSmsSeconds: z.number().int().min(1).max(600).nullable().optional(),
    })
    .default({}),
  did: z
    .object({
      countries: z.array(z.string()).optional(),
      /** At most 9,000: the generated subscriber numbers repeat after that. */
      perCountry: z.number().int().min(1).max(9_000).optional(),
      failure: Failure,
      failNumbers: z.array(z.string()).optional(),
      pendingNumbers: z.array(z.string()).optional(),
      /** Purchases of these numbers get no answer (a timeout) although the sandbox bought them: lookup finds them. */
      timeoutAfterBuying: z.array(z.string()).optional(),
      /** Purchases of these numbers get no answer (a timeout) and bought nothing: lookup does not find them. */
      timeoutBeforeBuying: z.array(z.string()).optional(),
      latencyMs: z.number().int().min(0).max(10_000).optional(),
    })
    .default({}),
})
export type SandboxConfig = z.infer<typeof SandboxConfig>

const SERVICES: [string, string][] = [
  ['telegram', 'Telegram'],
  ['whatsapp', 'WhatsApp'],
  ['google', 'Google'],
  ['facebook', 'Facebook'],
  ['instagram', 'Instagram'],
  ['twitter', 'Twitter'],
  ['uber', 'Uber'],
  ['discord', 'Discord'],
]

/** Country code, name, E.164 prefix, local area codes, toll-free prefixes. */
const COUNTRIES: { code: string; name: string; dial: string; areas: string[]; tollFree: string[] }[] = [
  { code: 'us', name: 'United States', dial: '1', areas: ['212', '415', '646', '718', '305', '312'], tollFree: ['800', '888'] },
  { code: 'ca', name: 'Canada', dial: '1', areas: ['416', '604', '514'], tollFree: ['855'] },
  { code: 'gb', name: 'United Kingdom', dial: '44', areas: ['20', '161', '121'], tollFree: ['800'] },
  { code: 'de', name: 'Germany', dial: '49', areas: ['30', '40', '89'], tollFree: ['800'] },
  { code: 'fr', name: 'France', dial: '33', areas: ['1', '4', '6'], tollFree: ['800'] },
  { code: 'nl', name: 'Netherlands', dial: '31', areas: ['20', '10', '70'], tollFree: ['800'] },
]

const LOCALITIES: Record<string, [string, string]> = {
  '212': ['New York', 'NY'],
  '646': ['New York', 'NY'],
  '718': ['New York', 'NY'],
  '415': ['San Francisco', 'CA'],
  '305': ['Miami', 'FL'],
  '312': ['Chicago', 'IL'],
  '416': ['Toronto', 'ON'],
  '604': ['Vancouver', 'BC'],
  '514': ['Montreal', 'QC'],
  '20': ['London', 'England'],
  '161': ['Manchester', 'England'],
  '121': ['Birmingham', 'England'],
  '30': ['Berlin', 'BE'],
  '40': ['Hamburg', 'HH'],
  '89': ['Munich', 'BY'],
  '1': ['Paris', 'IDF'],
  '4': ['Marseille', 'PAC'],
  '6': ['Paris', 'IDF'],
  '10': ['Rotterdam', 'ZH'],
  '70': ['The Hague', 'ZH'],
}

/** Default activation prices by service (USD), scaled a little per country so prices differ. */
function defaultOffers(): ActivationOffer[] {
  const out: ActivationOffer[] = []
  COUNTRIES.forEach((c, ci) => {
    SERVICES.forEach(([code, name], si) => {
      out.push({
        serviceCode: code,
        serviceName: name,
        countryCode: c.code,
        countryName: c.name,
        cost: toMicros(0.3 + 0.05 * si + 0.02 * ci),
        stock: 100 + 10 * si,
      })
    })
  })
  return out
}

/** Phone of a sandbox activation: derived from its upstream id, in the 555 fictional range. */
export function sandboxPhone(countryCode: string, upstreamId: string): string {
  const country = COUNTRIES.find((c) => c.code === countryCode) ?? COUNTRIES[0]!
  const digits = String(fnv1a(upstreamId)).padStart(10, '0').slice(-7)
  return `+${country.dial}555${digits}`
}

/** Purchases per sandbox provider in this isolate, for `failEvery`. */
const purchaseCounts = new Map<string, number>()

export class SandboxActivations implements ActivationProvider {
  constructor(
    private readonly providerId: string,
    private readonly config: SandboxConfig['activation'],
  ) {}

  async listOffers(): Promise<ActivationOffer[]> {
    await sleep(this.config.latencyMs ?? 0)
    if (this.config.failure === 'upstream_error') throw new UpstreamError('sandbox', 'simulated upstream failure')
    return this.offers()
  }

  private offers(): ActivationOffer[] {
    if (!this.config.offers) return defaultOffers()
    return this.config.offers.map((o) => ({
      serviceCode: o.service,
      serviceName: o.serviceName,
      countryCode: o.country,
      countryName: o.countryName,
      cost: toMicros(o.cost),
      stock: o.stock,
    }))
  }

  async buy(req: { serviceCode: string; countryCode: string }) {
    await sleep(this.config.latencyMs ?? 0)
    const purchases = (purchaseCounts.get(this.providerId) ?? 0) + 1
    purchaseCounts.set(this.providerId, purchases)
    if (this.config.failure === 'no_numbers') throw new NoNumbersAvailable('sandbox: no numbers')
    if (this.config.failure === 'upstream_error') throw new UpstreamError('sandbox', 'simulated upstream failure (HTTP 500)')
    if (this.config.failEvery && purchases % this.config.failEvery === 0) throw new NoNumbersAvailable('sandbox: no numbers')
    const offer = this.offers().find((o) => o.serviceCode === req.serviceCode && o.countryCode === req.countryCode)
    if (!offer || offer.stock === 0) throw new NoNumbersAvailable('sandbox: no numbers')
    const upstreamId = newId('sbx')
    return { upstreamId, phone: sandboxPhone(req.countryCode, upstreamId) }
  }

  /** The sandbox never reports SMS by polling: they arrive through the inbound SMS route. */
  async status() {
    return { status: 'waiting' as const }
  }

  async cancel(): Promise<void> {}

  async complete(): Promise<void> {}
}

/** The sandbox's DID inventory: generated from the country table, the same on every call. */
export function sandboxInventory(config: SandboxConfig['did']): AvailableDid[] {
  const perCountry = config.perCountry ?? 40
  const wanted = config.countries ?? COUNTRIES.map((c) => c.code)
  const out: AvailableDid[] = []
  for (const c of COUNTRIES.filter((x) => wanted.includes(x.code))) {
    for (let i = 0; i < perCountry; i++) {
      const tollFree = i % 8 === 7
      const prefixes = tollFree ? c.tollFree : c.areas
      const area = prefixes[i % prefixes.length]!
      const subscriber = String(1000 + ((i * 7919) % 9000)).padStart(4, '0')
      const phoneNumber = `+${c.dial}${area}555${subscriber}`
      const numberType: NumberType = tollFree ? 'TOLL_FREE' : 'LOCAL'
      const place = tollFree ? null : (LOCALITIES[area] ?? null)
      out.push({
        phoneNumber,
        countryCode: c.code,
        areaCode: area,
        region: place?.[1] ?? null,
        locality: place?.[0] ?? null,
        numberType,
        capabilities: tollFree ? ['VOICE', 'SMS'] : i % 3 === 0 ? ['VOICE', 'SMS', 'MMS'] : ['VOICE', 'SMS'],
        setupPrice: toMicros(tollFree ? 2 : 1),
        monthlyPrice: toMicros(tollFree ? 2 : 1 + (i % 4) * 0.25),
        restrictions: i % 10 === 9 ? ['address_required'] : [],
      })
    }
  }
  return out
}

/** Twilio-style `contains`: digits and `*` (any one digit), matched anywhere in the number. */
export function matchesPattern(phoneNumber: string, pattern: string): boolean {
  const re = new RegExp(pattern.replace(/[^0-9*]/g, '').replace(/\*/g, '\\d'))
  return re.test(phoneNumber.replace(/^\+/, ''))
}

export class SandboxDids implements DidProvider {
  constructor(private readonly config: SandboxConfig['did']) {}

  async search(q: DidSearch): Promise<AvailableDid[]> {
    await sleep(this.config.latencyMs ?? 0)
    if (this.config.failure === 'upstream_error') throw new UpstreamError('sandbox', 'simulated upstream failure')
    return sandboxInventory(this.config)
      .filter((n) => n.countryCode === q.countryCode)
      .filter((n) => !q.areaCode || n.areaCode === q.areaCode)
      .filter((n) => !q.numberType || n.numberType === q.numberType)
      .filter((n) => !q.contains || matchesPattern(n.phoneNumber, q.contains))
      .filter((n) => !q.capabilities || q.capabilities.every((c) => n.capabilities.includes(c)))
      .slice(0, q.limit)
  }

  /** One search per country it serves, each large enough for the whole country: the full inventory. */
  inventoryQueries(): DidSearch[] {
    const wanted = this.config.countries ?? COUNTRIES.map((c) => c.code)
    const perCountry = this.config.perCountry ?? 40
    return COUNTRIES.filter((c) => wanted.includes(c.code)).map((c) => ({ countryCode: c.code, limit: perCountry }))
  }

  async purchase(phoneNumber: string) {
    await sleep(this.config.latencyMs ?? 0)
    if (this.config.failure === 'no_numbers' || this.config.failNumbers?.includes(phoneNumber)) {
      throw new NoNumbersAvailable(`sandbox: ${phoneNumber} is no longer available`)
    }
    if (this.config.failure === 'upstream_error') throw new UpstreamError('sandbox', 'simulated upstream failure (HTTP 500)')
    if (this.config.timeoutAfterBuying?.includes(phoneNumber) || this.config.timeoutBeforeBuying?.includes(phoneNumber)) {
      throw new UpstreamError('sandbox', 'purchase: no answer within 10000 ms', { operation: 'purchase', reason: 'timeout' })
    }
    return this.owned(phoneNumber)
  }

  async lookup(phoneNumber: string): Promise<DidPurchase | null> {
    await sleep(this.config.latencyMs ?? 0)
    if (this.config.failure === 'upstream_error') throw new UpstreamError('sandbox', 'simulated upstream failure (HTTP 500)')
    if (this.config.timeoutBeforeBuying?.includes(phoneNumber) || this.config.failNumbers?.includes(phoneNumber)) return null
    return this.owned(phoneNumber)
  }

  private owned(phoneNumber: string): DidPurchase {
    const status = this.config.pendingNumbers?.includes(phoneNumber) ? ('pending' as const) : ('active' as const)
    return { status, upstreamId: `sbx_pn_${fnv1a(phoneNumber).toString(36)}` }
  }

  async release(): Promise<void> {}
}
