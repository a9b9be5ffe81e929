CREATE TABLE `renewal_charges` (
	`op_id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`phone_number_id` text NOT NULL,
	`period_start` integer NOT NULL,
	`period_end` integer NOT NULL,
	`seq` integer NOT NULL,
	`amount` integer NOT NULL,
	`status` text NOT NULL,
	`created_at` integer NOT NULL,
	`resolved_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`phone_number_id`) REFERENCES `phone_numbers`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `renewal_charges_period_uq` ON `renewal_charges` (`phone_number_id`,`period_start`,`seq`);--> statement-breakpoint
CREATE INDEX `renewal_charges_open_idx` ON `renewal_charges` (`status`,`created_at`);--> statement-breakpoint
ALTER TABLE `pending_credits` ADD `debit_op_id` text;