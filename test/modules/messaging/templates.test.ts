/**
 * Templates: the declared variables must equal the content's placeholders (`{{name}}`, spaces
 * inside the braces allowed) on create and on update; rendering replaces each once, escapes values
 * for Telegram's HTML (never the content itself) and refuses a missing one; a send whose template
 * is for another channel than its connector, or lacks a variable, is refused before anything is
 * held or written.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { AppError } from '../../../src/lib/errors'
import { placeholders, render } from '../../../src/modules/messaging/templates.service'
import { escaperFor } from '../../../src/providers/messaging/registry'
import { call, expectErrorEnvelope, registerUser, type TestUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { holdIds, messageRow, messagingSetup, sendBody } from '../../helpers/messaging'

async function project(u: TestUser): Promise<string> {
  const res = await call('/api/v1/projects', { token: u.accessToken, body: { name: 'Templates' } })
  expect(res.status, res.text).toBe(201)
  return res.body.data.id
}

const createTemplate = (u: TestUser, projectId: string, body: Record<string, unknown>) =>
  call(`/api/v1/projects/${projectId}/templates`, { token: u.accessToken, body: { name: 'T', connectorType: 'sandbox', ...body } })

async function messagesOf(userId: string): Promise<number> {
  return (await env.DB.prepare('SELECT COUNT(*) AS n FROM messages WHERE user_id = ?').bind(userId).first<{ n: number }>())?.n ?? 0
}

function thrown(f: () => unknown): AppError {
  try {
    f()
  } catch (e) {
    if (e instanceof AppError) return e
    throw e
  }
  throw new Error('expected an AppError')
}

describe('variables must equal the placeholders', () => {
  it('on create: a placeholder not declared, or a variable not used, is 400 VALIDATION_ERROR naming it', async () => {
    const u = await registerUser()
    const p = await project(u)
    const missing = await createTemplate(u, p, { content: 'Hi {{name}}, code {{code}}', variables: ['name'] })
    expectErrorEnvelope(missing, 400, 'VALIDATION_ERROR')
    expect(missing.body.error.field, missing.text).toBe('variables')
    expect(missing.body.error.message, missing.text).toMatch(/not declared: code\b/)

    const unused = await createTemplate(u, p, { content: 'Hi {{name}}', variables: ['name', 'promo'] })
    expectErrorEnvelope(unused, 400, 'VALIDATION_ERROR')
    expect(unused.body.error.message, unused.text).toMatch(/not used in content: promo\b/)

    const both = await createTemplate(u, p, { content: 'Hi {{first}}', variables: ['last'] })
    expectErrorEnvelope(both, 400, 'VALIDATION_ERROR')
    expect(both.body.error.message, both.text).toContain('first')
    expect(both.body.error.message, both.text).toContain('last')

    const twice = await createTemplate(u, p, { content: 'Hi {{name}}', variables: ['name', 'name'] })
    expectErrorEnvelope(twice, 400, 'VALIDATION_ERROR')

    const none = await createTemplate(u, p, { content: 'No placeholders at all', variables: [] })
    expect(none.status, none.text).toBe(201)
    const list = await call(`/api/v1/projects/${p}/templates`, { token: u.accessToken })
    expect(list.body.data.templates.map((t: { id: string }) => t.id)).toEqual([none.body.data.id])
  })

  it('`{{ name }}` with spaces is a placeholder like `{{name}}`; one used twice is one variable', async () => {
    const u = await registerUser()
    const p = await project(u)
    const ok = await createTemplate(u, p, { content: 'Hi {{ name }}, {{name}} again, code {{  code\t}}', variables: ['code', 'name'] })
    expect(ok.status, ok.text).toBe(201)
    expect(ok.body.data.variables).toEqual(['code', 'name'])
    const spaced = await createTemplate(u, p, { content: 'Hi {{ name }}', variables: [] })
    expectErrorEnvelope(spaced, 400, 'VALIDATION_ERROR')
    expect(spaced.body.error.message, spaced.text).toMatch(/not declared: name\b/)
    expect(placeholders('{{ a }} {{b}} {{a}} {{ c}}')).toEqual(['a', 'b', 'c'])
    // Not placeholders: a name starting with a digit, single braces.
    expect(placeholders('{{1st}} {name} {{ }}')).toEqual([])
  })

  it('on update: new content or new variables must still agree, else 400 and the template keeps what it had', async () => {
    const u = await registerUser()
    const p = await project(u)
    const created = await createTemplate(u, p, { content: 'Hi {{name}}', variables: ['name'] })
    const path = `/api/v1/projects/${p}/templates/${created.body.data.id}`
    const put = (body: Record<string, unknown>) => call(path, { token: u.accessToken, method: 'PUT', body })

    const newPlaceholder = await put({ content: 'Hi {{name}}, code {{code}}' })
    expectErrorEnvelope(newPlaceholder, 400, 'VALIDATION_ERROR')
    expect(newPlaceholder.body.error.message, newPlaceholder.text).toMatch(/not declared: code\b/)
    const extraVariable = await put({ variables: ['name', 'code'] })
    expectErrorEnvelope(extraVariable, 400, 'VALIDATION_ERROR')
    expect(extraVariable.body.error.message, extraVariable.text).toMatch(/not used in content: code\b/)
    const droppedVariable = await put({ variables: [] })
    expectErrorEnvelope(droppedVariable, 400, 'VALIDATION_ERROR')
    expect(droppedVariable.body.error.message, droppedVariable.text).toMatch(/not declared: name\b/)

    const unchanged = await call(path, { token: u.accessToken })
    expect(unchanged.body.data).toMatchObject({ content: 'Hi {{name}}', variables: ['name'] })

    const both = await put({ content: 'Hi {{ name }}, code {{code}}', variables: ['name', 'code'] })
    expect(both.status, both.text).toBe(200)
    expect(both.body.data).toMatchObject({ content: 'Hi {{ name }}, code {{code}}', variables: ['name', 'code'] })
  })
})

describe('rendering', () => {
  it('Telegram: values are escaped for HTML (& < > "), the content is not', () => {
    const html = escaperFor('telegram')
    expect(html).toBeTypeOf('function')
    const text = render('<b>Hello {{name}}</b>, <a href="https://example.com/?u={{ id }}">open</a>', { name: '<script>alert("x")</script> & co', id: 'a"b' }, html)
    expect(text).toBe('<b>Hello &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co</b>, <a href="https://example.com/?u=a&quot;b">open</a>')
    // Already-escaped input is escaped again (the value is text, not markup).
    expect(render('{{v}}', { v: '&amp;' }, html)).toBe('&amp;amp;')
    // Numbers and booleans are rendered as text.
    expect(render('{{n}} {{b}}', { n: 42, b: false }, html)).toBe('42 false')
  })

  it('other channels take values as they are', () => {
    for (const type of ['sandbox', 'whatsapp', 'twilio'] as const) {
      expect(escaperFor(type), type).toBeUndefined()
      expect(render('Hi {{name}}', { name: '<b>Ada</b> & "co"' }, escaperFor(type))).toBe('Hi <b>Ada</b> & "co"')
    }
  })

  it('each placeholder is replaced once: a value that looks like a placeholder stays text', () => {
    expect(render('{{a}} / {{b}}', { a: '{{b}}', b: 'B' })).toBe('{{b}} / B')
    expect(render('{{ a }}{{a}}', { a: 'x' })).toBe('xx')
  })

  it('a missing or empty variable is MISSING_REQUIRED_FIELD naming it; extra values are ignored', () => {
    const missing = thrown(() => render('Hi {{name}}, code {{code}}', { name: 'Ada', extra: 'x' }))
    expect(missing).toMatchObject({ status: 400, code: 'MISSING_REQUIRED_FIELD', field: 'variables.code' })
    expect(missing.message).toContain('code')
    const empty = thrown(() => render('Hi {{ name }}', { name: '' }))
    expect(empty).toMatchObject({ status: 400, code: 'MISSING_REQUIRED_FIELD', field: 'variables.name' })
    expect(render('Hi {{name}}', { name: 'Ada', unused: 'x' })).toBe('Hi Ada')
  })
})

describe('templates on send', () => {
  it('a template with spaced placeholders renders through a send', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u, { content: 'Hi {{ name }}, your code is {{code }}' })
    const res = await call('/api/v1/messages', { token: s.key, body: sendBody(s) })
    expect(res.status, res.text).toBe(202)
    // The text is rendered at send, before the queue.
    expect((await messageRow(res.body.data.messageId))?.text).toBe('Hi Ada, your code is 12345')
  })

  it("a template for another channel than the connector's is 400 VALIDATION_ERROR; nothing held or written", async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const telegram = await call(`/api/v1/projects/${s.projectId}/templates`, {
      token: u.accessToken,
      body: { name: 'Telegram code', connectorType: 'telegram', content: 'Hello {{name}}, your code is {{code}}', variables: ['name', 'code'] },
    })
    expect(telegram.status, telegram.text).toBe(201)
    const res = await call('/api/v1/messages', { token: s.key, body: sendBody(s, { templateId: telegram.body.data.id }) })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(res.body.error.field, res.text).toBe('templateId')
    expect(res.body.error.message, res.text).toContain('telegram')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000, reserved: 0, activeHolds: 0 })
    expect(await messagesOf(u.id)).toBe(0)
    expect(await holdIds(u.id)).toEqual([])
  })

  it('a missing variable is 400 MISSING_REQUIRED_FIELD naming it: no message row, no hold', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    for (const variables of [{ name: 'Ada' }, { code: '1' }, {}, { name: 'Ada', code: '' }]) {
      const res = await call('/api/v1/messages', { token: s.key, body: sendBody(s, { variables }) })
      expectErrorEnvelope(res, 400, 'MISSING_REQUIRED_FIELD')
      const name = 'name' in variables ? 'code' : 'name'
      expect(res.body.error.field, res.text).toBe(`variables.${name}`)
      expect(res.body.error.message, res.text).toContain(name)
    }
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000, reserved: 0, activeHolds: 0 })
    expect(await messagesOf(u.id)).toBe(0)
    expect(await holdIds(u.id)).toEqual([])
    const sandbox = await env.DB.prepare('SELECT COUNT(*) AS n FROM sandbox_messages WHERE connector_key = ?').bind(s.connectorId).first<{ n: number }>()
    expect(sandbox?.n).toBe(0)
  })

  it('an inactive template is refused on send (400 VALIDATION_ERROR), nothing held', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const off = await call(`/api/v1/projects/${s.projectId}/templates/${s.templateId}`, { token: u.accessToken, method: 'PUT', body: { isActive: false } })
    expect(off.status, off.text).toBe(200)
    const res = await call('/api/v1/messages', { token: s.key, body: sendBody(s) })
    expectErrorEnvelope(res, 400, 'VALIDATION_ERROR')
    expect(res.body.error.field, res.text).toBe('templateId')
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000, activeHolds: 0 })
    expect(await messagesOf(u.id)).toBe(0)
    expect(await holdIds(u.id)).toEqual([])
  })
})
