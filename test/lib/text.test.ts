import { describe, expect, it } from 'vitest'
import { displayText, displayTextProblem } from '../../src/lib/text'

describe('displayTextProblem', () => {
  it('accepts letters of any script, marks, emoji with joiners and the direction marks', () => {
    for (const s of ['Zoë', 'Łódź', 'ʻŌlelo', '山田太郎', 'محمد\u061c 42', 'עברית\u200f (2)', 'abc\u200e', 'नमस्ते', 'فارسی\u200cها', '👩\u200d👩\u200d👧', '🇩🇪', 'a\u00a0b', '']) {
      expect(displayTextProblem(s, false), JSON.stringify(s)).toBeNull()
    }
    expect(displayTextProblem('line one\n\tline two', true)).toBeNull()
  })

  it('refuses controls, bidi controls, separators and unpaired surrogates', () => {
    for (const ch of [
      '\u0000',
      '\u0001',
      '\r',
      '\u001f',
      '\u007f',
      '\u0080',
      '\u009f',
      '\u202a',
      '\u202b',
      '\u202c',
      '\u202d',
      '\u202e',
      '\u2066',
      '\u2067',
      '\u2068',
      '\u2069',
      '\u2028',
      '\u2029',
      '\ud800',
      '\udfff',
    ]) {
      expect(displayTextProblem(`a${ch}b`, false), JSON.stringify(ch)).not.toBeNull()
      expect(displayTextProblem(`a${ch}b`, true), JSON.stringify(ch)).not.toBeNull()
    }
    expect(displayTextProblem('a\nb', false)).toMatch(/one line.*U\+000A/)
    expect(displayTextProblem('a\tb', false)).toMatch(/U\+0009/)
  })

  it('the schema trims, turns CR LF into LF in multi-line text and counts the length after that', () => {
    expect(displayText({ max: 10, multiline: true }).parse('  a\r\nb  ')).toBe('a\nb')
    expect(displayText({ max: 10 }).safeParse('a\r\nb').success).toBe(false)
    expect(displayText({ min: 1, max: 10 }).safeParse('   ').success).toBe(false)
    expect(displayText({ max: 3 }).safeParse(' abc ').success).toBe(true)
  })
})
