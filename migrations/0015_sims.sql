CREATE TABLE `sandbox_sim_sms` (
	`id` text PRIMARY KEY NOT NULL,
	`iccid` text NOT NULL,
	`message` text NOT NULL,
	`created_at` integer NOT NULL,
	`cancelled_at` integer
);
--> statement-breakpoint
CREATE INDEX `sandbox_sim_sms_iccid_idx` ON `sandbox_sim_sms` (`iccid`,`created_at`);--> statement-breakpoint
CREATE TABLE `sandbox_sim_topups` (
	`reference` text PRIMARY KEY NOT NULL,
	`iccid` text NOT NULL,
	`quota_type` text NOT NULL,
	`volume` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sandbox_sim_topups_iccid_idx` ON `sandbox_sim_topups` (`iccid`,`quota_type`);--> statement-breakpoint
CREATE TABLE `sandbox_sims` (
	`iccid` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`label` text,
	`imei_lock` integer DEFAULT false NOT NULL,
	`limits` text,
	`activated_at` integer NOT NULL,
	`reset_requested_at` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `sim_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`sim_id` integer NOT NULL,
	`user_id` text NOT NULL,
	`event_type` text NOT NULL,
	`event_category` text NOT NULL,
	`severity` text NOT NULL,
	`description` text NOT NULL,
	`event_data` text,
	`dedupe_key` text,
	`occurred_at` integer NOT NULL,
	FOREIGN KEY (`sim_id`) REFERENCES `sims`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `sim_events_sim_time_idx` ON `sim_events` (`sim_id`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `sim_events_sim_type_time_idx` ON `sim_events` (`sim_id`,`event_type`,`occurred_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `sim_events_dedupe_uq` ON `sim_events` (`sim_id`,`dedupe_key`);--> statement-breakpoint
CREATE TABLE `sim_jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`kind` text NOT NULL,
	`status` text NOT NULL,
	`total` integer NOT NULL,
	`chunks` integer NOT NULL,
	`created_at` integer NOT NULL,
	`completed_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `sim_jobs_user_created_idx` ON `sim_jobs` (`user_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `sim_limits` (
	`user_id` text PRIMARY KEY NOT NULL,
	`daily_data_limit` integer,
	`monthly_data_limit` integer,
	`daily_sms_limit` integer,
	`monthly_sms_limit` integer,
	`enforce_limits` integer DEFAULT false NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `sim_quotas` (
	`sim_id` integer NOT NULL,
	`quota_type` text NOT NULL,
	`user_id` text NOT NULL,
	`volume` integer DEFAULT 0 NOT NULL,
	`used_volume` integer DEFAULT 0 NOT NULL,
	`status` text DEFAULT 'Active' NOT NULL,
	`threshold_percentage` integer DEFAULT 80 NOT NULL,
	`threshold_reached` integer DEFAULT false NOT NULL,
	`depleted` integer DEFAULT false NOT NULL,
	`auto_reload` integer DEFAULT false NOT NULL,
	`auto_reload_amount` integer,
	`auto_armed` integer DEFAULT true NOT NULL,
	`last_volume_added` integer,
	`last_status_change_date` integer,
	`expiry_date` integer,
	`observed_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`sim_id`, `quota_type`),
	FOREIGN KEY (`sim_id`) REFERENCES `sims`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `sim_quotas_auto_idx` ON `sim_quotas` (`auto_reload`,`sim_id`);--> statement-breakpoint
CREATE TABLE `sim_sms` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`sms_id` text NOT NULL,
	`sim_id` integer NOT NULL,
	`user_id` text NOT NULL,
	`direction` text NOT NULL,
	`message` text NOT NULL,
	`encoding` text NOT NULL,
	`status` text NOT NULL,
	`upstream_id` text,
	`source_address` text,
	`expiry_date` integer,
	`error` text,
	`created_at` integer NOT NULL,
	`sent_at` integer,
	`delivered_at` integer,
	`failed_at` integer,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`sim_id`) REFERENCES `sims`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sim_sms_sms_id_uq` ON `sim_sms` (`sms_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `sim_sms_upstream_uq` ON `sim_sms` (`sim_id`,`direction`,`upstream_id`);--> statement-breakpoint
CREATE INDEX `sim_sms_sim_created_idx` ON `sim_sms` (`sim_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `sim_sms_sim_direction_created_idx` ON `sim_sms` (`sim_id`,`direction`,`created_at`);--> statement-breakpoint
CREATE INDEX `sim_sms_sim_status_created_idx` ON `sim_sms` (`sim_id`,`status`,`created_at`);--> statement-breakpoint
CREATE TABLE `sim_topups` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`sim_id` integer,
	`iccid` text NOT NULL,
	`quota_type` text NOT NULL,
	`volume` integer NOT NULL,
	`amount` integer NOT NULL,
	`source` text NOT NULL,
	`job_id` text,
	`job_index` integer,
	`status` text NOT NULL,
	`error_code` text,
	`error_message` text,
	`hold_id` text,
	`new_total` integer,
	`new_remaining` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`sim_id`) REFERENCES `sims`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`job_id`) REFERENCES `sim_jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sim_topups_job_item_uq` ON `sim_topups` (`job_id`,`job_index`);--> statement-breakpoint
CREATE INDEX `sim_topups_sim_created_idx` ON `sim_topups` (`sim_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `sim_topups_user_created_idx` ON `sim_topups` (`user_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `sims` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` text NOT NULL,
	`iccid` text NOT NULL,
	`provider_id` text NOT NULL,
	`imsi` text,
	`msisdn` text,
	`imei` text,
	`imei_lock` integer DEFAULT false NOT NULL,
	`status` text DEFAULT 'Enabled' NOT NULL,
	`label` text,
	`ip_address` text,
	`ipv6_address` text,
	`connected` integer,
	`current_rat` text,
	`current_country` text,
	`current_operator` text,
	`connection` text,
	`connectivity_at` integer,
	`activation_date` integer,
	`tags` text DEFAULT '[]' NOT NULL,
	`metadata` text DEFAULT '{}' NOT NULL,
	`reset_requested_at` integer,
	`reset_expected_at` integer,
	`reset_status` text,
	`reset_type` text,
	`status_checked_at` integer,
	`last_synced_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`provider_id`) REFERENCES `providers`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sims_iccid_uq` ON `sims` (`iccid`);--> statement-breakpoint
CREATE INDEX `sims_user_created_idx` ON `sims` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `sims_user_updated_idx` ON `sims` (`user_id`,`updated_at`);--> statement-breakpoint
CREATE INDEX `sims_user_label_idx` ON `sims` (`user_id`,`label`);--> statement-breakpoint
CREATE INDEX `sims_user_iccid_idx` ON `sims` (`user_id`,`iccid`);--> statement-breakpoint
CREATE INDEX `sims_user_activation_idx` ON `sims` (`user_id`,`activation_date`);--> statement-breakpoint
CREATE INDEX `sims_user_status_created_idx` ON `sims` (`user_id`,`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `sims_provider_idx` ON `sims` (`provider_id`,`id`);--> statement-breakpoint
CREATE INDEX `sims_status_idx` ON `sims` (`status`);