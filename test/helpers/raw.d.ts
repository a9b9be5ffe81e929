/** Vite's `?raw` imports: the file's text (the cron and queue tests read wrangler.toml this way). */
declare module '*?raw' {
  const text: string
  export default text
}
