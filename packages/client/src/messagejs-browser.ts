/**
 * The browser script (/sdk/v1/messagejs.js, built by scripts/client/generate.mjs): sets `window.messagejs`.
 * Without a `baseUrl`, `init` sends to the host the script was loaded from, so
 * `<script src="https://<api host>/sdk/v1/messagejs.js">` needs no further configuration.
 */
import { createMessageJS, DEFAULT_BASE_URL } from './messagejs.js'

const script = (globalThis as { document?: { currentScript?: { src?: string } | null } }).document?.currentScript
const origin = script?.src ? new URL(script.src).origin : DEFAULT_BASE_URL

;(globalThis as { messagejs?: unknown }).messagejs = createMessageJS(origin)
