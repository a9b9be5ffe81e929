import type { Router } from '../../http/router'
import { registerGetBalance } from './get-balance'
import { registerListTransactions } from './list-transactions'
import { registerTopUpWallet } from './top-up-wallet'

export function registerWallet(r: Router) {
  registerGetBalance(r)
  registerListTransactions(r)
  registerTopUpWallet(r)
}
