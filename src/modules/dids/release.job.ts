import type { Services } from '../../services'

/**
 * Sweeper step: release numbers whose scheduled release date has passed. One select (on
 * phone_numbers_release_idx), upstream releases number by number, one batch; idempotent — a
 * released number is never selected again and its event id is fixed.
 */
export async function releaseScheduledNumbers(services: Services, now: number) {
  return services.dids.releaseDue(now)
}
