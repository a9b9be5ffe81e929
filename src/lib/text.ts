/**
 * The one schema of display text: what people name and describe things with (names, labels,
 * descriptions, notes, friendly names, reasons, tags, company and address lines). Such text is shown
 * in consoles, e-mails, invoices and logs, so characters that are invisible there or change how the
 * text around them is shown are refused with a VALIDATION_ERROR naming the field and the character:
 *
 * - C0 controls U+0000–U+001F (NUL included), DEL U+007F and C1 controls U+0080–U+009F. Multi-line
 *   fields (notes, descriptions, reasons) keep line feed and tab; a CR LF pair arrives as LF, a lone
 *   CR is refused. One-line fields refuse line feed and tab too.
 * - The bidirectional embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069: they make
 *   text display in another order than it is stored (`invoice\u202Efdp.exe` shows as `invoiceexe.pdf`).
 * - The line and paragraph separators U+2028/U+2029 (the only line break is LF) and unpaired
 *   surrogates (not text at all; storage would turn them into U+FFFD).
 *
 * Kept: letters, marks and digits of every script, emoji and the joiners they need (U+200C/U+200D),
 * and the direction marks U+200E (LRM), U+200F (RLM) and U+061C (ALM). The marks are invisible
 * strong characters that cannot reorder a run of letters, only settle where neighbouring
 * punctuation and digits go; people writing Hebrew or Arabic next to Latin text and numbers
 * (a company name with a number) need them, and they carry no spoofing power the override
 * characters have.
 *
 * Leading and trailing whitespace is trimmed.
 */
import { z } from '@hono/zod-openapi'

const C0_C1_DEL = /[\u0000-\u001f\u007f-\u009f]/
const C0_C1_DEL_BUT_LF_TAB = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/
const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069]/
const SEPARATOR = /[\u2028\u2029]/
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

const codePoint = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`

/** Why `text` is not acceptable display text, or null when it is. */
export function displayTextProblem(text: string, multiline: boolean): string | null {
  const control = (multiline ? C0_C1_DEL_BUT_LF_TAB : C0_C1_DEL).exec(text)
  if (control) {
    const ch = control[0]
    if (ch === '\n' || ch === '\t') return `Must be one line: line breaks and tabs are not allowed (found ${codePoint(ch)})`
    return `Must not contain control characters (found the control character ${codePoint(ch)})`
  }
  const bidi = BIDI_CONTROL.exec(text)
  if (bidi) {
    return `Must not contain bidirectional embedding, override or isolate characters, which make text display in another order than it is written (found ${codePoint(bidi[0])})`
  }
  const separator = SEPARATOR.exec(text)
  if (separator) return `Must not contain Unicode line or paragraph separators (found ${codePoint(separator[0])}); use a line feed in multi-line text`
  const surrogate = LONE_SURROGATE.exec(text)
  if (surrogate) return `Must be valid Unicode text (found an unpaired surrogate ${codePoint(surrogate[0])})`
  return null
}

export interface DisplayTextOptions {
  /** Most characters (UTF-16 code units, as `string.length` counts). */
  max: number
  /** Fewest characters after trimming (default 0). */
  min?: number
  /** Notes, descriptions and reasons: line feeds and tabs allowed (default false). */
  multiline?: boolean
}

/** A display-text field: trimmed, between `min` and `max` long, and free of the characters above. */
export function displayText({ max, min = 0, multiline = false }: DisplayTextOptions) {
  let s = z.string()
  if (multiline) s = s.overwrite((v) => v.replace(/\r\n/g, '\n'))
  s = s.trim()
  if (min > 0) s = s.min(min)
  return s.max(max).superRefine((v, ctx) => {
    const problem = displayTextProblem(v, multiline)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  })
}
