/** Seconds to wait after attempt n fails (index n − 1): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const RETRY_SCHEDULE_SECONDS = [5, 300, 1800, 7200, 18_000, 36_000, 36_000] as const
export const MAX_ATTEMPTS = RETRY_SCHEDULE_SECONDS.length + 1
