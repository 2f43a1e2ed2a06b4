-- 0014_insights_fold: the GetInsights sums leave the write path.
--
-- Migration 0012 kept the sums with statement triggers on offers and
-- payments, in plpgsql, inside every write: they cost more database time
-- than the cycle's own writes. Now the server computes what each change adds
-- (server/store/facts.h, the one definition) and stores it in the change's
-- own event rows, in the same statement that writes the change; a job folds
-- the events below the feed's horizon into insights_stats, off the write
-- path, and GetInsights adds the events not folded yet.
--
--  events.insights     the change's sums as pairs {stat, value, stat, value,
--                      ...}, on the first event that names the offer the
--                      change counts for; NULL when it counts nothing.
--  insights_stats      per vendor, hour of the offer's creation
--                      (floor(unix seconds / 3600)), sku, currency and stat:
--                      the folded sum. Stat numbers are facts.h's.
--  insights_fold       one row: every event with id <= folded_upto is in
--                      insights_stats, and none above it.

ALTER TABLE events ADD COLUMN insights bigint[] NULL;

CREATE TABLE insights_stats (
	vendor_id text NOT NULL,
	hour      bigint NOT NULL,
	sku       text NOT NULL,
	currency  text NOT NULL,
	stat      smallint NOT NULL CHECK (stat >= 0),
	value     numeric NOT NULL,
	PRIMARY KEY (vendor_id, hour, sku, currency, stat)
);

CREATE TABLE insights_fold (
	one         boolean PRIMARY KEY DEFAULT true CHECK (one),
	folded_upto bigint NOT NULL
);

-- The sums so far, as the triggers left them: every event written until now
-- is in them. The wide row's columns are stats 0-11 in their order, its
-- histogram stats 12-32, its reasons (in PaymentReason order) 34-40.
INSERT INTO insights_stats (vendor_id, hour, sku, currency, stat, value)
SELECT h.vendor_id, h.hour, h.sku, h.currency, x.stat, sum(x.value)
FROM insights_hourly h,
     LATERAL (SELECT (u.i - 1)::smallint AS stat, u.v::numeric AS value
	      FROM unnest(ARRAY[h.offers_created, h.offers_accepted, h.offers_declined,
				h.offers_expired, h.defaults, h.payments, h.late_payments,
				h.reviews_pending]::numeric[] ||
			  ARRAY[h.paid_minor, h.suggested_minor, h.list_minor,
				h.at_or_above_sp]::numeric[]) WITH ORDINALITY u(v, i)
	      UNION ALL
	      SELECT (11 + u.i)::smallint, u.v FROM unnest(h.histogram) WITH ORDINALITY u(v, i)
	      UNION ALL
	      SELECT (33 + u.i)::smallint, u.v FROM unnest(h.reasons) WITH ORDINALITY u(v, i)) x
WHERE x.value <> 0
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO insights_fold (folded_upto) SELECT coalesce(max(id), 0) FROM events;

DROP TRIGGER offers_insights_insert ON offers;
DROP TRIGGER offers_insights_update ON offers;
DROP TRIGGER payments_insights_insert ON payments;
DROP TRIGGER payments_insights_update ON payments;
DROP TRIGGER offers_list_price ON offers;
DROP FUNCTION insights_offers_inserted();
DROP FUNCTION insights_offers_updated();
DROP FUNCTION insights_payments_inserted();
DROP FUNCTION insights_payments_updated();
DROP FUNCTION insights_apply(insights_delta[]);
DROP FUNCTION insights_rebuild(text);
DROP FUNCTION insights_hour(timestamptz);
DROP TYPE insights_delta;
DROP FUNCTION insights_payment_facts(payments, offers, int);
DROP FUNCTION insights_offer_facts(offers, int);
DROP AGGREGATE insights_vsum(bigint[]);
DROP FUNCTION insights_vadd(bigint[], bigint[]);
DROP TYPE insights_facts;
DROP FUNCTION insights_reason_names();
DROP FUNCTION offers_fill_list_price();
DROP TABLE insights_hourly;

-- The server writes offers' list price itself (from the product, as the
-- offer is made).
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fairpay_app') THEN
		GRANT SELECT, INSERT, UPDATE ON insights_stats TO fairpay_app;
		GRANT SELECT, UPDATE ON insights_fold TO fairpay_app;
	END IF;
END;
$$;
