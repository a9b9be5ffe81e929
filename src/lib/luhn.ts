/** The Luhn check digit (ICCIDs): pure, so every layer may use it. */

/** The Luhn check digit of a string of digits (the rightmost digit of the payload is doubled). */
export function luhnCheckDigit(payload: string): number {
  let sum = 0
  for (let i = payload.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = payload.charCodeAt(i) - 48
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return (10 - (sum % 10)) % 10
}
