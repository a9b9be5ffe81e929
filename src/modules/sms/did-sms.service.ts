/**
 * Inbound SMS on owned numbers (DIDs, `phone_numbers`): Twilio's messaging webhook, the sandbox's
 * JSON and the sandbox owner route all end in `deliver` (README "SMS on your numbers (DIDs)").
 *
 * Invariants:
 * - The number is the live row (`status` ≠ released) of the sending provider with `phone_number`
 *   = the SMS's `To`. A provider can only deliver to its own numbers; an unknown or released
 *   number is a 404 (the upstream retries or drops it).
 * - Stored once: `(provider_id, upstream_message_id)` is unique. The key is the upstream message
 *   id (Twilio's MessageSid, the sandbox's messageId), else a hash of (number, from, text,
 *   receivedAt). A redelivery answers `duplicate: true` and writes nothing.
 * - The SMS row, the number's `last_used_at` and two outbox events are one D1 batch: the DID
 *   API's `SMS_RECEIVED` (which also goes to the number's own smsUrl, see webhooks/fan-out.ts) and
 *   the activation API's `sms.received` (partners subscribed to it only), both with `phoneNumberId`.
 * - DIDs are paid monthly: an inbound SMS moves no money.
 */
import { and, eq, ne } from 'drizzle-orm'
import type { Db } from '../../db/client'
import { isUniqueViolation } from '../../db/errors'
import { phoneNumbers, providers, smsMessages, type PhoneNumber, type Provider } from '../../db/schema'
import { sha256Hex } from '../../lib/crypto'
import { Conflict, NotFound, Unauthorized } from '../../lib/errors'
import { newId } from '../../lib/ids'
import { TwilioDids } from '../../providers/numbers/twilio'
import type { ProviderAdapters } from '../../providers/numbers/types'
import { outboxInsert } from '../events/outbox'
import { parseInstant } from './inbound-sms.service'
import { extractCode } from './sms-code'
import { logger } from '../../lib/logger'

export interface DidSms {
  /** The number it was sent to (E.164). */
  to: string
  /** Who sent it: E.164, a short code or an alphanumeric sender id. */
  from: string | null
  text: string
  /** The upstream's id of this message (Twilio: MessageSid), when it has one. */
  messageId?: string | null
  /** As the upstream wrote it (part of the dedup hash when there is no message id). */
  receivedAt?: string | null
}

export interface DidDelivered {
  duplicate: boolean
  smsId: string
  phoneNumberId: string
  phoneNumber: string
  code: string | null
}

export interface DidSmsDeps {
  db: Db
  /** The adapters of a provider row (the Twilio one checks webhook signatures with its auth token). */
  adapters: (p: Provider) => ProviderAdapters
  now?: () => number
}

export interface TwilioRequest {
  signature: string | null | undefined
  /** The request URL as received: it must be the URL configured in Twilio. */
  url: string
  /** Every POST parameter, as sent. */
  params: [string, string][]
}

const NOT_AUTHENTICATED = 'Twilio webhook not authenticated: X-Twilio-Signature must sign this URL and the form parameters with the auth token of the provider'

export class DidSmsService {
  private readonly now: () => number

  constructor(private readonly deps: DidSmsDeps) {
    this.now = deps.now ?? Date.now
  }

  /** A provider row by code (undefined when unknown), to choose how its webhook authenticates. */
  provider(code: string | undefined): Promise<Provider | undefined> {
    return code ? this.deps.db.select().from(providers).where(eq(providers.code, code)).get() : Promise.resolve(undefined)
  }

  /**
   * A Twilio webhook's signature, checked with the auth token named by the provider's config, then
   * its `AccountSid` against the config's. A provider whose adapter cannot be built (bad config,
   * secret not set) cannot verify anything: 401, and the reason goes to the log, not the caller.
   */
  async authenticateTwilio(p: Provider, req: TwilioRequest): Promise<Provider> {
    let twilio: TwilioDids
    try {
      const did = this.deps.adapters(p).did
      if (!(did instanceof TwilioDids)) throw new Error('not a Twilio adapter')
      twilio = did
    } catch (e) {
      logger.error('twilio webhook: cannot verify signatures for this provider', { module: 'sms', provider: p.code, error: (e as Error).message })
      throw new Unauthorized('UNAUTHORIZED', NOT_AUTHENTICATED)
    }
    if (!(await twilio.verifyWebhook(req.signature, req.url, req.params))) throw new Unauthorized('UNAUTHORIZED', NOT_AUTHENTICATED)
    const accountSid = req.params.find(([k]) => k === 'AccountSid')?.[1]
    if (accountSid !== twilio.accountSid) throw new Unauthorized('UNAUTHORIZED', "Twilio webhook refused: AccountSid is not this provider's account")
    return p
  }

