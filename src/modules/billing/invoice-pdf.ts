/**
 * A small PDF 1.4 writer for invoices (no dependency). The file is plain, uncompressed PDF:
 *
 *   1 Catalog · 2 Pages · 3 Helvetica · 4 Helvetica-Bold · 5 Info · then per page a Page and its
 *   content stream (header, line-item table, totals, page footer)
 *
 * with an xref table of exact byte offsets, `trailer` (/Size, /Root, /Info), `startxref` and
 * `%%EOF`. Text is WinAnsi (Latin-1 for the printable range): other characters are replaced, and
 * `(`, `)` and `\` are escaped in strings. The table continues on new pages when the lines do not
 * fit; the totals come after the last line. Widths come from Helvetica's metrics so numbers are
 * right-aligned and long descriptions are cut with "...".
 */
import { addressLines, day, money, type InvoiceDocument } from './invoice-document'

const PAGE_W = 612
const PAGE_H = 792
const MARGIN = 50
const RIGHT = PAGE_W - MARGIN
const BOTTOM = 60
const ROW = 16
const COL_QTY = 380
const COL_UNIT = 465
const COL_DESC_WIDTH = 255

// Helvetica advance widths (1/1000 em) for 32..126; other characters use 556.
const HELVETICA = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611,
  778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833,
  556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
]

/** Width in points of `text` in Helvetica at `size` (bold is close enough for layout). */
export function textWidth(text: string, size: number): number {
  let w = 0
  for (const ch of winAnsi(text)) {
    const code = ch.charCodeAt(0)
    w += code >= 32 && code <= 126 ? HELVETICA[code - 32]! : 556
  }
  return (w * size) / 1000
}

const REPLACEMENTS: Record<string, string> = {
  '\u2014': '-',
  '\u2013': '-',
  '\u2018': "'",
  '\u2019': "'",
  '\u201c': '"',
  '\u201d': '"',
  '\u2026': '...',
  '\u2212': '-',
  '\u2192': '->',
  '\u2190': '<-',
}

/** One byte per character: printable ASCII and Latin-1 kept, a few typographic marks mapped, the rest `?`. */
export function winAnsi(text: string): string {
  let out = ''
  for (const ch of text) {
    const code = ch.codePointAt(0)!
    if (REPLACEMENTS[ch]) out += REPLACEMENTS[ch]
    else if ((code >= 32 && code <= 126) || (code >= 160 && code <= 255)) out += ch
    else if (code === 9 || code === 10 || code === 13) out += ' '
    else out += '?'
  }
  return out
}

/** A PDF literal string: `(…)` with `\`, `(` and `)` escaped. */
export function pdfString(text: string): string {
  return `(${winAnsi(text).replace(/[\\()]/g, (m) => `\\${m}`)})`
}

function fit(text: string, size: number, width: number): string {
  if (textWidth(text, size) <= width) return text
  let cut = text
  while (cut.length > 0 && textWidth(`${cut}...`, size) > width) cut = cut.slice(0, -1)
  return `${cut.trimEnd()}...`
}

const num = (n: number) => (Math.round(n * 100) / 100).toString()

class Page {
  readonly ops: string[] = []
  text(x: number, y: number, s: string, size = 10, bold = false) {
    this.ops.push(`BT /${bold ? 'F2' : 'F1'} ${size} Tf ${num(x)} ${num(y)} Td ${pdfString(s)} Tj ET`)
  }
  right(xRight: number, y: number, s: string, size = 10, bold = false) {
    this.text(xRight - textWidth(s, size), y, s, size, bold)
  }
  line(x1: number, y1: number, x2: number, y2: number, width = 0.5) {
    this.ops.push(`${num(width)} w ${num(x1)} ${num(y1)} m ${num(x2)} ${num(y2)} l S`)
  }
  fill(x: number, y: number, w: number, h: number, gray: number) {
    this.ops.push(`${gray} g ${num(x)} ${num(y)} ${num(w)} ${num(h)} re f 0 g`)
  }
}

