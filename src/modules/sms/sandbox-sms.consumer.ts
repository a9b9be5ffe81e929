/**
 * `sandbox.sms` jobs (queue `jobs`): the sandbox's automatic SMS in local dev, sent
 * `autoSmsSeconds` after a purchase (see activations.service.ts). Idempotent: the message id is
 * fixed at purchase (`auto_<activation id>`), so a redelivered job finds the SMS stored.
 * A number that is no longer waiting (cancelled, expired, already has an SMS) gets nothing: the
 * demo upstream only "sends" to numbers that wait for a code.
 */
import { z } from 'zod'
import { AppError } from '../../lib/errors'
import type { Services } from '../../services'
import { log } from '../activations/activations.service'
import { DEFAULT_SANDBOX_TEXT, sandboxActivation } from './send-sandbox-sms'

export const SandboxSmsJob = z.object({
  type: z.literal('sandbox.sms'),
  activationId: z.string().min(1).max(64),
  messageId: z.string().min(1).max(128),
  text: z.string().min(1).max(1000).optional(),
  sender: z.string().min(1).max(100).optional(),
})

/** Resolves when the job is done (or can never be done: logged); throws to be retried. */
export async function runSandboxSmsJob(body: unknown, services: Services): Promise<void> {
  const parsed = SandboxSmsJob.safeParse(body)
  if (!parsed.success) {
    log('error', 'sandbox.sms: malformed job dropped', { issues: parsed.error.issues.map((i) => i.message) })
    return
  }
  const job = parsed.data
  let activation: Awaited<ReturnType<typeof sandboxActivation>>
  try {
    activation = await sandboxActivation(services, job.activationId)
  } catch (e) {
    // Unknown or not a sandbox number: retrying cannot help.
    if (e instanceof AppError && e.status < 500) return log('warn', 'sandbox.sms: skipped', { activationId: job.activationId, reason: e.code })
    throw e
  }
  if (activation.status !== 'active') return log('info', 'sandbox.sms: number no longer waiting', { activationId: activation.id, status: activation.status })
  await services.inboundSms.deliver(activation, {
    text: job.text ?? DEFAULT_SANDBOX_TEXT,
    sender: job.sender ?? 'Sandbox',
    messageId: job.messageId,
    receivedAt: new Date().toISOString(),
  })
}
