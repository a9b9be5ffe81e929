/** Vite's `?raw` imports: the file's text (test/cron reads wrangler.toml this way). */
declare module '*?raw' {
  const text: string
  export default text
}