/** Lays the invoice out on as many pages as its lines need. */
function layout(doc: InvoiceDocument): Page[] {
  const pages: Page[] = []
  let page!: Page
  let y = 0
  const cur = (m: number) => money(m, doc.currency)

  const tableHeader = () => {
    page.fill(MARGIN, y - 5, RIGHT - MARGIN, ROW + 2, 0.9)
    page.text(MARGIN + 4, y, 'Description', 9, true)
    page.right(COL_QTY, y, 'Quantity', 9, true)
    page.right(COL_UNIT, y, 'Unit price', 9, true)
    page.right(RIGHT - 4, y, 'Total', 9, true)
    y -= ROW + 4
  }
  const newPage = (first: boolean) => {
    page = new Page()
    pages.push(page)
    y = PAGE_H - MARGIN
    if (first) {
      page.text(MARGIN, y - 14, 'INVOICE', 22, true)
      page.right(RIGHT, y - 4, doc.invoiceNumber, 12, true)
      page.right(RIGHT, y - 20, `Status: ${doc.status}`, 10)
      y -= 50
      const facts: [string, string][] = [
        ['Invoice number', doc.invoiceNumber],
        ['Issue date', day(doc.issueDate)],
        ['Due date', day(doc.dueDate)],
        ['Billing period', `${day(doc.periodStart)} to ${day(doc.periodEnd)}`],
      ]
      if (doc.paidDate) facts.push(['Paid on', day(doc.paidDate)])
      const top = y
      for (const [k, v] of facts) {
        page.text(MARGIN, y, `${k}:`, 10, true)
        page.text(MARGIN + 95, y, v, 10)
        y -= 14
      }
      let ay = top
      page.text(330, ay, 'Bill to:', 10, true)
      ay -= 14
      const address = addressLines(doc.billingAddress)
      for (const l of address.length ? address.slice(0, 8) : ['(no billing address on file)']) {
        page.text(330, ay, fit(l, 10, RIGHT - 330), 10)
        ay -= 14
      }
      y = Math.min(y, ay) - 16
    } else {
      page.text(MARGIN, y - 10, `Invoice ${doc.invoiceNumber} (continued)`, 12, true)
      y -= 36
    }
    tableHeader()
  }

  newPage(true)
  for (const l of doc.lines) {
    if (y - ROW < BOTTOM) newPage(false)
    page.text(MARGIN + 4, y, fit(l.description, 9, COL_DESC_WIDTH), 9)
    page.right(COL_QTY, y, String(l.quantity), 9)
    page.right(COL_UNIT, y, cur(l.unitPrice), 9)
    page.right(RIGHT - 4, y, cur(l.totalPrice), 9)
    page.line(MARGIN, y - 5, RIGHT, y - 5, 0.25)
    y -= ROW
  }
  if (!doc.lines.length) {
    page.text(MARGIN + 4, y, '(no line items)', 9)
    y -= ROW
  }

  const totals: [string, string, boolean][] = [['Subtotal', cur(doc.subtotal), false]]
  if (doc.discount) totals.push(['Discount', cur(-doc.discount), false])
  totals.push(['Tax', cur(doc.tax), false], ['Total', cur(doc.total), true], ['Amount paid', cur(doc.amountPaid), false], ['Amount due', cur(doc.amountDue), true])
  if (y - 16 - totals.length * 14 < BOTTOM) newPage(false)
  y -= 2
  page.line(COL_UNIT - 80, y, RIGHT, y, 0.75)
  y -= 14
  for (const [label, value, bold] of totals) {
    page.right(COL_UNIT, y, label, 10, bold)
    page.right(RIGHT - 4, y, value, 10, bold)
    y -= 14
  }

  pages.forEach((p, i) => {
    p.right(RIGHT, 30, `${doc.invoiceNumber} - page ${i + 1} of ${pages.length}`, 8)
  })
  return pages
}

/** The invoice as a PDF 1.4 file. */
export function invoicePdf(doc: InvoiceDocument, now = new Date()): Uint8Array<ArrayBuffer> {
  const pages = layout(doc)
  const objects: string[] = []
  const pageObj = (i: number) => 6 + 2 * i
  objects[1] = '<< /Type /Catalog /Pages 2 0 R >>'
  objects[2] = `<< /Type /Pages /Kids [${pages.map((_, i) => `${pageObj(i)} 0 R`).join(' ')}] /Count ${pages.length} >>`
  objects[3] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>'
  objects[4] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>'
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14)
  objects[5] = `<< /Title ${pdfString(`Invoice ${doc.invoiceNumber}`)} /Producer (Switchboard) /CreationDate (D:${stamp}Z) >>`
  pages.forEach((p, i) => {
    const content = p.ops.join('\n')
    objects[pageObj(i)] = `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${PAGE_W} ${PAGE_H}] ` + `/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents ${pageObj(i) + 1} 0 R >>`
    // Every character is one byte (winAnsi), so the string length is the byte length.
    objects[pageObj(i) + 1] = `<< /Length ${content.length} >>\nstream\n${content}\nendstream`
  })

  // A binary comment on line 2 tells transfer tools the file is binary.
  let out = '%PDF-1.4\n%\u00e2\u00e3\u00cf\u00d3\n'
  const offsets: number[] = []
  for (let n = 1; n < objects.length; n++) {
    offsets[n] = out.length
    out += `${n} 0 obj\n${objects[n]}\nendobj\n`
  }
  const xref = out.length
  out += `xref\n0 ${objects.length}\n0000000000 65535 f \n`
  for (let n = 1; n < objects.length; n++) out += `${String(offsets[n]).padStart(10, '0')} 00000 n \n`
  out += `trailer\n<< /Size ${objects.length} /Root 1 0 R /Info 5 0 R >>\nstartxref\n${xref}\n%%EOF`

  const bytes = new Uint8Array(out.length)
  for (let i = 0; i < out.length; i++) bytes[i] = out.charCodeAt(i) & 0xff
  return bytes
}
