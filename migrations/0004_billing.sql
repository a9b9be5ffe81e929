CREATE TABLE `billing_accounts` (
	`user_id` text PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`company` text,
	`tax_id` text,
	`billing_address` text DEFAULT '{}' NOT NULL,
	`credit_limit` integer,
	`currency` text DEFAULT 'USD' NOT NULL,
	`auto_pay_enabled` integer DEFAULT false NOT NULL,
	`billing_cycle` text DEFAULT 'MONTHLY' NOT NULL,
	`stripe_customer_id` text,
	`paypal_customer_id` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `did_renewals` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`phone_number_id` text NOT NULL,
	`period_start` integer NOT NULL,
	`period_end` integer NOT NULL,
	`amount` integer NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 1 NOT NULL,
	`last_attempt_at` integer NOT NULL,
	`charged_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`phone_number_id`) REFERENCES `phone_numbers`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `did_renewals_period_uq` ON `did_renewals` (`phone_number_id`,`period_start`);--> statement-breakpoint
CREATE INDEX `did_renewals_user_idx` ON `did_renewals` (`user_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `invoice_line_items` (
	`id` text PRIMARY KEY NOT NULL,
	`invoice_id` text NOT NULL,
	`user_id` text NOT NULL,
	`position` integer NOT NULL,
	`type` text NOT NULL,
	`description` text NOT NULL,
	`quantity` integer NOT NULL,
	`unit_price` integer NOT NULL,
	`total_price` integer NOT NULL,
	`period_start` integer,
	`period_end` integer,
	`details` text,
	FOREIGN KEY (`invoice_id`) REFERENCES `invoices`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `invoice_line_items_invoice_idx` ON `invoice_line_items` (`invoice_id`,`position`);--> statement-breakpoint
CREATE TABLE `invoices` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`invoice_number` text NOT NULL,
	`month` text NOT NULL,
	`status` text NOT NULL,
	`currency` text DEFAULT 'USD' NOT NULL,
	`subtotal` integer NOT NULL,
	`tax` integer DEFAULT 0 NOT NULL,
	`discount` integer DEFAULT 0 NOT NULL,
	`total` integer NOT NULL,
	`amount_paid` integer DEFAULT 0 NOT NULL,
	`payment_seq` integer DEFAULT 0 NOT NULL,
	`subscription_fee` integer DEFAULT 0 NOT NULL,
	`usage_fee` integer DEFAULT 0 NOT NULL,
	`breakdown` text NOT NULL,
	`billing_address` text DEFAULT '{}' NOT NULL,
	`period_start` integer NOT NULL,
	`period_end` integer NOT NULL,
	`issue_date` integer NOT NULL,
	`due_date` integer NOT NULL,
	`paid_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `invoices_user_month_uq` ON `invoices` (`user_id`,`month`);--> statement-breakpoint
CREATE UNIQUE INDEX `invoices_number_uq` ON `invoices` (`invoice_number`);--> statement-breakpoint
CREATE INDEX `invoices_user_issue_idx` ON `invoices` (`user_id`,`issue_date`);--> statement-breakpoint
CREATE INDEX `invoices_user_status_idx` ON `invoices` (`user_id`,`status`);--> statement-breakpoint
CREATE INDEX `invoices_status_due_idx` ON `invoices` (`status`,`due_date`);--> statement-breakpoint
CREATE TABLE `payment_methods` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`type` text NOT NULL,
	`processor` text NOT NULL,
	`processor_ref` text NOT NULL,
	`last4` text,
	`brand` text,
	`expiry_month` integer,
	`expiry_year` integer,
	`bank_name` text,
	`account_type` text,
	`billing_address` text,
	`is_default` integer DEFAULT false NOT NULL,
	`is_verified` integer DEFAULT false NOT NULL,
	`is_active` integer DEFAULT true NOT NULL,
	`deleted_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `payment_methods_user_idx` ON `payment_methods` (`user_id`,`created_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `payment_methods_default_uq` ON `payment_methods` (`user_id`) WHERE is_default = 1 and deleted_at is null;--> statement-breakpoint
CREATE TABLE `payments` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`purpose` text NOT NULL,
	`invoice_id` text,
	`amount` integer NOT NULL,
	`currency` text DEFAULT 'USD' NOT NULL,
	`status` text NOT NULL,
	`processor` text NOT NULL,
	`payment_method_id` text,
	`processor_ref` text,
	`failure_reason` text,
	`attempt_key` text NOT NULL,
	`processed_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payments_attempt_uq` ON `payments` (`attempt_key`);--> statement-breakpoint
CREATE INDEX `payments_user_created_idx` ON `payments` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `payments_invoice_idx` ON `payments` (`invoice_id`);--> statement-breakpoint
CREATE TABLE `subscription_changes` (
	`id` text PRIMARY KEY NOT NULL,
	`subscription_id` text NOT NULL,
	`user_id` text NOT NULL,
	`from_plan` text,
	`to_plan` text NOT NULL,
	`from_status` text,
	`to_status` text NOT NULL,
	`proration` integer DEFAULT 0 NOT NULL,
	`at` integer NOT NULL,
	FOREIGN KEY (`subscription_id`) REFERENCES `subscriptions`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `subscription_changes_sub_idx` ON `subscription_changes` (`subscription_id`,`at`);--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`plan` text NOT NULL,
	`status` text NOT NULL,
	`start_date` integer NOT NULL,
	`current_period_start` integer NOT NULL,
	`current_period_end` integer NOT NULL,
	`cancelled_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `subscriptions_user_uq` ON `subscriptions` (`user_id`);--> statement-breakpoint
CREATE INDEX `subscriptions_status_idx` ON `subscriptions` (`status`);--> statement-breakpoint
CREATE TABLE `usage_records` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`resource_type` text NOT NULL,
	`resource_id` text,
	`quantity` integer NOT NULL,
	`unit` text NOT NULL,
	`unit_price` integer NOT NULL,
	`total_cost` integer NOT NULL,
	`currency` text DEFAULT 'USD' NOT NULL,
	`prepaid` integer DEFAULT false NOT NULL,
	`description` text,
	`month` text NOT NULL,
	`occurred_at` integer NOT NULL,
	`transaction_id` text,
	`report_id` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `usage_records_txn_uq` ON `usage_records` (`user_id`,`transaction_id`);--> statement-breakpoint
CREATE INDEX `usage_records_user_occurred_idx` ON `usage_records` (`user_id`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `usage_records_user_month_idx` ON `usage_records` (`user_id`,`month`,`resource_type`);--> statement-breakpoint
CREATE INDEX `usage_records_report_idx` ON `usage_records` (`report_id`);--> statement-breakpoint
CREATE INDEX `usage_records_month_idx` ON `usage_records` (`month`);--> statement-breakpoint
ALTER TABLE `phone_numbers` ADD `renewal_grace_until` integer;--> statement-breakpoint
ALTER TABLE `phone_numbers` ADD `suspended_at` integer;--> statement-breakpoint
CREATE INDEX `phone_numbers_renewal_idx` ON `phone_numbers` (`status`,`next_renewal_at`);