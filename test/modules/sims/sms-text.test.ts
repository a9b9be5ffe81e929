/** SMS text rules: the GSM-7 alphabet and its extension table, and one message's length per encoding. */
import { describe, expect, it } from 'vitest'
import { gsm7Septets, isGsm7, SMS_MAX_UNITS, smsTextProblem } from '../../../src/modules/sims/sms-text'

describe('gsm7Septets', () => {
  it('counts the default alphabet 1 and the extension table 2', () => {
    const basic = 'Hello @ £$¥ èéùìò ΔΦΓΛΩΠΨΣΘΞ ÆæßÉ ¡¿ ÄÖÑÜ§ äöñüà\r\n'
    expect(gsm7Septets(basic)).toEqual({ septets: [...basic].length })
    expect(gsm7Septets('^{}\\[~]|€\f')).toEqual({ septets: 20 })
    expect(gsm7Septets('')).toEqual({ septets: 0 })
  })

  it('names the first character outside the alphabet', () => {
    expect(gsm7Septets('ok ç')).toEqual({ unsupported: 'ç' })
    expect(gsm7Septets('tab\there')).toEqual({ unsupported: '\t' })
    expect(gsm7Septets('`')).toEqual({ unsupported: '`' })
    expect(gsm7Septets('\u001b')).toEqual({ unsupported: '\u001b' })
    expect(gsm7Septets('hi 👋')).toEqual({ unsupported: '👋' })
    expect(isGsm7('Reboot device now')).toBe(true)
    expect(isGsm7('Grüße 🙂')).toBe(false)
  })
})

describe('smsTextProblem', () => {
  it('GSM7: at most 160 septets, extension characters counting 2', () => {
    expect(SMS_MAX_UNITS).toEqual({ GSM7: 160, UCS2: 70 })
    expect(smsTextProblem('a'.repeat(160), 'GSM7')).toBeNull()
    expect(smsTextProblem('€'.repeat(80), 'GSM7')).toBeNull()
    expect(smsTextProblem('a'.repeat(161), 'GSM7')).toMatch(/161 characters, at most 160/)
    expect(smsTextProblem(`${'a'.repeat(159)}€`, 'GSM7')).toMatch(/161 characters/)
    expect(smsTextProblem('naïve', 'GSM7')).toMatch(/"ï" \(U\+00EF\) is not in the GSM-7 alphabet.*UCS2/)
  })

  it('UCS2: at most 70 UTF-16 code units; no unpaired surrogates or controls', () => {
    expect(smsTextProblem('ж'.repeat(70), 'UCS2')).toBeNull()
    expect(smsTextProblem('ж'.repeat(71), 'UCS2')).toMatch(/71 UTF-16 code units, at most 70/)
    expect(smsTextProblem('🙂'.repeat(35), 'UCS2')).toBeNull()
    expect(smsTextProblem('🙂'.repeat(36), 'UCS2')).toMatch(/72 UTF-16 code units/)
    expect(smsTextProblem('line\r\nline', 'UCS2')).toBeNull()
    expect(smsTextProblem('a\ud800b', 'UCS2')).toMatch(/unpaired surrogate/)
    expect(smsTextProblem('a\u0000', 'UCS2')).toMatch(/U\+0000/)
  })
})
