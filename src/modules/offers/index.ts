import type { Router } from '../../http/router'
import { registerSearchOffers } from './search-offers'

export function registerOffers(r: Router) {
  registerSearchOffers(r)
}
