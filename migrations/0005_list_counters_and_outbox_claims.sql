CREATE TABLE `account_number_stats` (
	`user_id` text PRIMARY KEY NOT NULL,
	`live` integer DEFAULT 0 NOT NULL,
	`active` integer DEFAULT 0 NOT NULL,
	`monthly_total` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE `outbox` ADD `claimed_until` integer;--> statement-breakpoint
-- account_number_stats is kept by these triggers (drizzle-kit does not write triggers; they are
-- hand-written below its statements). A live number is one whose status is not 'released'.
CREATE TRIGGER `phone_numbers_stats_insert` AFTER INSERT ON `phone_numbers` WHEN NEW.status <> 'released' BEGIN
  INSERT INTO account_number_stats (user_id, live, active, monthly_total) VALUES (NEW.user_id, 1, NEW.status = 'active', NEW.monthly_price)
  ON CONFLICT (user_id) DO UPDATE SET live = live + 1, active = active + excluded.active, monthly_total = monthly_total + excluded.monthly_total;
END;
--> statement-breakpoint
CREATE TRIGGER `phone_numbers_stats_update` AFTER UPDATE OF status, monthly_price, user_id ON `phone_numbers` BEGIN
  UPDATE account_number_stats SET
    live = live - (OLD.status <> 'released'),
    active = active - (OLD.status = 'active'),
    monthly_total = monthly_total - CASE WHEN OLD.status <> 'released' THEN OLD.monthly_price ELSE 0 END
  WHERE user_id = OLD.user_id;
  INSERT INTO account_number_stats (user_id, live, active, monthly_total)
  VALUES (NEW.user_id, NEW.status <> 'released', NEW.status = 'active', CASE WHEN NEW.status <> 'released' THEN NEW.monthly_price ELSE 0 END)
  ON CONFLICT (user_id) DO UPDATE SET live = live + excluded.live, active = active + excluded.active, monthly_total = monthly_total + excluded.monthly_total;
END;
--> statement-breakpoint
CREATE TRIGGER `phone_numbers_stats_delete` AFTER DELETE ON `phone_numbers` WHEN OLD.status <> 'released' BEGIN
  UPDATE account_number_stats SET live = live - 1, active = active - (OLD.status = 'active'), monthly_total = monthly_total - OLD.monthly_price
  WHERE user_id = OLD.user_id;
END;
--> statement-breakpoint
INSERT INTO account_number_stats (user_id, live, active, monthly_total)
SELECT user_id, count(*), sum(status = 'active'), sum(monthly_price) FROM phone_numbers WHERE status <> 'released' GROUP BY user_id;
