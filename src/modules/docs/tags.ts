/**
 * The OpenAPI tags with their descriptions, in the order the docs pages list them, and the
 * document's own description. They name the API families as the README's "API families" section
 * does: the activation API, the DID API, usage billing and the SIM API (and messaging, which is
 * not available yet). test/modules/docs/standalone-docs.test.ts checks that every tag an operation
 * uses is described here.
 */

export const API_DESCRIPTION =
  'One edge API for reselling telecom, in four families that share accounts, API keys, one prepaid wallet and ' +
  'one webhook catalogue:\n\n' +
  '- **The activation API**: short-lived SMS-activation numbers for receiving a one-time code, their offers and the ' +
  'wallet (`/api/numbers`, `/api/search/offers`, `/api/wallet`, and the public `/api/v1/balance`, `/api/v1/sms`).\n' +
  '- **The DID API**: accounts and API keys, long-lived phone numbers (DIDs) with orders and reservations, billing ' +
  'accounts, payment methods and invoices, analytics, webhooks and administration (`/api/v1/…`).\n' +
  '- **Usage billing**: subscriptions, reported and metered usage, monthly invoices and statistics (`/api/subscription`, ' +
  '`/api/usage`, `/api/invoices`, `/api/stats`).\n\n' +
  '- **The SIM API**: IoT SIMs — status, connectivity, usage, quotas, top-ups paid from the wallet, SMS to devices and ' +
  'limits (`/api/v1/sims…`, `/api/v1/jobs/{job_id}`).\n\n' +
  'Messaging (outbound channels) is not available yet.\n\n' +
  'Authenticate with `Authorization: Bearer <access token>` from /api/v1/auth/login, or an API key ' +
  '(`X-API-Key: sk_live_…`, `Authorization: Bearer sk_live_…` or `?api_key=`). Every answer is an envelope: ' +
  '`{success: true, data, meta}` or `{success: false, error: {code, message, details?, field?}, meta}`. Amounts are ' +
  'decimals in USD, kept exactly (to a millionth of a dollar).'

/**
 * Where the API answers. Fixed rather than read from the request or env so the document (and the client types generated
 * from it) is the same wherever it is produced. First `/`: the host that serves the document, so "Try it out" in `/docs`
 * calls the server the reader is on (a local `npm start` never sends to production by default); then production (the host
 * wrangler.toml names as the token issuer, JWT_ISSUER) and `npm start` on port 8787.
 */
export const SERVERS: { url: string; description: string }[] = [
  { url: '/', description: 'The server this document is served from' },
  { url: 'https://api.switchboard.dev', description: 'Production' },
  { url: 'http://localhost:8787', description: 'Local development (`npm start`)' },
]

export const TAGS: { name: string; description: string }[] = [
  {
    name: 'auth',
    description:
      'Accounts and sessions, shared by every family: register, log in, refresh, log out, password reset, email ' +
      'verification and the current user (`/api/v1/auth/…`). Access tokens are short-lived JWTs; refresh tokens rotate on use.',
  },
  {
    name: 'api-keys',
    description:
      'API keys (`/api/v1/api-keys`), accepted by every family: `sk_live_…` / `sk_test_…`, shown once, with scoped ' +
      'permissions, optional expiry and revocation. Managing keys needs a user session.',
  },
  {
    name: 'search',
    description: "The activation API's public offer search (`/api/search/offers`): which SMS-activation numbers are for sale, by service and country, at what price.",
  },
  {
    name: 'numbers',
    description:
      'Phone numbers of two families. The activation API: short-lived SMS-activation numbers — buy one for a service and ' +
      'country, read the code that arrives, cancel for a refund (`/api/numbers/…`, `POST /api/v1/numbers`). The DID API: ' +
      'long-lived numbers (DIDs) — search the inventory, reserve, buy, configure and release them (`/api/v1/numbers…`).',
  },
  {
    name: 'orders',
    description: "The DID API's orders (`/api/v1/orders`): several numbers bought together, their results, cancellation with refund and payment retry.",
  },
  {
    name: 'wallet',
    description:
      'The prepaid wallet every family pays from: balance, reserved and available money, the ledger (`/api/wallet/…`, ' +
      '`/api/v1/balance`) and top-ups from a payment method (`/api/v1/billing/top-up`).',
  },
  {
    name: 'public-v1',
    description: "The activation API's routes for programmatic clients: the balance, buying a number and reading its SMS, with their own rate class.",
  },
  {
    name: 'billing',
    description:
      "The DID API's billing (`/api/v1/billing/…`): the billing account with auto-pay and automatic top-up, payment " +
      "methods, top-ups, and usage with its cost over a date range; usage billing's account statistics (`/api/stats`).",
  },
  {
    name: 'invoices',
    description:
      "Monthly invoices, shown two ways over the same records: usage billing's (`/api/invoices`: generate a closed month, " +
      "list) and the DID API's (`/api/v1/billing/invoices`: pages with a summary, details, payment in full or in part, " +
      'download as PDF, CSV or JSON).',
  },
  {
    name: 'sims',
    description:
      'The SIM API: IoT SIMs on the 1NCE management API (`/api/v1/sims…`): register your SIMs, read status, connectivity, ' +
      'usage, quotas and events, top up data and SMS from the wallet (one SIM, or thousands as a job at `/api/v1/jobs/{job_id}`), ' +
      'auto top-up, SMS to and from devices, and global limits. Lists page with `page`/`page_size`.',
  },
  {
    name: 'messaging',
    description:
      'The messaging API (MessageJS): projects with their keys (`pk_…`, send-only), connectors (WhatsApp Cloud API, Telegram Bot API, ' +
      'Twilio SMS, the sandbox) and `{{variable}}` templates; `POST /api/v1/messages` queues a message paid from the wallet, whose ' +
      'status moves forward only (`queued → sent → delivered | read | failed`) and reaches your webhooks. Lists page with `limit`/`offset`.',
  },
  {
    name: 'usage',
    description: 'Usage billing: report call minutes, SMS and API calls, and read them by month (`/api/usage`); account statistics (`/api/stats`).',
  },
  {
    name: 'subscriptions',
    description: "Usage billing's plans (`/api/subscription`): basic, pro and enterprise, by calendar month (UTC), with upgrade proration.",
  },
  {
    name: 'analytics',
    description: "The DID API's analytics of your account (`/api/v1/analytics/…`): the dashboard and call analytics over a date range.",
  },
  {
    name: 'webhooks',
    description:
      'Signed partner webhooks (Standard Webhooks) for the events of every family: endpoints, secret rotation, the ' +
      'delivery log, test sends and retries (`/api/v1/webhooks…`); and the route upstream providers deliver inbound SMS to.',
  },
  {
    name: 'sandbox',
    description: 'The sandbox provider, which needs no upstream account: send an SMS to your sandbox activation number or sandbox DID.',
  },
  {
    name: 'admin',
    description:
      'Operators only: users (under `/api/admin/…` and `/api/v1/admin/…`), wallet credits, providers and their sync, the ' + 'audit log, mails, failed background jobs, system health and analytics.',
  },
  {
    name: 'health',
    description: 'Liveness, readiness and Prometheus metrics: outside the families, never rate limited.',
  },
]
