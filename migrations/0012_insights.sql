-- GetInsights: the sums of a vendor's cycles, kept up to date by the
-- statements that change offers and payments, so that a vendor with millions
-- of payments is answered from a few thousand rows.
--
-- What each offer and payment row adds to the sums is written once, in
-- insights_offer_facts() and insights_payment_facts(). Row triggers add
-- (new facts - old facts) of every changed row to insights_hourly, one row
-- per vendor, UTC hour of the offer's creation, sku, currency and database
-- session (stripe = pg_backend_pid()): concurrent transactions never wait for
-- each other's sums.
-- GetInsights (server/store/insights.c) sums the whole hours inside
-- [from, to) from this table and the partial hours at either end from the
-- offers and payments themselves, through the same two functions.
--
-- The list price a paid offer stands against ("what set prices would have
-- asked") is the product's list price when the offer was made: offers keep
-- it in list_price_minor, filled from the product as the row is inserted
-- (by the same trigger, so that the server's statements need not change).

ALTER TABLE offers ADD COLUMN list_price_minor bigint NULL CHECK (list_price_minor >= 0);

UPDATE offers o SET list_price_minor = p.list_price_minor
FROM products p
WHERE p.vendor_id = o.vendor_id AND p.sku = o.sku;

-- The PaymentReason names in the order of insights_facts.reasons; GetInsights
-- reads them from here, so the order is written only once.
CREATE FUNCTION insights_reason_names() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT ARRAY['DID_NOT_USE', 'POOR_QUALITY', 'NOT_AS_DESCRIBED', 'TECHNICAL_PROBLEM',
		     'CANNOT_AFFORD', 'GREAT_VALUE', 'OTHER']::text[]
$$;

-- What one row adds to the sums; s is +1 or -1. histogram has 21 entries
-- (PROTOCOL.md: [1000 i, 1000 i + 1000), the last 20000), reasons one per
-- insights_reason_names(); NULL arrays add nothing.
CREATE TYPE insights_facts AS (
	offers_created  bigint,
	offers_accepted bigint,
	offers_declined bigint,
	offers_expired  bigint,
	defaults        bigint,
	payments        bigint,
	late_payments   bigint,
	reviews_pending bigint,
	paid_minor      numeric,
	suggested_minor numeric,
	list_minor      numeric,
	at_or_above_sp  bigint,
	histogram       bigint[],
	reasons         bigint[]
);

-- A cycle that defaulted counts in defaults: while it is open here, and,
-- once paid late, through its payment (late).
CREATE FUNCTION insights_offer_facts(o offers, s int) RETURNS insights_facts
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT ROW(s, s * (o.accepted_at IS NOT NULL)::int, s * (o.status = 'DECLINED')::int,
		   s * (o.status = 'EXPIRED')::int, s * (o.status = 'DEFAULTED')::int,
		   0, 0, 0, 0, 0, 0, 0, NULL, NULL)::insights_facts
$$;

-- plpgsql, not an SQL function: it runs for every payment written, and
-- setting one entry of each array is far cheaper than building them by
-- subqueries.
CREATE FUNCTION insights_payment_facts(p payments, o offers, s int) RETURNS insights_facts
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	f insights_facts;
	names text[] := insights_reason_names();
	r text;
BEGIN
	f := ROW(0, 0, 0, 0, s * p.late::int, s, s * p.late::int,
		 s * (p.review = 'PENDING')::int, s * p.amount_minor::numeric,
		 s * p.suggested_price_minor::numeric, s * coalesce(o.list_price_minor, 0)::numeric,
		 s * (p.raw_fairness_bp >= 10000)::int, NULL, NULL)::insights_facts;
	f.histogram := array_fill(0::bigint, ARRAY[21]);
	f.histogram[least(p.fairness_bp / 1000, 20) + 1] := s;
	IF cardinality(p.reasons) > 0 THEN
		f.reasons := array_fill(0::bigint, ARRAY[cardinality(names)]);
		FOREACH r IN ARRAY p.reasons LOOP
			f.reasons[array_position(names, r)] := s;
		END LOOP;
	END IF;
	RETURN f;
END;
$$;

-- Element-wise sum of two count arrays (NULL adds nothing).
-- An SQL function of one expression: the planner inlines it into the
-- statements that use it.
CREATE FUNCTION insights_vadd(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a
		    ELSE ARRAY(SELECT x + y FROM unnest(a, b) WITH ORDINALITY t(x, y, i) ORDER BY i)
	       END
$$;

-- The sum of two rows' facts: an update adds (new - old) in one upsert.
CREATE FUNCTION insights_facts_add(a insights_facts, b insights_facts) RETURNS insights_facts
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT ROW(a.offers_created + b.offers_created, a.offers_accepted + b.offers_accepted,
		   a.offers_declined + b.offers_declined, a.offers_expired + b.offers_expired,
		   a.defaults + b.defaults, a.payments + b.payments,
		   a.late_payments + b.late_payments, a.reviews_pending + b.reviews_pending,
		   a.paid_minor + b.paid_minor, a.suggested_minor + b.suggested_minor,
		   a.list_minor + b.list_minor, a.at_or_above_sp + b.at_or_above_sp,
		   insights_vadd(a.histogram, b.histogram),
		   insights_vadd(a.reasons, b.reasons))::insights_facts
$$;

CREATE AGGREGATE insights_vsum(bigint[]) (SFUNC = insights_vadd, STYPE = bigint[],
					   COMBINEFUNC = insights_vadd, PARALLEL = SAFE);

CREATE TABLE insights_hourly (
	vendor_id       text NOT NULL,
	hour            bigint NOT NULL, -- floor(unix seconds of the offer's created_at / 3600)
	sku             text NOT NULL,
	currency        text NOT NULL,
	stripe          integer NOT NULL,
	offers_created  bigint NOT NULL DEFAULT 0,
	offers_accepted bigint NOT NULL DEFAULT 0,
	offers_declined bigint NOT NULL DEFAULT 0,
	offers_expired  bigint NOT NULL DEFAULT 0,
	defaults        bigint NOT NULL DEFAULT 0,
	payments        bigint NOT NULL DEFAULT 0,
	late_payments   bigint NOT NULL DEFAULT 0,
	reviews_pending bigint NOT NULL DEFAULT 0,
	paid_minor      numeric NOT NULL DEFAULT 0,
	suggested_minor numeric NOT NULL DEFAULT 0,
	list_minor      numeric NOT NULL DEFAULT 0,
	at_or_above_sp  bigint NOT NULL DEFAULT 0,
	histogram       bigint[] NULL,
	reasons         bigint[] NULL,
	PRIMARY KEY (vendor_id, hour, sku, currency, stripe)
);

-- A row's hour, as insights_hourly.hour.
CREATE FUNCTION insights_hour(at timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT floor(extract(epoch FROM at) / 3600)::bigint
$$;

-- Add one row's facts (or take them away) to its hour's sums: one upsert
-- on this session's own row, which no other transaction writes. plpgsql, so
-- that the statement's plan is kept across calls.
CREATE FUNCTION insights_add(p_vendor text, p_sku text, p_currency text, p_at timestamptz,
			     f insights_facts)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO insights_hourly AS h (vendor_id, hour, sku, currency, stripe, offers_created,
		offers_accepted, offers_declined, offers_expired, defaults, payments, late_payments,
		reviews_pending, paid_minor, suggested_minor, list_minor, at_or_above_sp,
		histogram, reasons)
	VALUES (p_vendor, insights_hour(p_at), p_sku, p_currency, pg_backend_pid(), f.offers_created,
		f.offers_accepted, f.offers_declined, f.offers_expired, f.defaults, f.payments,
		f.late_payments, f.reviews_pending, f.paid_minor, f.suggested_minor, f.list_minor,
		f.at_or_above_sp, f.histogram, f.reasons)
	ON CONFLICT (vendor_id, hour, sku, currency, stripe) DO UPDATE SET
		offers_created = h.offers_created + EXCLUDED.offers_created,
		offers_accepted = h.offers_accepted + EXCLUDED.offers_accepted,
		offers_declined = h.offers_declined + EXCLUDED.offers_declined,
		offers_expired = h.offers_expired + EXCLUDED.offers_expired,
		defaults = h.defaults + EXCLUDED.defaults,
		payments = h.payments + EXCLUDED.payments,
		late_payments = h.late_payments + EXCLUDED.late_payments,
		reviews_pending = h.reviews_pending + EXCLUDED.reviews_pending,
		paid_minor = h.paid_minor + EXCLUDED.paid_minor,
		suggested_minor = h.suggested_minor + EXCLUDED.suggested_minor,
		list_minor = h.list_minor + EXCLUDED.list_minor,
		at_or_above_sp = h.at_or_above_sp + EXCLUDED.at_or_above_sp,
		histogram = insights_vadd(h.histogram, EXCLUDED.histogram),
		reasons = insights_vadd(h.reasons, EXCLUDED.reasons);
END;
$$;

-- Row triggers, BEFORE the row is written: a write of the hot path changes
-- one offer or payment, and one upsert per changed row costs less than
-- collecting transition tables or queueing AFTER events. (Should the row's
-- write then fail, the statement fails and takes the upsert with it.) An
-- update moves the sums only when the row's facts changed (a checkpoint
-- write does not).
CREATE FUNCTION insights_offers_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	n insights_facts;
BEGIN
	IF TG_OP = 'INSERT' AND NEW.list_price_minor IS NULL THEN
		SELECT p.list_price_minor INTO NEW.list_price_minor
		FROM products p WHERE p.vendor_id = NEW.vendor_id AND p.sku = NEW.sku;
	END IF;
	n := insights_offer_facts(NEW, 1);
	IF TG_OP = 'UPDATE' THEN
		IF n IS NOT DISTINCT FROM insights_offer_facts(OLD, 1) AND NEW.sku = OLD.sku
		   AND NEW.currency = OLD.currency AND NEW.created_at = OLD.created_at THEN
			RETURN NEW;
		END IF;
		-- vendor, sku, currency and time never change: one hour's row.
		n := insights_facts_add(n, insights_offer_facts(OLD, -1));
	END IF;
	PERFORM insights_add(NEW.vendor_id, NEW.sku, NEW.currency, NEW.created_at, n);
	RETURN NEW;
END;
$$;

CREATE FUNCTION insights_payments_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	c offers;
BEGIN
	-- The offer adds only its list price, the same to both sides.
	IF TG_OP = 'UPDATE' AND NEW.offer_id = OLD.offer_id
	   AND insights_payment_facts(NEW, NULL, 1) IS NOT DISTINCT FROM
	       insights_payment_facts(OLD, NULL, 1) THEN
		RETURN NEW;
	END IF;
	SELECT * INTO c FROM offers WHERE vendor_id = NEW.vendor_id AND id = NEW.offer_id;
	IF TG_OP = 'UPDATE' AND NEW.offer_id = OLD.offer_id THEN
		PERFORM insights_add(c.vendor_id, c.sku, c.currency, c.created_at,
				     insights_facts_add(insights_payment_facts(NEW, c, 1),
							insights_payment_facts(OLD, c, -1)));
		RETURN NEW;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		PERFORM insights_add(o.vendor_id, o.sku, o.currency, o.created_at,
				     insights_payment_facts(OLD, o, -1))
		FROM offers o WHERE o.vendor_id = OLD.vendor_id AND o.id = OLD.offer_id;
	END IF;
	PERFORM insights_add(c.vendor_id, c.sku, c.currency, c.created_at,
			     insights_payment_facts(NEW, c, 1));
	RETURN NEW;
END;
$$;

CREATE TRIGGER offers_insights BEFORE INSERT OR UPDATE ON offers
	FOR EACH ROW EXECUTE FUNCTION insights_offers_changed();
CREATE TRIGGER payments_insights BEFORE INSERT OR UPDATE ON payments
	FOR EACH ROW EXECUTE FUNCTION insights_payments_changed();

-- The sums of the rows already there (the table is new: stripe 0).
INSERT INTO insights_hourly (vendor_id, hour, sku, currency, stripe, offers_created,
	offers_accepted, offers_declined, offers_expired, defaults, payments, late_payments,
	reviews_pending, paid_minor, suggested_minor, list_minor, at_or_above_sp, histogram, reasons)
SELECT x.vendor_id, insights_hour(x.at), x.sku, x.currency, 0,
       sum((x.f).offers_created), sum((x.f).offers_accepted), sum((x.f).offers_declined),
       sum((x.f).offers_expired), sum((x.f).defaults), sum((x.f).payments),
       sum((x.f).late_payments), sum((x.f).reviews_pending), sum((x.f).paid_minor),
       sum((x.f).suggested_minor), sum((x.f).list_minor), sum((x.f).at_or_above_sp),
       insights_vsum((x.f).histogram), insights_vsum((x.f).reasons)
FROM (SELECT o.vendor_id, o.sku, o.currency, o.created_at AS at, insights_offer_facts(o, 1) AS f
      FROM offers o
      UNION ALL
      SELECT o.vendor_id, o.sku, o.currency, o.created_at, insights_payment_facts(p, o, 1)
      FROM payments p JOIN offers o ON o.vendor_id = p.vendor_id AND o.id = p.offer_id) x
GROUP BY 1, 2, 3, 4;

-- The server's role: its statements on offers and payments move the sums
-- (the triggers run as the caller), and GetInsights reads them.
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fairpay_app') THEN
		GRANT SELECT, INSERT, UPDATE ON insights_hourly TO fairpay_app;
	END IF;
END;
$$;

-- The partial hours at the ends of a GetInsights window read offers by
-- (vendor_id, created_at) through offers_list_idx (0010) and their payment
-- by (vendor_id, offer_id) through the payments' unique key.
