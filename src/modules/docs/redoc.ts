/**
 * GET /redoc: the OpenAPI document (/openapi.json) rendered by Redoc, next to the Swagger UI of
 * /docs. The page loads one pinned file, Redoc's standalone bundle, from jsDelivr (the CDN /docs
 * already uses; no copy in the Worker, whose bundle stays small), checked by Subresource Integrity:
 * the hash is that of the file in the npm package, which jsDelivr serves unchanged.
 *
 * Its Content-Security-Policy allows exactly what the page does: that one script (no inline
 * script: the bundle starts itself from the `<redoc spec-url>` element), a fetch of our own
 * /openapi.json, the search index's Worker (built from a blob), the styles Redoc injects at run
 * time, inline images and the one image of its own it shows (the "API docs by Redocly" logo).
 * No fonts are loaded from elsewhere; Redoc falls back to system fonts. (Checked in a headless
 * browser: the page renders with no CSP violation.)
 */
import type { Context } from 'hono'

export const REDOC_VERSION = '2.5.4'
export const REDOC_SCRIPT = `https://cdn.jsdelivr.net/npm/redoc@${REDOC_VERSION}/bundles/redoc.standalone.js`
/** sha384 of bundles/redoc.standalone.js in the redoc@2.5.4 npm package. */
const REDOC_INTEGRITY = 'sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5'

/** The one remote image the page shows: the logo beside "API docs by Redocly" in the menu. */
const REDOC_LOGO = 'https://cdn.redoc.ly/redoc/logo-mini.svg'

export const REDOC_CSP = [
  "default-src 'none'",
  `script-src ${REDOC_SCRIPT}`,
  "connect-src 'self'",
  'worker-src blob:',
  "style-src 'unsafe-inline'",
  `img-src 'self' data: ${REDOC_LOGO}`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Switchboard API reference</title>
    <style>body { margin: 0; padding: 0; }</style>
  </head>
  <body>
    <noscript>This page needs JavaScript. The OpenAPI document itself is at <a href="/openapi.json">/openapi.json</a>.</noscript>
    <redoc spec-url="/openapi.json"></redoc>
    <script src="${REDOC_SCRIPT}" integrity="${REDOC_INTEGRITY}" crossorigin="anonymous"></script>
  </body>
</html>
`

export function redocPage(c: Context) {
  c.header('Content-Security-Policy', REDOC_CSP)
  return c.html(PAGE)
}