  /** An SMS from provider `p` to the live number `sms.to` it sold. */
  async receive(p: Provider, sms: DidSms): Promise<DidDelivered> {
    const n = await this.deps.db
      .select()
      .from(phoneNumbers)
      .where(and(eq(phoneNumbers.providerId, p.id), eq(phoneNumbers.phoneNumber, sms.to), ne(phoneNumbers.status, 'released')))
      .get()
    if (!n) throw new NotFound('Number')
    return this.deliver(n, sms)
  }

  /** The caller's number, if a sandbox provider sold it (only those can be sent test SMS). */
  async sandboxNumber(userId: string, id: string): Promise<PhoneNumber> {
    const row = await this.deps.db
      .select({ number: phoneNumbers, adapter: providers.adapter })
      .from(phoneNumbers)
      .innerJoin(providers, eq(providers.id, phoneNumbers.providerId))
      .where(and(eq(phoneNumbers.id, id), eq(phoneNumbers.userId, userId)))
      .get()
    if (!row) throw new NotFound('Number')
    if (row.adapter !== 'sandbox') throw new Conflict('NOT_SANDBOX_NUMBER', 'Only numbers from a sandbox provider can be sent test SMS')
    return row.number
  }

  async deliver(n: PhoneNumber, sms: DidSms): Promise<DidDelivered> {
    const { db } = this.deps
    if (n.status === 'released') throw new Conflict('NUMBER_RELEASED', 'The number has been released and receives no SMS')
    const key = sms.messageId ? `msg:${sms.messageId}` : `sha256:${await sha256Hex([n.id, sms.from ?? '', sms.text, sms.receivedAt ?? ''].join('\n'))}`
    const seen = await this.stored(n.providerId, key)
    if (seen) return { duplicate: true, smsId: seen.id, phoneNumberId: n.id, phoneNumber: n.phoneNumber, code: seen.code }

    const code = extractCode(sms.text)
    const now = new Date(this.now())
    const receivedAt = parseInstant(sms.receivedAt) ?? now
    const smsId = newId('sms', now.getTime())
    const messageSid = sms.messageId ?? smsId
    try {
      await db.batch([
        db.insert(smsMessages).values({
          id: smsId,
          userId: n.userId,
          providerId: n.providerId,
          upstreamMessageId: key,
          phoneNumberId: n.id,
          phone: n.phoneNumber,
          sender: sms.from,
          text: sms.text,
          code,
          receivedAt,
          createdAt: now,
        }),
        db.update(phoneNumbers).set({ lastUsedAt: now }).where(eq(phoneNumbers.id, n.id)),
        outboxInsert(
          db,
          {
            type: 'SMS_RECEIVED',
            userId: n.userId,
            data: {
              messageId: smsId,
              messageSid,
              numberId: n.id,
              phoneNumberId: n.id,
              phoneNumber: n.phoneNumber,
              from: sms.from,
              to: sms.to,
              body: sms.text,
              direction: 'inbound',
              status: 'received',
              // Beyond the DID API's SMS_RECEIVED fields: what the number's own smsUrl needs to act on an OTP.
              code,
              receivedAt: receivedAt.toISOString(),
            },
          },
          now,
        ),
        outboxInsert(
          db,
          {
            type: 'sms.received',
            userId: n.userId,
            data: { numberId: n.id, phoneNumberId: n.id, phone: n.phoneNumber, code, text: sms.text, sender: sms.from, receivedAt: receivedAt.toISOString() },
          },
          now,
        ),
      ])
    } catch (e) {
      // A concurrent delivery of the same message won the unique key: this one is the duplicate.
      if (!isUniqueViolation(e)) throw e
      const winner = await this.stored(n.providerId, key)
      if (!winner) throw e
      return { duplicate: true, smsId: winner.id, phoneNumberId: n.id, phoneNumber: n.phoneNumber, code: winner.code }
    }
    return { duplicate: false, smsId, phoneNumberId: n.id, phoneNumber: n.phoneNumber, code }
  }

  private stored(providerId: string, key: string) {
    return this.deps.db
      .select({ id: smsMessages.id, code: smsMessages.code })
      .from(smsMessages)
      .where(and(eq(smsMessages.providerId, providerId), eq(smsMessages.upstreamMessageId, key)))
      .get()
  }
}
