CREATE INDEX `activations_user_status_created_idx` ON `activations` (`user_id`,`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `orders_user_total_idx` ON `orders` (`user_id`,`total`);--> statement-breakpoint
CREATE INDEX `phone_numbers_user_last_used_idx` ON `phone_numbers` (`user_id`,`last_used_at`);