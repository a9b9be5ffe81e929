ALTER TABLE `sms_messages` ADD `withheld` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `sms_withheld_idx` ON `sms_messages` (`created_at`) WHERE withheld = 1;--> statement-breakpoint
CREATE INDEX `activations_refund_pending_idx` ON `activations` (`updated_at`) WHERE billing = 'refund_pending';