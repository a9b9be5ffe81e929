import type { Router } from '../../http/router'
import { registerForgotPassword } from './forgot-password'
import { registerLogin } from './login'
import { registerLogout } from './logout'
import { registerMe } from './me'
import { registerRefresh } from './refresh'
import { registerRegister } from './register'
import { registerResetPassword } from './reset-password'
import { registerVerifyEmail } from './verify-email'

export function registerAuth(r: Router) {
  registerRegister(r)
  registerLogin(r)
  registerRefresh(r)
  registerLogout(r)
  registerMe(r)
  registerForgotPassword(r)
  registerResetPassword(r)
  registerVerifyEmail(r)
}
