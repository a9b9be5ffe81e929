import type { Router } from '../../lib/router'

export function registerOrders(_r: Router) {}
