import type { Router } from '../../lib/router'
import { registerSearchOffers } from './search-offers'

export function registerOffers(r: Router) {
  registerSearchOffers(r)
}
