import type { Router } from '../../http/router'
import { registerReceiveSmsWebhook } from './receive-sms-webhook'
import { registerSendSandboxNumberSms } from './send-sandbox-number-sms'
import { registerSendSandboxSms } from './send-sandbox-sms'

export function registerInboundSms(r: Router) {
  registerReceiveSmsWebhook(r)
  registerSendSandboxSms(r)
  registerSendSandboxNumberSms(r)
}
