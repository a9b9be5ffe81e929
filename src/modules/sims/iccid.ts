/**
 * ICCIDs of the SIM API. A SIM is named by 19 digits (without the check digit) or 20 digits whose
 * last is the Luhn check digit of the first 19, which must verify. Anything else is 400
 * `INVALID_ICCID` with `details: { field, reason }`. SIMs are stored and compared by the 19-digit
 * form; answers carry both (`iccid`, `iccid_with_luhn`).
 */
import { AppError } from '../../lib/errors'
import { luhnCheckDigit } from '../../lib/luhn'

export { luhnCheckDigit }

export class InvalidIccid extends AppError {
  constructor(reason: string, field = 'iccid') {
    super(400, 'INVALID_ICCID', 'The provided ICCID is invalid', { field, reason })
  }
}

export interface Iccid {
  /** The 19 digits without the check digit: the form SIMs are stored and looked up by. */
  iccid: string
  /** The same with its Luhn check digit (20 digits). */
  iccidWithLuhn: string
}

/** Reads an ICCID as a client sent it (surrounding spaces allowed); throws InvalidIccid. */
export function parseIccid(raw: string, field = 'iccid'): Iccid {
  const value = raw.trim()
  if (!/^\d+$/.test(value)) throw new InvalidIccid('Must be 19-20 digits (digits only)', field)
  if (value.length === 19) return { iccid: value, iccidWithLuhn: `${value}${luhnCheckDigit(value)}` }
  if (value.length === 20) {
    const iccid = value.slice(0, 19)
    if (Number(value[19]) !== luhnCheckDigit(iccid)) throw new InvalidIccid('The check digit (the 20th) does not match the Luhn check of the first 19 digits', field)
    return { iccid, iccidWithLuhn: value }
  }
  throw new InvalidIccid('Must be 19-20 digits', field)
}
