CREATE TABLE `failed_jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`body` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`message_id` text,
	`first_failed_at` integer NOT NULL,
	`last_failed_at` integer NOT NULL,
	`dead_at` integer
);
--> statement-breakpoint
CREATE INDEX `failed_jobs_last_failed_idx` ON `failed_jobs` (`last_failed_at`);--> statement-breakpoint
CREATE INDEX `failed_jobs_status_idx` ON `failed_jobs` (`status`,`last_failed_at`);--> statement-breakpoint
CREATE INDEX `failed_jobs_type_idx` ON `failed_jobs` (`type`,`last_failed_at`);