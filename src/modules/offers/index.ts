import type { Router } from '../../lib/router'

export function registerOffers(_r: Router) {}
