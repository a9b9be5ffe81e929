// The demo user's messaging (the MessageJS API), set up by `npm start` through the API as the demo
// user would (scripts/start.mjs calls it once the Worker answers, with the demo user's session):
//   - the project "Demo project", with a sandbox connector "Demo sandbox" (no credentials: it
//     delivers 2 s after sending, the sandbox's default) and a template "Demo code" `Your code is {{code}}`;
//     each is created only when the demo user has none of that name, so restarts make no duplicates;
//   - a new project key "Demo key" on every start: a key is shown only when it is created and stored
//     hashed, so reusing one would leave nothing to print. The earlier "Demo key"s of the project are
//     revoked once the new one exists, so exactly one demo project key works at a time;
//   - money: a message is held on the wallet before it is queued, so a wallet with less than
//     FUND_BELOW available is topped up by FUND_AMOUNT from the demo user's default sandbox card.

export const DEMO_PROJECT = { name: 'Demo project', description: 'Made by npm start: a sandbox connector, a template and a project key' }
export const DEMO_CONNECTOR = { type: 'sandbox', name: 'Demo sandbox', credentials: {} }
export const DEMO_TEMPLATE = { name: 'Demo code', connectorType: 'sandbox', content: 'Your code is {{code}}', variables: ['code'] }
export const DEMO_PROJECT_KEY = 'Demo key'
/** USD: below this available balance the demo wallet is topped up (a sandbox message costs $0.001). */
export const FUND_BELOW = 1
export const FUND_AMOUNT = 5

/**
 * Creates what is missing and mints the project key. `fetch` answers requests for `base` (the
 * running Worker; tests pass the Worker's own fetch). Throws with the route and the answer's error
 * code when a call fails.
 */
export async function setUpDemoMessaging({ base, token, fetch = globalThis.fetch }) {
  async function api(method, path, body, headers = {}) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
    const text = await res.text()
    let json = null
    try {
      json = JSON.parse(text)
    } catch {
      // not JSON: the status says enough
    }
    if (!res.ok) throw new Error(`${method} ${path} answered HTTP ${res.status}${json?.error?.code ? ` ${json.error.code}` : ''}`)
    return json
  }
  /** Every item of a seed-004 list (`data[field]`, paged by limit/offset), oldest first. */
  async function all(path, field) {
    const items = []
    for (let offset = 0; ; offset += 100) {
      const page = await api('GET', `${path}?limit=100&offset=${offset}`)
      items.push(...page.data[field])
      if (!page.pagination?.hasMore) break
    }
    return items.reverse()
  }
  /** The oldest item that matches, else a new one. */
  async function findOrCreate(path, field, matches, body) {
    const found = (await all(path, field)).find(matches)
    if (found) return { row: found, created: false }
    return { row: (await api('POST', path, body)).data, created: true }
  }

  const project = await findOrCreate('/api/v1/projects', 'projects', (p) => p.name === DEMO_PROJECT.name, DEMO_PROJECT)
  const projectPath = `/api/v1/projects/${project.row.id}`
  const connector = await findOrCreate(`${projectPath}/connectors`, 'connectors', (c) => c.type === DEMO_CONNECTOR.type && c.name === DEMO_CONNECTOR.name, DEMO_CONNECTOR)
  const template = await findOrCreate(`${projectPath}/templates`, 'templates', (t) => t.connectorType === DEMO_TEMPLATE.connectorType && t.name === DEMO_TEMPLATE.name, DEMO_TEMPLATE)

  const earlierKeys = (await all(`${projectPath}/keys`, 'keys')).filter((k) => k.name === DEMO_PROJECT_KEY)
  const key = (await api('POST', `${projectPath}/keys`, { name: DEMO_PROJECT_KEY })).data
  for (const k of earlierKeys) await api('DELETE', `${projectPath}/keys/${k.id}`)

  const available = (await api('GET', '/api/wallet/balance')).data.available
  let funded = null
  if (available < FUND_BELOW) {
    const topUp = await api('POST', '/api/v1/billing/top-up', { amount: FUND_AMOUNT }, { 'idempotency-key': crypto.randomUUID() })
    funded = { amount: FUND_AMOUNT, available: topUp.data.balance.available }
  }

  return { project, connector, template, key: key.key, keyId: key.id, revokedKeys: earlierKeys.length, available, funded }
}

/** The lines `npm start` prints about it: the ids, the key (its only appearance), and a line to paste. */
export function describeDemoMessaging(r, email) {
  const state = (x) => (x.created ? 'created' : 'exists ')
  // Cents at least, and the tenths of a cent a message moves ($4.999).
  const usd = (n) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`
  return [
    `  Messaging of ${email} (README "Messaging (the MessageJS API)"):`,
    `    ${state(r.project)}  project    ${r.project.row.id}  "${r.project.row.name}"`,
    `    ${state(r.connector)}  connector  ${r.connector.row.id}  sandbox "${r.connector.row.name}"${r.connector.row.isActive ? '' : ' (inactive)'}`,
    `    ${state(r.template)}  template   ${r.template.row.id}  "${r.template.row.content}"${r.template.row.isActive ? '' : ' (inactive)'}`,
    `    created  project key ${r.key}   (shown only now, stored as a hash; every start makes a new one${r.revokedKeys ? `, and the earlier one${r.revokedKeys === 1 ? ' is' : 's are'} now revoked` : ''})`,
    `    wallet   ${usd(r.available)} available${r.funded ? `: topped up ${usd(r.funded.amount)} from the sandbox card, now ${usd(r.funded.available)}` : ''} (a sandbox message costs $0.001)`,
    `    export PK=${r.key} CONN=${r.connector.row.id} TPL=${r.template.row.id}`,
  ].join('\n')
}
