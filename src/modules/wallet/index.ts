import type { Router } from '../../lib/router'

export function registerWallet(_r: Router) {}
