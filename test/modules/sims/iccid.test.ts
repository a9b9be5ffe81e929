import { describe, expect, it } from 'vitest'
import { InvalidIccid, luhnCheckDigit, parseIccid } from '../../../src/modules/sims/iccid'

const failure = (raw: string) => {
  try {
    parseIccid(raw)
  } catch (e) {
    return e as InvalidIccid
  }
  throw new Error(`${raw} was accepted`)
}

describe('ICCIDs', () => {
  it('computes the Luhn check digit (the textbook 7992739871 → 3)', () => {
    expect(luhnCheckDigit('7992739871')).toBe(3)
    expect(luhnCheckDigit('8988228666000000001')).toBe(9)
  })

  it('accepts 19 digits and adds the check digit', () => {
    expect(parseIccid('8988228666000000001')).toEqual({ iccid: '8988228666000000001', iccidWithLuhn: '89882286660000000019' })
    expect(parseIccid(' 8988228666000000001 ')).toEqual({ iccid: '8988228666000000001', iccidWithLuhn: '89882286660000000019' })
  })

  it('accepts 20 digits whose last verifies, and stores them by the first 19', () => {
    expect(parseIccid('89882286660000000019')).toEqual({ iccid: '8988228666000000001', iccidWithLuhn: '89882286660000000019' })
  })

  it('refuses 18 digits, 20 with a wrong check digit, letters and 21 digits with 400 INVALID_ICCID {field, reason}', () => {
    for (const raw of ['898822866600000000', '89882286660000000018', '898822866600000000A', '89882286660000000019X', '898822866600000000190', '']) {
      const e = failure(raw)
      expect(e, raw).toBeInstanceOf(InvalidIccid)
      expect({ status: e.status, code: e.code }, raw).toEqual({ status: 400, code: 'INVALID_ICCID' })
      expect(e.details, raw).toMatchObject({ field: 'iccid', reason: expect.any(String) })
    }
    expect((failure('89882286660000000018').details as { reason: string }).reason).toMatch(/check digit/)
  })
})
