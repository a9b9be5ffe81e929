/**
 * Upstreams of numbers. Every adapter speaks its upstream's real wire protocol through an injected
 * `fetch` (tests feed it the documented responses) and maps failures to two errors:
 * `NoNumbersAvailable` (503) when the upstream has none, `UpstreamError` (502) for anything else.
 * Money is integer micro-units (1 USD = 1,000,000).
 */
export interface ActivationOffer {
  serviceCode: string
  serviceName: string
  /** ISO 3166-1 alpha-2, lower case. */
  countryCode: string
  countryName: string
  /** The upstream's own codes, when they differ from ours (HeroSMS: numeric country, short service). */
  upstreamCountry?: string
  upstreamService?: string
  cost: number
  stock: number
}

export interface BoughtActivation {
  upstreamId: string
  /** E.164 with the leading +. */
  phone: string
}

export type ActivationStatus = { status: 'waiting' } | { status: 'received'; code: string; text?: string } | { status: 'cancelled' }

export interface ActivationProvider {
  listOffers(): Promise<ActivationOffer[]>
  buy(req: { serviceCode: string; countryCode: string; upstreamService?: string; upstreamCountry?: string; maxCost?: number }): Promise<BoughtActivation>
  status(upstreamId: string): Promise<ActivationStatus>
  cancel(upstreamId: string): Promise<void>
  complete(upstreamId: string): Promise<void>
}

export type NumberType = 'LOCAL' | 'TOLL_FREE' | 'MOBILE' | 'NATIONAL'
export type Capability = 'VOICE' | 'SMS' | 'MMS' | 'FAX'

export interface AvailableDid {
  phoneNumber: string
  countryCode: string
  areaCode: string | null
  region: string | null
  locality: string | null
  numberType: NumberType
  capabilities: Capability[]
  setupPrice: number
  monthlyPrice: number
  restrictions: string[]
}

export interface DidSearch {
  countryCode: string
  areaCode?: string
  /** Twilio-style pattern: digits, `*` for any one digit. */
  contains?: string
  numberType?: NumberType
  /** Only numbers that have all of these. */
  capabilities?: Capability[]
  limit: number
}

export type DidPurchase = { status: 'active' | 'pending'; upstreamId: string }

export interface DidProvider {
  search(q: DidSearch): Promise<AvailableDid[]>
  purchase(phoneNumber: string, config: { smsUrl?: string; voiceUrl?: string; friendlyName?: string }): Promise<DidPurchase>
  /**
   * The number as the upstream has it on our account (bought: its id and state), or null when the
   * account does not have it. Settles a purchase whose answer never came (a timeout).
   */
  lookup(phoneNumber: string): Promise<DidPurchase | null>
  release(upstreamId: string): Promise<void>
  /** The searches whose results make up this provider's DID inventory (the provider sync runs them). */
  inventoryQueries?(): DidSearch[]
}

export interface ProviderAdapters {
  activation?: ActivationProvider
  did?: DidProvider
}

/** What adapters get from the outside world. */
export interface ProviderDeps {
  fetch: typeof fetch
  /** Secrets by name (env); a provider's config names the secret that holds its credentials. */
  secret: (name: string) => string | undefined
}
