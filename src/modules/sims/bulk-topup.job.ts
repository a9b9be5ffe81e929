/** The `sims.topup` job: one chunk of a bulk top-up (topup.service.ts). Thrown errors retry the message. */
import type { Services } from '../../services'
import type { BulkTopUpMessage } from './topup.service'

export async function runSimTopUpJob(body: unknown, services: Services): Promise<void> {
  await services.simTopUpService.runChunk(body as BulkTopUpMessage)
}
