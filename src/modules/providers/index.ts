import type { Router } from '../../lib/router'

export function registerProviders(_r: Router) {}
