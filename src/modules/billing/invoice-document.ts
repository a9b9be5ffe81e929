/**
 * An invoice as the PDF and CSV writers see it: amounts in micro-units, dates as ISO strings.
 * Built from the stored rows (src/modules/billing/invoice-views.ts `documentOf`).
 */
export interface InvoiceDocumentLine {
  type: string
  description: string
  quantity: number
  unitPrice: number
  totalPrice: number
  periodStart: string | null
  periodEnd: string | null
}

export interface InvoiceDocument {
  invoiceNumber: string
  status: string
  currency: string
  issueDate: string
  dueDate: string
  periodStart: string
  periodEnd: string
  paidDate: string | null
  billingAddress: Record<string, unknown>
  lines: InvoiceDocumentLine[]
  subtotal: number
  discount: number
  tax: number
  total: number
  amountPaid: number
  amountDue: number
}

/** Micro-units as a plain decimal with at least two decimals and no trailing zeros beyond: 29.99, 0.001, -5.00. */
export function decimal(micros: number): string {
  const m = Math.round(micros)
  const sign = m < 0 ? '-' : ''
  const abs = Math.abs(m)
  const whole = Math.floor(abs / 1_000_000)
  let frac = String(abs % 1_000_000)
    .padStart(6, '0')
    .replace(/0+$/, '')
  if (frac.length < 2) frac = frac.padEnd(2, '0')
  return `${sign}${whole}.${frac}`
}

/** For people: `$1,234.50` (USD) or `1,234.50 EUR`. */
export function money(micros: number, currency: string): string {
  const d = decimal(Math.abs(micros))
  const [whole, frac] = d.split('.') as [string, string]
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  const body = `${grouped}.${frac}`
  const sign = micros < 0 ? '-' : ''
  return currency === 'USD' ? `${sign}$${body}` : `${sign}${body} ${currency}`
}

/** `YYYY-MM-DD` of an ISO instant. */
export const day = (isoString: string | null) => (isoString ? isoString.slice(0, 10) : '')

/** The address as printable lines (known fields first, then any others as `key: value`). */
export function addressLines(a: Record<string, unknown>): string[] {
  const s = (k: string) => (typeof a[k] === 'string' && (a[k] as string).trim() ? (a[k] as string).trim() : '')
  const lines: string[] = []
  for (const k of ['name', 'company', 'line1', 'street', 'line2']) if (s(k)) lines.push(s(k))
  const cityLine = [s('city'), [s('state'), s('postalCode')].filter(Boolean).join(' ')].filter(Boolean).join(', ')
  if (cityLine) lines.push(cityLine)
  if (s('country')) lines.push(s('country'))
  const known = new Set(['name', 'company', 'line1', 'street', 'line2', 'city', 'state', 'postalCode', 'country'])
  for (const [k, v] of Object.entries(a)) {
    if (known.has(k) || v === null || v === undefined || v === '') continue
    lines.push(`${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
  }
  return lines
}
