/**
 * Upstreams of IoT SIMs (the 1NCE management API and the sandbox). Every adapter speaks its
 * upstream's real wire protocol through an injected `fetch` (tests feed it the documented
 * responses) and maps failures to `UpstreamError` (502), or to an `AppError` 503 with Retry-After
 * when the upstream asks us to wait (its rate limit). Errors never carry credentials.
 *
 * ICCIDs cross this interface in their 19-digit form (no Luhn check digit); an adapter whose
 * upstream wants the 20-digit form adds the digit itself. Volumes are bytes (data) or messages (SMS).
 */
export type UpstreamSimStatus = 'Enabled' | 'Disabled' | 'Suspended' | 'Expired'
export type SimQuotaType = 'data' | 'sms'

export interface SimInfo {
  iccid: string
  imsi: string | null
  msisdn: string | null
  imei: string | null
  imeiLock: boolean
  status: UpstreamSimStatus
  label: string | null
  ipAddress: string | null
  ipv6Address: string | null
  activationDate: Date | null
}

export interface SimConnectivity {
  connected: boolean
  cellId: string | null
  /** dBm. */
  signalStrength: number | null
  /** 0–100. */
  signalQuality: number | null
  /** `LTE`, `LTE-M`, `NB-IoT`, `GSM`, `UMTS`… */
  rat: string | null
  /** ISO 3166-1 alpha-2, upper case. */
  countryCode: string | null
  operatorName: string | null
  mcc: string | null
  mnc: string | null
  apn: string | null
  /** When the upstream saw this state. */
  at: Date
}

export interface SimUsageDay {
  /** `YYYY-MM-DD` (UTC). */
  date: string
  volumeRx: number
  volumeTx: number
  smsMo: number
  smsMt: number
  sessionCount: number
}

export interface SimQuotaInfo {
  type: SimQuotaType
  /** The quota's total: what was granted so far (initial volume + top-ups). */
  volume: number
  usedVolume: number
  status: 'Active' | 'Exhausted' | 'Expired'
  lastVolumeAdded: number | null
  lastStatusChangeDate: Date | null
  expiryDate: Date | null
}

export interface SimTopUpRequest {
  iccid: string
  quotaType: SimQuotaType
  volume: number
  /** The caller's operation id for this top-up: an upstream that can, tops up once per reference. */
  reference: string
}

export type SimTopUpOutcome =
  | { reference: string; ok: true /** The quota after the top-up, when the upstream says. */; quota: SimQuotaInfo | null }
  | { reference: string; ok: false; code: string; message: string }

export type UpstreamSmsStatus = 'pending' | 'sent' | 'delivered' | 'failed' | 'cancelled' | 'received'

/** An SMS as the upstream has it: an MT message we sent (its delivery status) or an MO message from the device. */
export interface UpstreamSms {
  upstreamId: string
  direction: 'MO' | 'MT'
  message: string
  status: UpstreamSmsStatus
  sourceAddress: string | null
  createdAt: Date
  sentAt: Date | null
  deliveredAt: Date | null
}

export interface SimSmsRequest {
  message: string
  encoding: 'GSM7' | 'UCS2'
  /** When the upstream should stop trying to deliver. */
  expiryDate: Date | null
  sourceAddress?: string
}

export interface SimLimitsInput {
  dailyDataLimit: number | null
  monthlyDataLimit: number | null
  dailySmsLimit: number | null
  monthlySmsLimit: number | null
  enforceLimits: boolean
}

export interface SimProvider {
  /** The SIM as the upstream has it on our account, or null when the upstream does not know it. */
  getSim(iccid: string): Promise<SimInfo | null>
  /** Writes the upstream's writable fields (status Enabled/Disabled, label, IMEI lock). */
  updateSim(iccid: string, change: { status?: 'Enabled' | 'Disabled'; label?: string | null; imeiLock?: boolean }): Promise<void>
  connectivity(iccid: string): Promise<SimConnectivity>
  /** Starts a connectivity reset; resolves when the upstream accepted it, with when it expects it done. */
  reset(iccid: string): Promise<{ expectedCompletion: Date }>
  /** Where a reset started at `requestedAt` stands. */
  resetStatus(iccid: string, requestedAt: Date): Promise<'in_progress' | 'completed' | 'failed'>
  /** Daily usage over [from, to] (dates `YYYY-MM-DD`, UTC, inclusive), oldest first. */
  usage(iccid: string, from: string, to: string): Promise<SimUsageDay[]>
  quota(iccid: string, type: SimQuotaType): Promise<SimQuotaInfo>
  /** Tops up several SIMs in one call; one outcome per request, by reference. Throws only when the whole call failed. */
  topUp(requests: SimTopUpRequest[]): Promise<SimTopUpOutcome[]>
  sendSms(iccid: string, sms: SimSmsRequest): Promise<{ upstreamId: string }>
  /** The SIM's SMS, MT and MO, newest last, created at or after `since`. */
  listSms(iccid: string, since: Date): Promise<UpstreamSms[]>
  /** Cancels an MT SMS the upstream has not delivered. */
  cancelSms(iccid: string, upstreamId: string): Promise<void>
  /** Applies an account's limits to these SIMs (the upstream's per-SIM limits). */
  setLimits(iccids: string[], limits: SimLimitsInput): Promise<void>
  /** A cheap authenticated call: resolves when the upstream answers (readiness). */
  ping(): Promise<void>
}
