import type { Services } from '../../services'

/** Sweeper step: expire activations past their time with no SMS, cancel upstream, refund. */
export async function expireActivations(_services: Services, _now: number) {
  return { expired: 0 }
}
