import { describe, expect, it } from 'vitest'
import { extractCode, normalizeCode } from '../../../src/modules/sms/sms-code'

describe('extractCode', () => {
  it.each([
    ['Your code is 123456', '123456'],
    ['Your Telegram code: 54321. Do not share it.', '54321'],
    ['Code 1234', '1234'],
    ['12345678 is your verification code', '12345678'],
    ['Your code is 123-456', '123456'],
    ['123-456 is your WhatsApp code', '123456'],
    ['G-482913 is your Google verification code', '482913'],
    ['Call 1-800-555-0100 if this was not you. Code 7788', '7788'],
    ['Order 123456789 confirmed, PIN 4321', '4321'],
    ['Код подтверждения: 9087', '9087'],
  ])('%s → %s', (text, code) => {
    expect(extractCode(text), text).toBe(code)
  })

  it.each([['no digits here'], ['only 123 three'], ['a 9-digit 123456789 run'], ['12-34'], ['']])('%s → null', (text) => {
    expect(extractCode(text), text).toBeNull()
  })
})

describe('normalizeCode (a code the provider sent)', () => {
  it('keeps digits, joins 123-456, takes numbers, and ignores empty values', () => {
    expect(normalizeCode('54321')).toBe('54321')
    expect(normalizeCode(54321)).toBe('54321')
    expect(normalizeCode('123-456')).toBe('123456')
    expect(normalizeCode('')).toBeNull()
    expect(normalizeCode(null)).toBeNull()
    expect(normalizeCode(undefined)).toBeNull()
  })
})
