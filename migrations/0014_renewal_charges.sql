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
ALTER TABLE `pending_credits` ADD `debit_op_id` text;--> statement-breakpoint
-- Renewal debits given back before renewal_charges existed (pending credit `renew_<number>_<period ms>_returned`)
-- are recorded as returned first debits, so that a later charge of the same period takes a new operation id
-- instead of replaying the returned one (hand-written below drizzle-kit's statements).
INSERT OR IGNORE INTO `renewal_charges` (`op_id`, `user_id`, `phone_number_id`, `period_start`, `period_end`, `seq`, `amount`, `status`, `created_at`, `resolved_at`)
SELECT substr(r.op_id, 1, length(r.op_id) - 9), r.user_id, r.number_id, CAST(r.period AS INTEGER), CAST(r.period AS INTEGER), 1, r.amount, 'returned', r.created_at, r.created_at
FROM (
  SELECT pc.op_id, pc.user_id, pc.reference_id AS number_id, pc.amount, pc.created_at,
    substr(pc.op_id, length('renew_' || pc.reference_id || '_') + 1, length(pc.op_id) - length('renew_' || pc.reference_id || '_') - 9) AS period
  FROM `pending_credits` pc
  WHERE pc.reference_type = 'phone_number'
    AND substr(pc.op_id, 1, length('renew_' || pc.reference_id || '_')) = 'renew_' || pc.reference_id || '_'
    AND substr(pc.op_id, -9) = '_returned'
) r
JOIN `phone_numbers` pn ON pn.id = r.number_id
WHERE r.period <> '' AND r.period NOT GLOB '*[^0-9]*';
