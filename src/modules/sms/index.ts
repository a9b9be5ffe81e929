import type { Router } from '../../lib/router'

export function registerInboundSms(_r: Router) {}
