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
CREATE INDEX `failed_jobs_type_idx` ON `failed_jobs` (`type`,`last_failed_at`);--> statement-breakpoint
CREATE TABLE `pending_credits` (
	`op_id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`amount` integer NOT NULL,
	`reference_type` text,
	`reference_id` text,
	`description` text,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`next_attempt_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`done_at` integer
);
--> statement-breakpoint
CREATE INDEX `pending_credits_due_idx` ON `pending_credits` (`status`,`next_attempt_at`);--> statement-breakpoint
ALTER TABLE `billing_accounts` ADD `auto_top_up_enabled` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `billing_accounts` ADD `auto_top_up_threshold` integer;--> statement-breakpoint
ALTER TABLE `billing_accounts` ADD `auto_top_up_amount` integer;--> statement-breakpoint
ALTER TABLE `billing_accounts` ADD `auto_top_up_payment_method_id` text;--> statement-breakpoint
ALTER TABLE `payments` ADD `resume_attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `payments` ADD `resume_after` integer;