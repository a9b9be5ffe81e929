import type { Services } from '../../services'

/** Sweeper step: release numbers whose scheduled release date has passed. */
export async function releaseScheduledNumbers(_services: Services, _now: number) {
  return { released: 0 }
}
