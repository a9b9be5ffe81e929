CREATE INDEX `audit_target_id_idx` ON `audit_log` (`target_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `emails_kind_created_idx` ON `emails` (`kind`,`created_at`);--> statement-breakpoint
CREATE INDEX `offers_price_idx` ON `offers` (`price`,`service_code`,`country_code`);