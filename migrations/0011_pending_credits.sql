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
CREATE INDEX `pending_credits_due_idx` ON `pending_credits` (`status`,`next_attempt_at`);