CREATE TABLE `activations` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`provider_id` text NOT NULL,
	`offer_id` text,
	`upstream_id` text NOT NULL,
	`phone` text NOT NULL,
	`country_code` text NOT NULL,
	`service_code` text NOT NULL,
	`price` integer NOT NULL,
	`status` text NOT NULL,
	`billing` text DEFAULT 'captured' NOT NULL,
	`hold_id` text NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`provider_id`) REFERENCES `providers`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`offer_id`) REFERENCES `offers`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `activations_user_created_idx` ON `activations` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `activations_status_expires_idx` ON `activations` (`status`,`expires_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `activations_upstream_uq` ON `activations` (`provider_id`,`upstream_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `activations_hold_uq` ON `activations` (`hold_id`);--> statement-breakpoint
CREATE TABLE `did_inventory` (
	`id` text PRIMARY KEY NOT NULL,
	`provider_id` text NOT NULL,
	`phone_number` text NOT NULL,
	`country_code` text NOT NULL,
	`area_code` text,
	`region` text,
	`locality` text,
	`number_type` text NOT NULL,
	`capabilities` text NOT NULL,
	`setup_price` integer NOT NULL,
	`monthly_price` integer NOT NULL,
	`restrictions` text DEFAULT '[]' NOT NULL,
	`status` text DEFAULT 'available' NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`provider_id`) REFERENCES `providers`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `did_inventory_number_uq` ON `did_inventory` (`phone_number`);--> statement-breakpoint
CREATE INDEX `did_inventory_search_idx` ON `did_inventory` (`country_code`,`status`,`number_type`,`monthly_price`);--> statement-breakpoint
CREATE INDEX `did_inventory_area_idx` ON `did_inventory` (`country_code`,`area_code`);--> statement-breakpoint
CREATE TABLE `hold_outcomes` (
	`hold_id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`outcome` text NOT NULL,
	`amount` integer NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`scope` text NOT NULL,
	`key` text NOT NULL,
	`method` text NOT NULL,
	`path` text NOT NULL,
	`request_hash` text NOT NULL,
	`status` text NOT NULL,
	`response_status` integer,
	`response_body` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`scope`, `key`)
);
--> statement-breakpoint
CREATE INDEX `idempotency_expires_idx` ON `idempotency_keys` (`expires_at`);--> statement-breakpoint
CREATE TABLE `number_configurations` (
	`id` text PRIMARY KEY NOT NULL,
	`phone_number_id` text NOT NULL,
	`user_id` text NOT NULL,
	`name` text NOT NULL,
	`is_active` integer DEFAULT false NOT NULL,
	`routing_rules` text NOT NULL,
	`schedule` text,
	`features` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`phone_number_id`) REFERENCES `phone_numbers`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `number_configurations_number_idx` ON `number_configurations` (`phone_number_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `number_reservations` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`phone_number` text NOT NULL,
	`status` text NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `number_reservations_user_idx` ON `number_reservations` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `number_reservations_number_idx` ON `number_reservations` (`phone_number`,`status`);--> statement-breakpoint
CREATE TABLE `offers` (
	`id` text PRIMARY KEY NOT NULL,
	`provider_id` text NOT NULL,
	`service_code` text NOT NULL,
	`service_name` text NOT NULL,
	`country_code` text NOT NULL,
	`country_name` text NOT NULL,
	`upstream_country` text,
	`upstream_service` text,
	`cost` integer NOT NULL,
	`price` integer NOT NULL,
	`stock` integer DEFAULT 0 NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`provider_id`) REFERENCES `providers`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `offers_provider_service_country_uq` ON `offers` (`provider_id`,`service_code`,`country_code`);--> statement-breakpoint
CREATE INDEX `offers_service_country_price_idx` ON `offers` (`service_code`,`country_code`,`price`);--> statement-breakpoint
CREATE INDEX `offers_country_idx` ON `offers` (`country_code`,`price`);--> statement-breakpoint
CREATE TABLE `order_events` (
	`id` text PRIMARY KEY NOT NULL,
	`order_id` text NOT NULL,
	`status` text NOT NULL,
	`message` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`order_id`) REFERENCES `orders`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `order_events_order_idx` ON `order_events` (`order_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `order_items` (
	`id` text PRIMARY KEY NOT NULL,
	`order_id` text NOT NULL,
	`user_id` text NOT NULL,
	`phone_number` text NOT NULL,
	`provider_id` text,
	`status` text NOT NULL,
	`phone_number_id` text,
	`setup_price` integer DEFAULT 0 NOT NULL,
	`monthly_price` integer DEFAULT 0 NOT NULL,
	`error` text,
	`request` text DEFAULT '{}' NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`order_id`) REFERENCES `orders`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `order_items_order_idx` ON `order_items` (`order_id`);--> statement-breakpoint
CREATE TABLE `orders` (
	`id` text PRIMARY KEY NOT NULL,
	`order_number` text NOT NULL,
	`user_id` text NOT NULL,
	`type` text DEFAULT 'number_purchase' NOT NULL,
	`status` text NOT NULL,
	`payment_status` text NOT NULL,
	`total` integer NOT NULL,
	`charged` integer DEFAULT 0 NOT NULL,
	`refunded` integer DEFAULT 0 NOT NULL,
	`currency` text DEFAULT 'USD' NOT NULL,
	`hold_id` text,
	`billing` text DEFAULT '{}' NOT NULL,
	`notes` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	`completed_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `orders_number_uq` ON `orders` (`order_number`);--> statement-breakpoint
CREATE INDEX `orders_user_created_idx` ON `orders` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `orders_user_status_idx` ON `orders` (`user_id`,`status`);--> statement-breakpoint
CREATE INDEX `orders_status_updated_idx` ON `orders` (`status`,`updated_at`);--> statement-breakpoint
CREATE TABLE `outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`user_id` text,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL,
	`sent_at` integer
);
--> statement-breakpoint
CREATE INDEX `outbox_unsent_idx` ON `outbox` (`sent_at`,`created_at`);--> statement-breakpoint
CREATE TABLE `phone_numbers` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`provider_id` text NOT NULL,
	`upstream_id` text,
	`phone_number` text NOT NULL,
	`friendly_name` text,
	`country_code` text NOT NULL,
	`region` text,
	`locality` text,
	`area_code` text,
	`number_type` text NOT NULL,
	`capabilities` text NOT NULL,
	`status` text NOT NULL,
	`voice_url` text,
	`voice_method` text,
	`voice_fallback_url` text,
	`sms_url` text,
	`status_callback` text,
	`features` text DEFAULT '{}' NOT NULL,
	`monthly_price` integer NOT NULL,
	`setup_price` integer,
	`currency` text DEFAULT 'USD' NOT NULL,
	`tags` text DEFAULT '[]' NOT NULL,
	`notes` text,
	`order_id` text,
	`purchased_at` integer NOT NULL,
	`next_renewal_at` integer,
	`release_at` integer,
	`release_reason` text,
	`released_at` integer,
	`last_used_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`provider_id`) REFERENCES `providers`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `phone_numbers_user_created_idx` ON `phone_numbers` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `phone_numbers_user_status_idx` ON `phone_numbers` (`user_id`,`status`);--> statement-breakpoint
CREATE INDEX `phone_numbers_user_number_idx` ON `phone_numbers` (`user_id`,`phone_number`);--> statement-breakpoint
CREATE INDEX `phone_numbers_user_price_idx` ON `phone_numbers` (`user_id`,`monthly_price`);--> statement-breakpoint
CREATE UNIQUE INDEX `phone_numbers_live_number_uq` ON `phone_numbers` (`phone_number`) WHERE status <> 'released';--> statement-breakpoint
CREATE INDEX `phone_numbers_release_idx` ON `phone_numbers` (`release_at`);--> statement-breakpoint
CREATE TABLE `sms_messages` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`provider_id` text NOT NULL,
	`upstream_message_id` text NOT NULL,
	`activation_id` text,
	`phone_number_id` text,
	`phone` text NOT NULL,
	`sender` text,
	`text` text NOT NULL,
	`code` text,
	`received_at` integer NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`provider_id`) REFERENCES `providers`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sms_upstream_uq` ON `sms_messages` (`provider_id`,`upstream_message_id`);--> statement-breakpoint
CREATE INDEX `sms_activation_idx` ON `sms_messages` (`activation_id`,`received_at`);--> statement-breakpoint
CREATE INDEX `sms_number_idx` ON `sms_messages` (`phone_number_id`,`received_at`);--> statement-breakpoint
CREATE INDEX `sms_user_idx` ON `sms_messages` (`user_id`,`received_at`);--> statement-breakpoint
CREATE TABLE `wallet_ledger` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`type` text NOT NULL,
	`amount` integer NOT NULL,
	`balance_after` integer NOT NULL,
	`op_id` text NOT NULL,
	`hold_id` text,
	`reference_type` text,
	`reference_id` text,
	`description` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `wallet_ledger_user_created_idx` ON `wallet_ledger` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `wallet_ledger_ref_idx` ON `wallet_ledger` (`reference_type`,`reference_id`);--> statement-breakpoint
ALTER TABLE `providers` ADD `margin_bps` integer DEFAULT 2000 NOT NULL;--> statement-breakpoint
ALTER TABLE `providers` ADD `margin_fixed` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `providers` ADD `stock` text DEFAULT '{"offers":0,"numbers":0}' NOT NULL;