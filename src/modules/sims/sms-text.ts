/**
 * How long an SMS text is in the encoding it is sent in, and whether it fits one message.
 *
 * - GSM7 (GSM 03.38): only the default alphabet (1 septet each) and its extension table (2 septets:
 *   the escape and the character); at most 160 septets.
 * - UCS2: UTF-16 code units (a character outside the Basic Multilingual Plane, such as most emoji,
 *   takes two); at most 70.
 *
 * One message only, no concatenation: a concatenated SMS is sent to a SIM as one upstream call per
 * part, each with its own user data header and its own upstream id, and a SIM's upstream takes one
 * message per call (providers/sims/types.ts `sendSms`). Longer texts are refused, not cut.
 */
export type SmsEncoding = 'GSM7' | 'UCS2'

export const SMS_MAX_UNITS: Record<SmsEncoding, number> = { GSM7: 160, UCS2: 70 }

/** The default alphabet, in table order, without 0x1B (the escape to the extension table, not a character). */
const GSM7_BASIC = new Set('@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà')
/** The extension table: form feed, ^ { } \ [ ~ ] | €. */
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€')

const codePoint = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`

/** Septets of `text` in GSM-7, or the first character GSM-7 cannot encode. */
export function gsm7Septets(text: string): { septets: number } | { unsupported: string } {
  let septets = 0
  for (const ch of text) {
    if (GSM7_BASIC.has(ch)) septets += 1
    else if (GSM7_EXTENSION.has(ch)) septets += 2
    else return { unsupported: ch }
  }
  return { septets }
}

export const isGsm7 = (text: string) => 'septets' in gsm7Septets(text)

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** The first control character other than line feed and carriage return (the two the GSM alphabet has too). */
function control(text: string): string | null {
  for (const ch of text) {
    const c = ch.codePointAt(0)!
    if ((c < 0x20 && c !== 0x0a && c !== 0x0d) || (c >= 0x7f && c <= 0x9f)) return ch
  }
  return null
}

/** Why `text` cannot be sent as one SMS in `encoding`, or null when it can. */
export function smsTextProblem(text: string, encoding: SmsEncoding): string | null {
  const max = SMS_MAX_UNITS[encoding]
  if (encoding === 'GSM7') {
    const n = gsm7Septets(text)
    if ('unsupported' in n) {
      return `The character ${JSON.stringify(n.unsupported)} (${codePoint(n.unsupported)}) is not in the GSM-7 alphabet; send the message with encoding UCS2`
    }
    if (n.septets > max) return `Too long for one GSM-7 SMS: ${n.septets} characters, at most ${max} (^ { } \\ [ ~ ] | € and form feed count 2)`
    return null
  }
  if (LONE_SURROGATE.test(text)) return 'Contains an unpaired surrogate (not text)'
  const ctl = control(text)
  if (ctl) return `Must not contain control characters other than line feed and carriage return (found ${codePoint(ctl)})`
  if (text.length > max) return `Too long for one UCS-2 SMS: ${text.length} UTF-16 code units, at most ${max} (a character outside the Basic Multilingual Plane, such as an emoji, counts 2)`
  return null
}
