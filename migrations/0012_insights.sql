-- GetInsights: the sums of a vendor's cycles, kept up to date by the
-- statements that change offers and payments, so that a vendor with millions
-- of payments is answered from a few thousand rows.
--
-- What each offer and payment row adds to the sums is written once, in
-- insights_offer_facts() and insights_payment_facts(). Statement triggers add
-- (new facts - old facts) of every changed row to insights_hourly, one row
-- per vendor, UTC hour of the offer's creation, sku, currency and database
-- session (stripe = pg_backend_pid()): concurrent transactions never wait for
-- each other's sums, and a group commit adds one row per hour it touched.
-- GetInsights (server/store/insights.c) sums the whole hours inside
-- [from, to) from this table and the partial hours at either end from the
-- offers and payments themselves, through the same two functions.
--
-- The list price a paid offer stands against ("what set prices would have
-- asked") is the product's list price when the offer was made: offers keep
-- it in list_price_minor, filled from the product as the row is inserted.

ALTER TABLE offers ADD COLUMN list_price_minor bigint NULL CHECK (list_price_minor >= 0);

UPDATE offers o SET list_price_minor = p.list_price_minor
FROM products p
WHERE p.vendor_id = o.vendor_id AND p.sku = o.sku;

CREATE FUNCTION offers_fill_list_price() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.list_price_minor IS NULL THEN
		SELECT p.list_price_minor INTO NEW.list_price_minor
		FROM products p WHERE p.vendor_id = NEW.vendor_id AND p.sku = NEW.sku;
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER offers_list_price BEFORE INSERT ON offers
	FOR EACH ROW EXECUTE FUNCTION offers_fill_list_price();

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
CREATE FUNCTION insights_vadd(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	IF a IS NULL THEN
		RETURN b;
	END IF;
	IF b IS NULL THEN
		RETURN a;
	END IF;
	FOR i IN 1 .. cardinality(a) LOOP
		a[i] := a[i] + b[i];
	END LOOP;
	RETURN a;
END;
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

-- One change to the sums: the row's vendor, sku, currency, offer time, facts.
CREATE TYPE insights_delta AS (
	vendor_id text,
	sku       text,
	currency  text,
	at        timestamptz,
	f         insights_facts
);

-- plpgsql rather than SQL: it runs with every statement that writes offers
-- or payments, and plpgsql keeps the statement's plan across calls.
CREATE FUNCTION insights_apply(d insights_delta[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO insights_hourly AS h (vendor_id, hour, sku, currency, stripe, offers_created,
		offers_accepted, offers_declined, offers_expired, defaults, payments, late_payments,
		reviews_pending, paid_minor, suggested_minor, list_minor, at_or_above_sp,
		histogram, reasons)
	SELECT x.vendor_id, insights_hour(x.at), x.sku, x.currency, pg_backend_pid(),
	       sum((x.f).offers_created), sum((x.f).offers_accepted), sum((x.f).offers_declined),
	       sum((x.f).offers_expired), sum((x.f).defaults), sum((x.f).payments),
	       sum((x.f).late_payments), sum((x.f).reviews_pending), sum((x.f).paid_minor),
	       sum((x.f).suggested_minor), sum((x.f).list_minor), sum((x.f).at_or_above_sp),
	       insights_vsum((x.f).histogram), insights_vsum((x.f).reasons)
	FROM unnest(d) x
	GROUP BY 1, 2, 3, 4
	ORDER BY 1, 2, 3, 4
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

CREATE FUNCTION insights_offers_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM insights_apply(ARRAY(
		SELECT ROW(n.vendor_id, n.sku, n.currency, n.created_at,
			   insights_offer_facts(n, 1))::insights_delta
		FROM new_rows n));
	RETURN NULL;
END;
$$;

-- Only rows whose facts changed move the sums (checkpoint writes do not).
CREATE FUNCTION insights_offers_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM insights_apply(ARRAY(
		SELECT ROW(x.vendor_id, x.sku, x.currency, x.created_at, x.f)::insights_delta
		FROM new_rows n JOIN old_rows o ON o.vendor_id = n.vendor_id AND o.id = n.id,
		     LATERAL (VALUES (n.vendor_id, n.sku, n.currency, n.created_at,
				      insights_offer_facts(n, 1)),
				     (o.vendor_id, o.sku, o.currency, o.created_at,
				      insights_offer_facts(o, -1))) x(vendor_id, sku, currency,
								    created_at, f)
		WHERE insights_offer_facts(n, 1) IS DISTINCT FROM insights_offer_facts(o, 1)));
	RETURN NULL;
END;
$$;

CREATE FUNCTION insights_payments_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM insights_apply(ARRAY(
		SELECT ROW(o.vendor_id, o.sku, o.currency, o.created_at,
			   insights_payment_facts(n, o, 1))::insights_delta
		FROM new_rows n JOIN offers o ON o.vendor_id = n.vendor_id AND o.id = n.offer_id));
	RETURN NULL;
END;
$$;

CREATE FUNCTION insights_payments_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM insights_apply(ARRAY(
		SELECT ROW(c.vendor_id, c.sku, c.currency, c.created_at, x.f)::insights_delta
		FROM new_rows n JOIN old_rows p ON p.vendor_id = n.vendor_id AND p.id = n.id
		     JOIN offers c ON c.vendor_id = n.vendor_id AND c.id = n.offer_id,
		     LATERAL (VALUES (insights_payment_facts(n, c, 1)),
				     (insights_payment_facts(p, c, -1))) x(f)
		WHERE insights_payment_facts(n, c, 1) IS DISTINCT FROM
		      insights_payment_facts(p, c, 1)));
	RETURN NULL;
END;
$$;

CREATE TRIGGER offers_insights_insert AFTER INSERT ON offers
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION insights_offers_inserted();
CREATE TRIGGER offers_insights_update AFTER UPDATE ON offers
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION insights_offers_updated();
CREATE TRIGGER payments_insights_insert AFTER INSERT ON payments
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION insights_payments_inserted();
CREATE TRIGGER payments_insights_update AFTER UPDATE ON payments
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION insights_payments_updated();

-- Recompute one vendor's sums from its offers and payments (stripe 0):
-- after this migration, and after rows were loaded with the triggers off
-- (e.g. a bulk import under session_replication_role = replica). Run it
-- while the vendor's offers and payments do not change.
CREATE FUNCTION insights_rebuild(p_vendor text) RETURNS void
LANGUAGE sql AS $$
	DELETE FROM insights_hourly WHERE vendor_id = p_vendor;
	WITH f AS (
		SELECT insights_hour(o.created_at) AS hour, o.sku, o.currency,
		       insights_offer_facts(o, 1) AS f
		FROM offers o WHERE o.vendor_id = p_vendor
		UNION ALL
		SELECT insights_hour(o.created_at), o.sku, o.currency, insights_payment_facts(p, o, 1)
		FROM payments p JOIN offers o ON o.vendor_id = p.vendor_id AND o.id = p.offer_id
		WHERE p.vendor_id = p_vendor),
	s AS (
		SELECT hour, sku, currency, sum((f).offers_created) AS offers_created,
		       sum((f).offers_accepted) AS offers_accepted,
		       sum((f).offers_declined) AS offers_declined,
		       sum((f).offers_expired) AS offers_expired, sum((f).defaults) AS defaults,
		       sum((f).payments) AS payments, sum((f).late_payments) AS late_payments,
		       sum((f).reviews_pending) AS reviews_pending,
		       sum((f).paid_minor) AS paid_minor, sum((f).suggested_minor) AS suggested_minor,
		       sum((f).list_minor) AS list_minor, sum((f).at_or_above_sp) AS at_or_above_sp
		FROM f GROUP BY 1, 2, 3),
	hx AS (
		SELECT hour, sku, currency, array_agg(v ORDER BY i) AS a
		FROM (SELECT hour, sku, currency, u.i, sum(u.v)::bigint AS v
		      FROM f, unnest((f).histogram) WITH ORDINALITY u(v, i) GROUP BY 1, 2, 3, 4) q
		GROUP BY 1, 2, 3),
	rx AS (
		SELECT hour, sku, currency, array_agg(v ORDER BY i) AS a
		FROM (SELECT hour, sku, currency, u.i, sum(u.v)::bigint AS v
		      FROM f, unnest((f).reasons) WITH ORDINALITY u(v, i) GROUP BY 1, 2, 3, 4) q
		GROUP BY 1, 2, 3)
	INSERT INTO insights_hourly (vendor_id, hour, sku, currency, stripe, offers_created,
		offers_accepted, offers_declined, offers_expired, defaults, payments, late_payments,
		reviews_pending, paid_minor, suggested_minor, list_minor, at_or_above_sp,
		histogram, reasons)
	SELECT p_vendor, s.hour, s.sku, s.currency, 0, s.offers_created, s.offers_accepted,
	       s.offers_declined, s.offers_expired, s.defaults, s.payments, s.late_payments,
	       s.reviews_pending, s.paid_minor, s.suggested_minor, s.list_minor, s.at_or_above_sp,
	       hx.a, rx.a
	FROM s LEFT JOIN hx USING (hour, sku, currency) LEFT JOIN rx USING (hour, sku, currency);
$$;

SELECT insights_rebuild(id) FROM vendors;

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
