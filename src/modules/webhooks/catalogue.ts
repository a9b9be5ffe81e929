/**
 * The one event catalogue partners subscribe to, each family's events under their own names:
 * the activation API (`sms.received`), the DID API (calls, SMS, numbers, payments), the SIM API
 * (SIMs, quotas, connectivity), usage billing (usage, invoices, subscriptions),
 * and Switchboard's own.
 */
export const EVENT_TYPES = [
  // the activation API (and the SIM API)
  'sms.received',
  // the DID API
  'CALL_STARTED',
  'CALL_ANSWERED',
  'CALL_COMPLETED',
  'CALL_FAILED',
  'SMS_RECEIVED',
  'SMS_SENT',
  'SMS_DELIVERED',
  'SMS_FAILED',
  'NUMBER_PURCHASED',
  'NUMBER_RELEASED',
  // Switchboard: DID monthly renewals (src/modules/dids/renewals.job.ts)
  'NUMBER_RENEWED',
  'NUMBER_RENEWAL_FAILED',
  'NUMBER_SUSPENDED',
  'PAYMENT_SUCCEEDED',
  'PAYMENT_FAILED',
  // the SIM API (src/modules/sims/sim-events.ts)
  'sim.activated',
  'sim.suspended',
  'quota.threshold_reached',
  'quota.depleted',
  'connectivity.lost',
  'connectivity.restored',
  // the messaging API (src/modules/messaging/message-status.ts)
  'message.sent',
  'message.delivered',
  'message.failed',
  // usage billing
  'usage.recorded',
  'invoice.generated',
  'invoice.paid',
  'subscription.updated',
  // Switchboard
  'activation.created',
  'webhook.endpoint.disabled',
] as const

/** Example data for test sends, in each family's payload shape. */
export function sampleData(event: string): Record<string, unknown> {
  const now = new Date().toISOString()
  if (event === 'sms.received') {
    return { numberId: 'num_example', phone: '+12025551234', code: '123456', text: 'Your code is 123456', sender: 'Telegram', receivedAt: now }
  }
  if (event.startsWith('SMS_')) {
    return {
      messageId: 'sms_example',
      messageSid: 'SMexample',
      numberId: 'pn_example',
      phoneNumber: '+12025551234',
      from: '+15555550100',
      to: '+12025551234',
      body: 'Hello',
      direction: 'inbound',
      status: 'received',
    }
  }
  if (event.startsWith('CALL_')) {
    return {
      callId: 'call_example',
      callSid: 'CAexample',
      numberId: 'pn_example',
      phoneNumber: '+12025551234',
      from: '+15555550100',
      to: '+12025551234',
      direction: 'inbound',
      status: 'completed',
      duration: 42,
    }
  }
  if (event === 'NUMBER_RENEWED') {
    return { numberId: 'pn_example', phoneNumber: '+12025551234', amount: 1.15, currency: 'USD', periodStart: now, periodEnd: now }
  }
  if (event === 'NUMBER_RENEWAL_FAILED') {
    return { numberId: 'pn_example', phoneNumber: '+12025551234', amount: 1.15, currency: 'USD', periodStart: now, graceUntil: now, reason: 'INSUFFICIENT_BALANCE' }
  }
  if (event === 'NUMBER_SUSPENDED') {
    return { numberId: 'pn_example', phoneNumber: '+12025551234', amount: 1.15, currency: 'USD', periodStart: now, suspendedAt: now, releaseAfter: now, reason: 'renewal_unpaid' }
  }
  if (event.startsWith('NUMBER_')) return { numberId: 'pn_example', phoneNumber: '+12025551234', numberType: 'LOCAL', orderId: 'ord_example', cost: 2.15, currency: 'USD' }
  if (event.startsWith('PAYMENT_')) return { paymentId: 'pay_example', amount: 10, currency: 'USD', status: event === 'PAYMENT_FAILED' ? 'failed' : 'succeeded', paymentMethod: 'wallet' }
  if (event.startsWith('quota.')) return { iccid: '8988228666000000001', quota_type: 'data', threshold: 80, current_usage: 419430400, total_quota: 524288000 }
  if (event.startsWith('sim.') || event.startsWith('connectivity.')) return { iccid: '8988228666000000001', status: event }
  if (event.startsWith('message.')) {
    const status = event.slice('message.'.length)
    return {
      messageId: 'msg_example',
      projectId: 'proj_example',
      connectorId: 'conn_example',
      connectorType: 'whatsapp',
      to: '+14155550123',
      status,
      upstreamId: 'wamid.example',
      at: now,
      ...(status === 'failed' ? { error: { code: 'OUTSIDE_SESSION_WINDOW', message: 'WhatsApp error 131047' } } : {}),
    }
  }
  return { example: true }
}
