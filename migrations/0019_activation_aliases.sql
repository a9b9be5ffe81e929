CREATE TABLE `activation_aliases` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`activation_id` text NOT NULL,
	`user_id` text NOT NULL,
	`retry_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `activation_aliases_activation_uq` ON `activation_aliases` (`activation_id`);--> statement-breakpoint
-- Every activation gets its alias from this trigger (drizzle-kit does not write triggers; it is
-- hand-written below its statements), in the statement that inserts the activation: an alias
-- exists exactly when its activation does. Existing activations get theirs in creation order.
CREATE TRIGGER `activations_alias_insert` AFTER INSERT ON `activations` BEGIN
  INSERT INTO activation_aliases (activation_id, user_id) VALUES (NEW.id, NEW.user_id) ON CONFLICT (activation_id) DO NOTHING;
END;
--> statement-breakpoint
INSERT INTO activation_aliases (activation_id, user_id) SELECT id, user_id FROM activations ORDER BY created_at, id;
