import type { Router } from '../../lib/router'

export function registerActivations(_r: Router) {}
