import type { Router } from '../../lib/router'

export function registerDids(_r: Router) {}
