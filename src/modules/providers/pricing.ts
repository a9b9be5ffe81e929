import type { Provider } from '../../db/schema'

/** Our price for an upstream cost: cost × (1 + margin) + fixed margin, in micro-units, rounded up. */
export function priceFor(cost: number, p: Pick<Provider, 'marginBps' | 'marginFixed'>): number {
  return Math.ceil((cost * (10_000 + p.marginBps)) / 10_000) + p.marginFixed
}
