/**
 * Cron: one CRONS map from expression to job. wrangler.toml's `[triggers] crons` must list exactly
 * these expressions (test/scheduled/crons.test.ts). Every job is idempotent for its period, so a
 * repeated or overlapping trigger changes nothing.
 */
import type { Env } from './env'
import { runBilling } from './modules/billing/billing.job'
import { runSweeper } from './modules/maintenance/sweeper.job'
import { syncProviders } from './modules/providers/provider-sync.job'
import { enqueueSimSync } from './modules/sims/sim-sync.job'
import { createServices, type Services } from './services'
import { logger } from './lib/logger'

export type Job = (services: Services, scheduledTime: number) => Promise<unknown>

export const CRONS: Record<string, { name: string; run: Job }> = {
  '* * * * *': { name: 'sweeper', run: runSweeper },
  '*/15 * * * *': { name: 'provider-sync', run: async (s, t) => ({ providers: await syncProviders(s, t), sims: await enqueueSimSync(s, t) }) },
  '0 3 * * *': { name: 'billing', run: runBilling },
}

export async function scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
  const job = CRONS[controller.cron]
  if (!job) throw new Error(`No job for cron '${controller.cron}'`)
  const result = await job.run(createServices(env, ctx), controller.scheduledTime)
  logger.info('cron job done', { job: job.name, cron: controller.cron, result })
}
