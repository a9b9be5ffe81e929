ALTER TABLE `billing_accounts` ADD `auto_top_up_enabled` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `billing_accounts` ADD `auto_top_up_threshold` integer;--> statement-breakpoint
ALTER TABLE `billing_accounts` ADD `auto_top_up_amount` integer;--> statement-breakpoint
ALTER TABLE `billing_accounts` ADD `auto_top_up_payment_method_id` text;