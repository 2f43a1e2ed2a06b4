-- 0002_fairpay_cycle: the FairPay cycle as SQL functions.
--
-- Every state-changing vendor call of fairpayd is one call of one function
-- below, so that the change, its effect on the reputation and its events
-- commit together, under row locks, whichever server instance runs it. The
-- server validates every request field first; the functions check again
-- (SQLSTATE FPARG) because a row the rules cannot handle must never be stored.
--
-- Errors: RAISE ... USING ERRCODE 'FPNTF' (NOT_FOUND), 'FPPRE'
-- (FAILED_PRECONDITION) or 'FPARG' (INVALID_ARGUMENT), with COLUMN naming the
-- request field; the server copies the primary message and the column into
-- Status.
--
-- The rules (PROTOCOL.md rules 1-10) exist twice: server/fp_rules.c and the
-- fp_sql_* functions here. Each fp_sql_* function is a port of the C function
-- of the same name, parameters in the C order with the policy's fields first
-- (in fp_policy order), so that tests/integration/test_sql_rules.c can run
-- both over the same grids and demand identical answers. Enumerations are text
-- names ('FIXED_PRICE'), as stored; SQL `/` on integers truncates toward zero
-- like C, and numeric stands in for C's 128-bit intermediates.
--
-- Locking: every writer for a customer first locks that customer's
-- reputations row (or, for a customer without one, a transaction advisory lock
-- on the customer), then the offer or payment rows. Besides keeping the
-- reputation consistent this serialises the customer's events, so that event
-- ids commit in id order and ListCustomerEvents paging never skips one. The
-- functions assume READ COMMITTED, where a row lock taken after a wait sees
-- the latest committed row.
--
-- Time: now() (the transaction's start) for deadlines; clock_timestamp(),
-- read after the reputation lock, for the two instants that order a
-- customer's history (a payment's created_at, a default's closed_at), so that
-- time order is the order in which cycles were applied to the score.

-- ---------------------------------------------------------------- small helpers

-- Timestamps leave the database only as Unix milliseconds; NULL (never) is 0.
-- STABLE like the extract() inside it, so that the planner inlines it.
CREATE FUNCTION fp_ms(p_ts timestamptz) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT coalesce(floor(extract(epoch FROM p_ts) * 1000)::bigint, 0)
$$;

-- One function raises every FairPay error, so that SQL-language functions and
-- CASE expressions can raise too.
CREATE FUNCTION fp_fail(p_code text, p_column text, p_message text) RETURNS void
LANGUAGE plpgsql PARALLEL SAFE AS $$
BEGIN
	RAISE EXCEPTION '%', p_message USING ERRCODE = p_code, COLUMN = p_column;
END;
$$;

-- Rank of a tier (fairpay.v1.Tier numbers); NULL for anything else.
CREATE FUNCTION fp_sql_tier_rank(p_tier text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE p_tier
		WHEN 'FIXED_PRICE' THEN 1 WHEN 'RESTRICTED' THEN 2 WHEN 'PROBATION' THEN 3
		WHEN 'STANDARD' THEN 4 WHEN 'TRUSTED' THEN 5 END
$$;

CREATE FUNCTION fp_sql_mode_is_fairpay(p_mode text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT p_mode IN ('FAIRPAY', 'FAIRPAY_MINIMUM')
$$;

-- The PaymentReason names, for checking request reasons.
CREATE FUNCTION fp_payment_reason_names() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT ARRAY['DID_NOT_USE', 'POOR_QUALITY', 'NOT_AS_DESCRIBED', 'TECHNICAL_PROBLEM',
		'CANNOT_AFFORD', 'GREAT_VALUE', 'OTHER']::text[]
$$;

-- ---------------------------------------------------------------- the rules (fp_rules.c)

-- fp_cycle_sp (rule 1). NULL where C returns -1: a negative input, or a
-- product beyond int64.
CREATE FUNCTION fp_sql_cycle_sp(p_offer_sp bigint, p_unit_price bigint, p_usage bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE
		WHEN p_offer_sp < 0 OR p_unit_price < 0 OR p_usage < 0 THEN NULL
		WHEN p_unit_price > 0 AND p_usage > 0 THEN
			CASE WHEN p_unit_price::numeric * p_usage <= 9223372036854775807
			     THEN p_unit_price * p_usage END
		ELSE p_offer_sp END
$$;

-- fp_amount_from_differential (rule 2): both factors are >= 0, so div()'s
-- truncation is rounding down. NULL where C returns -1.
CREATE FUNCTION fp_sql_amount_from_differential(p_sp bigint, p_differential_bp int)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN p_sp >= 0 AND p_differential_bp >= -10000 THEN
		(SELECT CASE WHEN a <= 9223372036854775807 THEN a::bigint END
		 FROM (SELECT div(p_sp::numeric * (10000 + p_differential_bp), 10000) AS a) x)
	END
$$;

-- fp_check_mode (rule 3): true where C returns 0.
CREATE FUNCTION fp_sql_check_mode(p_mode text, p_amount bigint, p_set_price bigint,
				  p_minimum bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT p_amount >= 0 AND CASE p_mode
		WHEN 'FAIRPAY' THEN true
		WHEN 'FAIRPAY_MINIMUM' THEN p_amount >= p_minimum
		WHEN 'SET_PRICE' THEN p_amount = p_set_price
		ELSE false END
$$;

-- fp_raw_fairness (rule 4); numeric because amount * 10000 overflows bigint
-- for amounts above about 9.2 * 10^14.
CREATE FUNCTION fp_sql_raw_fairness(p_mode text, p_amount bigint, p_sp bigint) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE
		WHEN p_mode = 'SET_PRICE' OR p_sp <= 0 THEN 10000
		WHEN p_amount <= 0 THEN 0
		ELSE least(20000, div(p_amount::numeric * 10000, p_sp))::int END
$$;

-- fp_verdict_of: the verdict judges the final fairness.
CREATE FUNCTION fp_sql_verdict(p_fair_score_bp int, p_low_score_bp int, p_generous_bp int,
			       p_fairness_bp int)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE
		WHEN p_fairness_bp >= p_generous_bp THEN 'GENEROUS'
		WHEN p_fairness_bp >= p_fair_score_bp THEN 'FAIR'
		WHEN p_fairness_bp >= p_low_score_bp THEN 'LOW'
		ELSE 'UNFAIR' END
$$;

-- fp_excuse (rule 5): reasons and excusing_reasons are arrays of names.
CREATE FUNCTION fp_sql_excuse(p_excusing_reasons text[], p_excused_floor_bp int,
			      p_reasons text[], p_raw_bp int,
			      OUT fairness_bp int, OUT review text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN e THEN p_excused_floor_bp ELSE p_raw_bp END,
	       CASE WHEN e THEN 'PENDING' ELSE 'NOT_NEEDED' END
	FROM (SELECT coalesce(p_reasons && p_excusing_reasons, false)
		     AND p_raw_bp < p_excused_floor_bp AS e) x
$$;

-- fp_review_fairness (rule 5).
CREATE FUNCTION fp_sql_review_fairness(p_raw_bp int, p_accept boolean) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN p_accept THEN greatest(p_raw_bp, 10000) ELSE p_raw_bp END
$$;

-- fp_late_fairness (rule 6).
CREATE FUNCTION fp_sql_late(p_late_penalty_bp int, p_fairness_bp int) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT greatest(0, p_fairness_bp - p_late_penalty_bp)
$$;

-- fp_assess_payment: rule 4, rule 5, rule 6 when late, then the verdict.
CREATE FUNCTION fp_sql_assess(p_fair_score_bp int, p_low_score_bp int, p_generous_bp int,
			      p_excusing_reasons text[], p_excused_floor_bp int,
			      p_late_penalty_bp int,
			      p_mode text, p_amount bigint, p_sp bigint, p_reasons text[],
			      p_late boolean,
			      OUT raw_fairness_bp int, OUT fairness_bp int, OUT verdict text,
			      OUT review text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	raw_fairness_bp := fp_sql_raw_fairness(p_mode, p_amount, p_sp);
	SELECT x.fairness_bp, x.review INTO fairness_bp, review
	FROM fp_sql_excuse(p_excusing_reasons, p_excused_floor_bp, p_reasons,
			   raw_fairness_bp) x;
	IF p_late THEN
		fairness_bp := fp_sql_late(p_late_penalty_bp, fairness_bp);
	END IF;
	verdict := fp_sql_verdict(p_fair_score_bp, p_low_score_bp, p_generous_bp, fairness_bp);
END;
$$;

-- fp_review_payment: rule 5's outcome, rule 6 again when late (a late payment
-- stays late whatever the review decides), then the verdict. All NULL where C
-- returns -1 (the payment is not PENDING).
CREATE FUNCTION fp_sql_review(p_fair_score_bp int, p_low_score_bp int, p_generous_bp int,
			      p_late_penalty_bp int,
			      p_raw_bp int, p_review text, p_late boolean, p_accept boolean,
			      OUT raw_fairness_bp int, OUT fairness_bp int, OUT verdict text,
			      OUT review text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	IF p_review IS DISTINCT FROM 'PENDING' THEN
		RETURN;
	END IF;
	raw_fairness_bp := p_raw_bp;
	fairness_bp := fp_sql_review_fairness(p_raw_bp, p_accept);
	IF p_late THEN
		fairness_bp := fp_sql_late(p_late_penalty_bp, fairness_bp);
	END IF;
	review := CASE WHEN p_accept THEN 'ACCEPTED' ELSE 'REJECTED' END;
	verdict := fp_sql_verdict(p_fair_score_bp, p_low_score_bp, p_generous_bp, fairness_bp);
END;
$$;

-- fp_score_step (rule 7): bigint so that (f - score) * alpha cannot overflow;
-- `/` truncates toward zero as in C.
CREATE FUNCTION fp_sql_score_step(p_score_bp int, p_fairness_bp int, p_alpha_bp int)
RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT (p_score_bp + (least(p_fairness_bp, 15000)::bigint - p_score_bp) * p_alpha_bp
		/ 10000)::int
$$;

-- fp_tier_of (rule 8, first match).
CREATE FUNCTION fp_sql_tier(p_probation_payments int, p_trusted_score_bp int,
			    p_fair_score_bp int, p_low_score_bp int, p_max_open_defaults int,
			    p_score_bp int, p_payments int, p_open_defaults int)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE
		WHEN p_open_defaults >= p_max_open_defaults OR p_score_bp < p_low_score_bp
			THEN 'FIXED_PRICE'
		WHEN p_payments < p_probation_payments THEN 'PROBATION'
		WHEN p_score_bp >= p_trusted_score_bp THEN 'TRUSTED'
		WHEN p_score_bp >= p_fair_score_bp THEN 'STANDARD'
		ELSE 'RESTRICTED' END
$$;

-- The same with a policies row, for the cycle functions.
CREATE FUNCTION fp_sql_tier(p policies, p_score_bp int, p_payments int, p_open_defaults int)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT fp_sql_tier(p.probation_payments, p.trusted_score_bp, p.fair_score_bp,
			   p.low_score_bp, p.max_open_defaults, p_score_bp, p_payments,
			   p_open_defaults)
$$;

-- fp_credit_limit (rule 9): 0 for FIXED_PRICE and anything unknown.
CREATE FUNCTION fp_sql_credit_limit(p_probation_credit_minor bigint,
				    p_standard_credit_minor bigint,
				    p_trusted_credit_minor bigint, p_tier text)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE p_tier
		WHEN 'PROBATION' THEN p_probation_credit_minor
		WHEN 'RESTRICTED' THEN p_standard_credit_minor
		WHEN 'STANDARD' THEN p_standard_credit_minor
		WHEN 'TRUSTED' THEN p_trusted_credit_minor
		ELSE 0::bigint END
$$;

CREATE FUNCTION fp_sql_credit_limit(p policies, p_tier text)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT fp_sql_credit_limit(p.probation_credit_minor, p.standard_credit_minor,
				   p.trusted_credit_minor, p_tier)
$$;

-- fp_credit_fits: numeric, so that the sum cannot overflow.
CREATE FUNCTION fp_sql_credit_fits(p_credit_used bigint, p_sp bigint, p_credit_limit bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT p_credit_used::numeric + p_sp <= p_credit_limit
$$;

-- RESTRICTED's minimum: max(product minimum, SP * restricted_minimum_bp / 10000);
-- numeric because SP (up to 10^15) * 10000 overflows bigint.
CREATE FUNCTION fp_sql_restricted_minimum(p_restricted_minimum_bp int, p_product_min bigint,
					  p_sp bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT greatest(p_product_min, div(p_sp::numeric * p_restricted_minimum_bp, 10000)::bigint)
$$;

-- fp_offer_terms (rule 10 and the override semantics documented in
-- fp_rules.h). Overrides are NULL when absent; p_min_tier NULL means
-- PROBATION (the proto's 0). reasons is comma-joined, in fp_offer_terms'
-- order. Out-of-range inputs raise FPARG with the field fp_offer_terms names.
CREATE FUNCTION fp_sql_offer_terms(
	p_enforcement text, p_probation_payments int, p_trusted_score_bp int,
	p_fair_score_bp int, p_low_score_bp int, p_max_open_defaults int,
	p_restricted_minimum_bp int, p_probation_credit_minor bigint,
	p_standard_credit_minor bigint, p_trusted_credit_minor bigint,
	p_sp bigint, p_list_price bigint, p_product_min bigint, p_min_tier text,
	p_score_bp int, p_payments int, p_open_defaults int, p_credit_used bigint,
	p_ov_mode text, p_ov_sp bigint, p_ov_min bigint,
	OUT mode text, OUT suggested_price_minor bigint, OUT minimum_price_minor bigint,
	OUT set_price_minor bigint, OUT tier text, OUT credit_limit_minor bigint,
	OUT reasons text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v_reasons text[] := '{}';
	v_min bigint := 0;
	v_min_tier text := coalesce(p_min_tier, 'PROBATION');
BEGIN
	-- The order of fp_rules.c check_inputs(), so that both name one field.
	IF p_sp IS NULL OR p_sp < 0 THEN
		PERFORM fp_fail('FPARG', 'product.suggested_price_minor',
				'the product suggested price must be >= 0');
	ELSIF p_list_price IS NULL OR p_list_price < 0 THEN
		PERFORM fp_fail('FPARG', 'product.list_price_minor',
				'the product list price must be >= 0');
	ELSIF p_product_min IS NULL OR p_product_min < 0 THEN
		PERFORM fp_fail('FPARG', 'product.minimum_price_minor',
				'the product minimum price must be >= 0');
	ELSIF p_credit_used IS NULL OR p_credit_used < 0 THEN
		PERFORM fp_fail('FPARG', 'credit_used_minor', 'credit used must be >= 0');
	ELSIF p_ov_mode IS NOT NULL
	      AND p_ov_mode NOT IN ('FAIRPAY', 'FAIRPAY_MINIMUM', 'SET_PRICE') THEN
		PERFORM fp_fail('FPARG', 'overrides.mode',
				format('unknown offer mode %s', p_ov_mode));
	ELSIF p_ov_sp < 0 THEN
		PERFORM fp_fail('FPARG', 'overrides.suggested_price_minor',
				'the suggested price override must be >= 0');
	ELSIF p_ov_min < 0 THEN
		PERFORM fp_fail('FPARG', 'overrides.minimum_price_minor',
				'the minimum price override must be >= 0');
	ELSIF fp_sql_tier_rank(v_min_tier) IS NULL THEN
		PERFORM fp_fail('FPARG', 'product.min_tier', format('unknown tier %s', p_min_tier));
	ELSIF p_enforcement IS NULL OR p_enforcement NOT IN ('ENFORCE', 'VOLUNTARY') THEN
		PERFORM fp_fail('FPARG', 'policy.enforcement',
				format('unknown enforcement %s', p_enforcement));
	END IF;

	-- The credit check and RESTRICTED's minimum use the SP the offer will
	-- carry, as AcceptOffer's check and credit_used do.
	suggested_price_minor := coalesce(p_ov_sp, p_sp);
	tier := fp_sql_tier(p_probation_payments, p_trusted_score_bp, p_fair_score_bp,
			    p_low_score_bp, p_max_open_defaults, p_score_bp, p_payments,
			    p_open_defaults);
	credit_limit_minor := fp_sql_credit_limit(p_probation_credit_minor,
						  p_standard_credit_minor,
						  p_trusted_credit_minor, tier);

	IF p_enforcement = 'VOLUNTARY' THEN
		mode := CASE WHEN p_product_min > 0 THEN 'FAIRPAY_MINIMUM' ELSE 'FAIRPAY' END;
		v_min := p_product_min;
		v_reasons := v_reasons || 'VOLUNTARY_MODE'::text;
	ELSE
		IF tier = 'FIXED_PRICE' THEN
			mode := 'SET_PRICE';
			IF p_open_defaults >= p_max_open_defaults THEN
				v_reasons := v_reasons || 'OPEN_DEFAULTS'::text;
			END IF;
			IF p_score_bp < p_low_score_bp THEN
				v_reasons := v_reasons || 'LOW_SCORE'::text;
			END IF;
		ELSIF fp_sql_tier_rank(tier) < fp_sql_tier_rank(v_min_tier) THEN
			mode := 'SET_PRICE';
			v_reasons := v_reasons || 'TIER_REQUIRED'::text;
		ELSIF NOT fp_sql_credit_fits(p_credit_used, suggested_price_minor,
					     credit_limit_minor) THEN
			mode := 'SET_PRICE';
			v_reasons := v_reasons || 'CREDIT_LIMIT'::text;
		ELSIF tier = 'RESTRICTED' THEN
			mode := 'FAIRPAY_MINIMUM';
			v_min := fp_sql_restricted_minimum(p_restricted_minimum_bp, p_product_min,
							   suggested_price_minor);
			v_reasons := v_reasons || 'LOW_SCORE'::text;
		ELSIF p_product_min > 0 THEN
			mode := 'FAIRPAY_MINIMUM';
			v_min := p_product_min;
			v_reasons := v_reasons || 'PRODUCT_MINIMUM'::text;
		ELSE
			mode := 'FAIRPAY';
		END IF;
		IF tier = 'PROBATION' THEN
			v_reasons := v_reasons || 'PROBATION'::text;
		END IF;
	END IF;

	-- Overrides come after the policy, whose reasons stay to show what was
	-- overridden.
	IF p_ov_mode IS NOT NULL OR p_ov_sp IS NOT NULL OR p_ov_min IS NOT NULL THEN
		IF p_ov_mode IS NOT NULL THEN
			mode := p_ov_mode;
			IF mode = 'FAIRPAY_MINIMUM' AND p_ov_min IS NOT NULL THEN
				v_min := p_ov_min;
			ELSIF mode = 'FAIRPAY_MINIMUM' AND p_enforcement = 'ENFORCE'
			      AND tier = 'RESTRICTED' THEN
				v_min := fp_sql_restricted_minimum(p_restricted_minimum_bp,
								   p_product_min,
								   suggested_price_minor);
			ELSIF mode = 'FAIRPAY_MINIMUM' THEN
				v_min := p_product_min;
			END IF;
		ELSIF p_ov_min IS NOT NULL AND fp_sql_mode_is_fairpay(mode) THEN
			v_min := p_ov_min;
			mode := CASE WHEN v_min > 0 THEN 'FAIRPAY_MINIMUM' ELSE 'FAIRPAY' END;
		END IF;
		v_reasons := v_reasons || 'VENDOR_OVERRIDE'::text;
	END IF;

	minimum_price_minor := CASE WHEN mode = 'FAIRPAY_MINIMUM' THEN v_min ELSE 0 END;
	set_price_minor := CASE WHEN mode = 'SET_PRICE' THEN p_list_price ELSE 0 END;
	reasons := array_to_string(v_reasons, ',');
END;
$$;

-- ---------------------------------------------------------------- output types

-- Column order is part of the contract with fairpayd, which reads by position.
CREATE TYPE fp_offer_t AS (
	offer_id              text,
	customer_id           text,
	sku                   text,
	status                text,
	mode                  text,
	currency              text,
	suggested_price_minor bigint,
	unit_price_minor      bigint,
	minimum_price_minor   bigint,
	set_price_minor       bigint,
	tier                  text,
	credit_limit_minor    bigint,
	credit_used_minor     bigint,
	reasons               text,
	created_ms            bigint,
	expires_ms            bigint,
	pay_by_ms             bigint,
	period_index          int,
	previous_offer_id     text
);

CREATE TYPE fp_payment_t AS (
	payment_id            text,
	offer_id              text,
	customer_id           text,
	amount_minor          bigint,
	currency              text,
	suggested_price_minor bigint,
	usage_units           bigint,
	reasons               text,
	note                  text,
	fairness_bp           int,
	raw_fairness_bp       int,
	verdict               text,
	review                text,
	late                  boolean,
	created_ms            bigint
);

CREATE TYPE fp_reputation_t AS (
	customer_id           text,
	score_bp              int,
	tier                  text,
	payments              int,
	defaults              int,
	open_defaults         int,
	offers_accepted       int,
	total_paid_minor      bigint,
	total_suggested_minor bigint,
	credit_limit_minor    bigint,
	credit_used_minor     bigint,
	updated_ms            bigint,
	recent                int,
	recent_at_sp          int,
	enforcement           text
);

CREATE FUNCTION fp_offer_out(o offers) RETURNS fp_offer_t
LANGUAGE sql STABLE AS $$
	SELECT ROW(o.id, o.customer_id, o.sku, o.status, o.mode, o.currency,
		   o.suggested_price_minor, o.unit_price_minor, o.minimum_price_minor,
		   o.set_price_minor, o.tier, o.credit_limit_minor, o.credit_used_minor,
		   array_to_string(o.reasons, ','), fp_ms(o.created_at), fp_ms(o.expires_at),
		   fp_ms(o.pay_by), o.period_index, coalesce(o.previous_offer_id, ''))::fp_offer_t
$$;

CREATE FUNCTION fp_payment_out(p payments) RETURNS fp_payment_t
LANGUAGE sql STABLE AS $$
	SELECT ROW(p.id, p.offer_id, p.customer_id, p.amount_minor, p.currency,
		   p.suggested_price_minor, p.usage_units, array_to_string(p.reasons, ','),
		   p.note, p.fairness_bp, p.raw_fairness_bp, p.verdict, p.review, p.late,
		   fp_ms(p.created_at))::fp_payment_t
$$;

-- ---------------------------------------------------------------- policy

-- A vendor without a policies row has exactly the column defaults of 0001.
-- Rather than copy them here (two copies drift), the body of
-- fp_policy_defaults() is generated from the catalogue when this file runs;
-- a later migration that changes a default or a column of policies must run
-- this block again.
DO $gen$
DECLARE
	v_cols text;
	v_missing text;
BEGIN
	SELECT string_agg(a.attname, ', ') INTO v_missing
	FROM pg_attribute a
	LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	WHERE a.attrelid = 'policies'::regclass AND a.attnum > 0 AND NOT a.attisdropped
	  AND d.adbin IS NULL AND a.attname <> 'vendor_id';
	IF v_missing IS NOT NULL THEN
		RAISE EXCEPTION 'policies columns without a default: %', v_missing;
	END IF;

	SELECT string_agg(
		'(' || CASE a.attname
			WHEN 'vendor_id' THEN 'p_vendor'
			WHEN 'version' THEN '0'
			ELSE pg_get_expr(d.adbin, d.adrelid) END
		|| ')::' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
	INTO v_cols
	FROM pg_attribute a
	LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	WHERE a.attrelid = 'policies'::regclass AND a.attnum > 0 AND NOT a.attisdropped;

	EXECUTE format('CREATE FUNCTION fp_policy_defaults(p_vendor text) RETURNS policies '
		       'LANGUAGE sql STABLE AS %L',
		       format('SELECT ROW(%s)::policies', v_cols));
END;
$gen$;

-- The vendor's policy: the stored row, or the defaults with version 0.
CREATE FUNCTION fp_policy_of(p_vendor text) RETURNS policies
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v policies;
BEGIN
	SELECT * INTO v FROM policies p WHERE p.vendor_id = p_vendor;
	IF NOT FOUND THEN
		v := fp_policy_defaults(p_vendor);
	END IF;
	RETURN v;
END;
$$;

-- ---------------------------------------------------------------- locks and events

-- Key of the advisory lock that stands in for a customer's reputations row
-- while it does not exist. The two-int4 form keeps it apart from the bigint
-- lock of `fairpayctl db migrate`; a hash collision only makes two customers
-- wait for each other.
CREATE FUNCTION fp_customer_lock_key(p_vendor text, p_customer text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT hashtext(p_vendor || '/' || p_customer)
$$;

-- The class of that advisory lock: "fprp".
CREATE FUNCTION fp_customer_lock_class() RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT 1718645360
$$;

-- Lock the customer (waiting) and return the reputations row, first inserting
-- it from the prior when p_create. Without p_create a customer that has no row
-- is locked through the advisory lock and the result has all fields NULL.
-- Every creator takes the advisory lock before inserting, so a writer that
-- found no row waits there for a concurrent creator to commit.
CREATE FUNCTION fp_lock_customer(p_vendor text, p_customer text, p_create boolean,
				 p_prior_score_bp int)
RETURNS reputations LANGUAGE plpgsql AS $$
DECLARE
	v reputations;
BEGIN
	SELECT * INTO v FROM reputations r
	WHERE r.vendor_id = p_vendor AND r.customer_id = p_customer FOR UPDATE;
	IF FOUND THEN
		RETURN v;
	END IF;
	PERFORM pg_advisory_xact_lock(fp_customer_lock_class(),
				      fp_customer_lock_key(p_vendor, p_customer));
	IF p_create THEN
		-- updated_at stays as the row's default: the caller changes the
		-- row at once and sets it.
		INSERT INTO reputations (vendor_id, customer_id, score_bp)
		VALUES (p_vendor, p_customer, p_prior_score_bp)
		ON CONFLICT DO NOTHING;
	END IF;
	SELECT * INTO v FROM reputations r
	WHERE r.vendor_id = p_vendor AND r.customer_id = p_customer FOR UPDATE;
	RETURN v;
END;
$$;

-- Lock the customer as fp_lock_customer does, but never wait: false when
-- another transaction holds the row (or the advisory lock). The sweeper uses
-- it so that it never waits while it holds locks of earlier rows.
CREATE FUNCTION fp_try_lock_customer(p_vendor text, p_customer text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM reputations r
	WHERE r.vendor_id = p_vendor AND r.customer_id = p_customer FOR UPDATE SKIP LOCKED;
	IF FOUND THEN
		RETURN true;
	END IF;
	IF EXISTS (SELECT 1 FROM reputations r
		   WHERE r.vendor_id = p_vendor AND r.customer_id = p_customer) THEN
		RETURN false;
	END IF;
	RETURN pg_try_advisory_xact_lock(fp_customer_lock_class(),
					 fp_customer_lock_key(p_vendor, p_customer));
END;
$$;

CREATE FUNCTION fp_event_add(p_vendor text, p_customer text, p_kind text, p_offer_id text,
			     p_payment_id text, p_detail text)
RETURNS void LANGUAGE plpgsql AS $$
-- plpgsql rather than sql: its plan is kept for the session, not made anew
-- on every call of the hot path.
BEGIN
	INSERT INTO events (vendor_id, customer_id, kind, offer_id, payment_id, detail)
	VALUES (p_vendor, p_customer, p_kind, p_offer_id, p_payment_id, coalesce(p_detail, ''));
END;
$$;

-- Detail of REPUTATION_CHANGED: the score move and the resulting tier.
CREATE FUNCTION fp_reputation_detail(p_pol policies, p_before reputations,
				     p_after reputations)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
	t0 text := fp_sql_tier(p_pol, p_before.score_bp, p_before.payments,
			       p_before.open_defaults);
	t1 text := fp_sql_tier(p_pol, p_after.score_bp, p_after.payments,
			       p_after.open_defaults);
BEGIN
	RETURN format('score %s -> %s, tier %s', p_before.score_bp, p_after.score_bp,
		      CASE WHEN t0 = t1 THEN t1 ELSE t0 || ' -> ' || t1 END);
END;
$$;

-- ---------------------------------------------------------------- reputation

-- The Reputation of a customer under the current policy; p_rep all NULL means
-- never seen (the prior reputation, updated_ms 0).
CREATE FUNCTION fp_reputation_out(p_pol policies, p_customer text, p_rep reputations)
RETURNS fp_reputation_t LANGUAGE plpgsql STABLE AS $$
DECLARE
	v reputations := p_rep;
	v_tier text;
	v_recent int;
	v_at_sp int;
BEGIN
	IF v.customer_id IS NULL THEN
		v.score_bp := p_pol.prior_score_bp;
		v.payments := 0;
		v.defaults := 0;
		v.open_defaults := 0;
		v.offers_accepted := 0;
		v.total_paid_minor := 0;
		v.total_suggested_minor := 0;
		v.credit_used_minor := 0;
		v.updated_at := NULL;
	END IF;
	SELECT count(*), count(*) FILTER (WHERE l.raw_fairness_bp >= 10000)
	INTO v_recent, v_at_sp
	FROM (SELECT p.raw_fairness_bp FROM payments p
	      WHERE p.vendor_id = p_pol.vendor_id AND p.customer_id = p_customer
	      ORDER BY p.created_at DESC, p.id COLLATE "C" DESC
	      LIMIT 5) l;
	v_tier := fp_sql_tier(p_pol, v.score_bp, v.payments, v.open_defaults);
	RETURN ROW(p_customer, v.score_bp, v_tier, v.payments, v.defaults, v.open_defaults,
		   v.offers_accepted, v.total_paid_minor, v.total_suggested_minor,
		   fp_sql_credit_limit(p_pol, v_tier), v.credit_used_minor,
		   fp_ms(v.updated_at), v_recent, v_at_sp, p_pol.enforcement)::fp_reputation_t;
END;
$$;

-- Recompute a customer's score from scratch (rule 7): the closed cycles in time
-- order, payments at created_at with their fairness and defaults still open at
-- closed_at with 0, from prior_score_bp with the current alpha. Ties by id,
-- compared bytewise so that the order does not depend on the collation.
CREATE FUNCTION fp_recompute_score(p_vendor text, p_customer text) RETURNS int
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_pol policies := fp_policy_of(p_vendor);
	v_score int := v_pol.prior_score_bp;
	v_f int;
BEGIN
	FOR v_f IN
		SELECT h.f FROM (
			SELECT p.fairness_bp AS f, p.created_at AS at, p.id FROM payments p
			WHERE p.vendor_id = p_vendor AND p.customer_id = p_customer
			UNION ALL
			SELECT 0, o.closed_at, o.id FROM offers o
			WHERE o.vendor_id = p_vendor AND o.customer_id = p_customer
			  AND o.status = 'DEFAULTED'
		) h
		ORDER BY h.at, h.id COLLATE "C"
	LOOP
		v_score := fp_sql_score_step(v_score, v_f, v_pol.alpha_bp);
	END LOOP;
	RETURN v_score;
END;
$$;

-- Read a customer's reputation (the prior one for a customer never seen).
CREATE FUNCTION fp_get_reputation(p_vendor text, p_customer text) RETURNS fp_reputation_t
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v reputations;
BEGIN
	IF p_customer IS NULL OR octet_length(p_customer) NOT BETWEEN 1 AND 128 THEN
		PERFORM fp_fail('FPARG', 'customer_id', 'customer_id must be 1-128 bytes');
	END IF;
	SELECT * INTO v FROM reputations r
	WHERE r.vendor_id = p_vendor AND r.customer_id = p_customer;
	RETURN fp_reputation_out(fp_policy_of(p_vendor), p_customer, v);
END;
$$;

-- ---------------------------------------------------------------- offers

-- Make an offer (status OPEN) on the terms of rule 10 for the given standing,
-- with its OFFER_CREATED event. The caller holds the customer's lock.
CREATE FUNCTION fp_offer_insert(p_pol policies, p_product products, p_offer_id text,
				p_customer text, p_rep reputations, p_ov_mode text,
				p_ov_sp bigint, p_ov_min bigint, p_previous text, p_period int)
RETURNS offers LANGUAGE plpgsql AS $$
DECLARE
	v_score int := coalesce(p_rep.score_bp, p_pol.prior_score_bp);
	t record;
	o offers;
BEGIN
	SELECT * INTO t FROM fp_sql_offer_terms(
		p_pol.enforcement, p_pol.probation_payments, p_pol.trusted_score_bp,
		p_pol.fair_score_bp, p_pol.low_score_bp, p_pol.max_open_defaults,
		p_pol.restricted_minimum_bp, p_pol.probation_credit_minor,
		p_pol.standard_credit_minor, p_pol.trusted_credit_minor,
		p_product.suggested_price_minor, p_product.list_price_minor,
		p_product.minimum_price_minor, p_product.min_tier,
		v_score, coalesce(p_rep.payments, 0), coalesce(p_rep.open_defaults, 0),
		coalesce(p_rep.credit_used_minor, 0), p_ov_mode, p_ov_sp, p_ov_min);

	INSERT INTO offers (vendor_id, id, customer_id, sku, status, mode, currency,
			    suggested_price_minor, unit_price_minor, minimum_price_minor,
			    set_price_minor, tier, credit_limit_minor, credit_used_minor, reasons,
			    created_at, expires_at, period_index, previous_offer_id)
	VALUES (p_pol.vendor_id, p_offer_id, p_customer, p_product.sku, 'OPEN', t.mode,
		p_product.currency, t.suggested_price_minor, p_product.unit_price_minor,
		t.minimum_price_minor, t.set_price_minor, t.tier, t.credit_limit_minor,
		coalesce(p_rep.credit_used_minor, 0), string_to_array(t.reasons, ','),
		now(), now() + p_pol.offer_ttl_seconds * interval '1 second', p_period,
		p_previous)
	RETURNING * INTO o;

	PERFORM fp_event_add(p_pol.vendor_id, p_customer, 'OFFER_CREATED', o.id, NULL,
			     format('sku %s, mode %s, suggested %s, tier %s, reasons %s',
				    o.sku, o.mode, o.suggested_price_minor, o.tier,
				    coalesce(nullif(t.reasons, ''), 'none')));
	RETURN o;
END;
$$;

-- Accept a locked OPEN offer for the locked customer p_rep: the credit check
-- again (FairPay modes in ENFORCE without VENDOR_OVERRIDE, against the current
-- tier's limit), pay_by, the customer's credit and offers_accepted, the
-- OFFER_ACCEPTED event. The offer row keeps the customer's credit after the
-- accept, so that GetOffer answers what AcceptOffer answered.
CREATE FUNCTION fp_offer_accept(p_pol policies, p_rep reputations, p_offer offers)
RETURNS offers LANGUAGE plpgsql AS $$
DECLARE
	v_tier text := fp_sql_tier(p_pol, p_rep.score_bp, p_rep.payments, p_rep.open_defaults);
	v_limit bigint := fp_sql_credit_limit(p_pol, v_tier);
	v_fairpay boolean := fp_sql_mode_is_fairpay(p_offer.mode);
	v_used bigint;
	o offers;
BEGIN
	IF v_fairpay AND p_pol.enforcement = 'ENFORCE'
	   AND NOT 'VENDOR_OVERRIDE' = ANY (p_offer.reasons)
	   AND NOT fp_sql_credit_fits(p_rep.credit_used_minor, p_offer.suggested_price_minor,
				      v_limit) THEN
		PERFORM fp_fail('FPPRE', 'offer_id',
			format('offer %s no longer fits the FairPay credit: %s used + %s '
			       'suggested is over the %s limit of tier %s',
			       p_offer.id, p_rep.credit_used_minor,
			       p_offer.suggested_price_minor, v_limit, v_tier));
	END IF;
	v_used := p_rep.credit_used_minor
		  + CASE WHEN v_fairpay THEN p_offer.suggested_price_minor ELSE 0 END;

	UPDATE reputations r
	SET offers_accepted = r.offers_accepted + 1, credit_used_minor = v_used,
	    updated_at = now()
	WHERE r.vendor_id = p_rep.vendor_id AND r.customer_id = p_rep.customer_id;

	UPDATE offers x
	SET status = 'ACCEPTED', accepted_at = now(),
	    pay_by = now() + p_pol.payment_window_seconds * interval '1 second',
	    credit_limit_minor = v_limit, credit_used_minor = v_used
	WHERE x.vendor_id = p_offer.vendor_id AND x.id = p_offer.id
	RETURNING * INTO o;

	PERFORM fp_event_add(o.vendor_id, o.customer_id, 'OFFER_ACCEPTED', o.id, NULL,
			     format('pay by %s, credit used %s of %s',
				    to_char(o.pay_by AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
				    v_used, v_limit));
	RETURN o;
END;
$$;

-- Find an offer's customer before locking anything: the lock order is the
-- customer first, then the offer, and an offer never changes customer.
CREATE FUNCTION fp_offer_customer(p_vendor text, p_offer_id text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v text;
BEGIN
	SELECT o.customer_id INTO v FROM offers o
	WHERE o.vendor_id = p_vendor AND o.id = p_offer_id;
	IF NOT FOUND THEN
		PERFORM fp_fail('FPNTF', 'offer_id', format('no offer %s', p_offer_id));
	END IF;
	RETURN v;
END;
$$;

-- An OPEN offer past expires_at is expired even before the sweeper marks it.
CREATE FUNCTION fp_offer_require_open(o offers) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF o.status <> 'OPEN' THEN
		PERFORM fp_fail('FPPRE', 'offer_id',
				format('offer %s is %s, not OPEN', o.id, o.status));
	ELSIF o.expires_at < now() THEN
		PERFORM fp_fail('FPPRE', 'offer_id', format('offer %s has expired', o.id));
	END IF;
END;
$$;

-- CreateOffer.
CREATE FUNCTION fp_create_offer(p_vendor text, p_offer_id text, p_customer text, p_sku text,
				p_ov_mode text DEFAULT NULL, p_ov_sp bigint DEFAULT NULL,
				p_ov_min bigint DEFAULT NULL)
RETURNS fp_offer_t LANGUAGE plpgsql AS $$
DECLARE
	v_pol policies := fp_policy_of(p_vendor);
	v_product products;
	v_rep reputations;
	o offers;
BEGIN
	IF p_offer_id IS NULL OR p_offer_id !~ '^o_[0-9a-f]{16}$' THEN
		PERFORM fp_fail('FPARG', 'offer_id', 'offer_id must be o_ and 16 hex digits');
	ELSIF p_customer IS NULL OR octet_length(p_customer) NOT BETWEEN 1 AND 128 THEN
		PERFORM fp_fail('FPARG', 'customer_id', 'customer_id must be 1-128 bytes');
	ELSIF p_sku IS NULL OR p_sku !~ '^[A-Za-z0-9._-]{1,64}$' THEN
		PERFORM fp_fail('FPARG', 'sku', 'sku must be 1-64 of A-Z a-z 0-9 . _ -');
	ELSIF p_ov_sp > 1000000000000000 THEN
		PERFORM fp_fail('FPARG', 'overrides.suggested_price_minor',
				'the suggested price override must be <= 10^15');
	ELSIF p_ov_min > 1000000000000000 THEN
		PERFORM fp_fail('FPARG', 'overrides.minimum_price_minor',
				'the minimum price override must be <= 10^15');
	END IF;

	SELECT * INTO v_product FROM products p WHERE p.vendor_id = p_vendor AND p.sku = p_sku;
	IF NOT FOUND THEN
		PERFORM fp_fail('FPNTF', 'sku', format('no product with sku %s', p_sku));
	END IF;

	-- Locked although the offer changes no reputation: its event must not
	-- commit out of id order with the customer's other events.
	v_rep := fp_lock_customer(p_vendor, p_customer, false, NULL);
	o := fp_offer_insert(v_pol, v_product, p_offer_id, p_customer, v_rep, p_ov_mode, p_ov_sp,
			     p_ov_min, NULL, 0);
	RETURN fp_offer_out(o);
END;
$$;

-- AcceptOffer.
CREATE FUNCTION fp_accept_offer(p_vendor text, p_offer_id text) RETURNS fp_offer_t
LANGUAGE plpgsql AS $$
DECLARE
	v_pol policies := fp_policy_of(p_vendor);
	v_customer text := fp_offer_customer(p_vendor, p_offer_id);
	v_rep reputations;
	o offers;
BEGIN
	v_rep := fp_lock_customer(p_vendor, v_customer, true, v_pol.prior_score_bp);
	SELECT * INTO o FROM offers x WHERE x.vendor_id = p_vendor AND x.id = p_offer_id
	FOR UPDATE;
	PERFORM fp_offer_require_open(o);
	o := fp_offer_accept(v_pol, v_rep, o);
	RETURN fp_offer_out(o);
END;
$$;

-- DeclineOffer.
CREATE FUNCTION fp_decline_offer(p_vendor text, p_offer_id text) RETURNS fp_offer_t
LANGUAGE plpgsql AS $$
DECLARE
	v_customer text := fp_offer_customer(p_vendor, p_offer_id);
	o offers;
BEGIN
	PERFORM fp_lock_customer(p_vendor, v_customer, false, NULL);
	SELECT * INTO o FROM offers x WHERE x.vendor_id = p_vendor AND x.id = p_offer_id
	FOR UPDATE;
	PERFORM fp_offer_require_open(o);
	UPDATE offers x SET status = 'DECLINED', closed_at = now()
	WHERE x.vendor_id = p_vendor AND x.id = p_offer_id
	RETURNING * INTO o;
	PERFORM fp_event_add(p_vendor, o.customer_id, 'OFFER_DECLINED', o.id, NULL, '');
	RETURN fp_offer_out(o);
END;
$$;

-- GetOffer.
CREATE FUNCTION fp_get_offer(p_vendor text, p_offer_id text) RETURNS fp_offer_t
LANGUAGE plpgsql STABLE AS $$
DECLARE
	o offers;
BEGIN
	SELECT * INTO o FROM offers x WHERE x.vendor_id = p_vendor AND x.id = p_offer_id;
	IF NOT FOUND THEN
		PERFORM fp_fail('FPNTF', 'offer_id', format('no offer %s', p_offer_id));
	END IF;
	RETURN fp_offer_out(o);
END;
$$;

-- ---------------------------------------------------------------- payments

-- SubmitPayment: rules 1-7 for one payment, and rule 12's next offer.
CREATE FUNCTION fp_submit_payment(p_vendor text, p_payment_id text, p_offer_id text,
				  p_amount bigint, p_differential int, p_usage bigint,
				  p_reasons text, p_note text, p_next_offer_id text)
RETURNS TABLE(payment fp_payment_t, reputation fp_reputation_t, next_offer fp_offer_t)
LANGUAGE plpgsql AS $$
DECLARE
	v_pol policies := fp_policy_of(p_vendor);
	v_amount_field text := CASE WHEN p_amount IS NOT NULL THEN 'amount_minor'
				    ELSE 'differential_bp' END;
	v_reasons text[];
	v_customer text;
	v_rep reputations;
	v_after reputations;
	o offers;
	v_late boolean;
	v_sp bigint;
	v_amount bigint;
	a record;
	v_at timestamptz;
	v_pay payments;
	v_product products;
	v_next offers;
BEGIN
	-- Duplicates collapse, the first occurrence keeping its place.
	v_reasons := ARRAY(SELECT u.r FROM unnest(string_to_array(coalesce(p_reasons, ''), ','))
				      WITH ORDINALITY u(r, n)
			   GROUP BY u.r ORDER BY min(u.n));
	IF p_payment_id IS NULL OR p_payment_id !~ '^p_[0-9a-f]{16}$' THEN
		PERFORM fp_fail('FPARG', 'payment_id', 'payment_id must be p_ and 16 hex digits');
	ELSIF (p_amount IS NULL) = (p_differential IS NULL) THEN
		PERFORM fp_fail('FPARG', 'amount_minor',
				'give exactly one of amount_minor and differential_bp');
	ELSIF p_amount NOT BETWEEN 0 AND 1000000000000000 THEN
		PERFORM fp_fail('FPARG', 'amount_minor', 'amount_minor must be 0-10^15');
	ELSIF p_differential NOT BETWEEN -10000 AND 1000000 THEN
		PERFORM fp_fail('FPARG', 'differential_bp',
				'differential_bp must be -10000 to 1000000');
	ELSIF p_usage IS NULL OR p_usage NOT BETWEEN 0 AND 1000000000 THEN
		PERFORM fp_fail('FPARG', 'usage_units', 'usage_units must be 0-10^9');
	ELSIF NOT v_reasons <@ fp_payment_reason_names() THEN
		PERFORM fp_fail('FPARG', 'reasons', format('unknown payment reason in %s', p_reasons));
	ELSIF octet_length(p_note) > 1000 THEN
		PERFORM fp_fail('FPARG', 'note', 'note must be at most 1000 bytes');
	ELSIF p_next_offer_id !~ '^o_[0-9a-f]{16}$' THEN
		PERFORM fp_fail('FPARG', 'next_offer_id',
				'next_offer_id must be o_ and 16 hex digits');
	END IF;

	v_customer := fp_offer_customer(p_vendor, p_offer_id);
	v_rep := fp_lock_customer(p_vendor, v_customer, true, v_pol.prior_score_bp);
	SELECT * INTO o FROM offers x WHERE x.vendor_id = p_vendor AND x.id = p_offer_id
	FOR UPDATE;

	-- Rule 11: which states take a payment.
	IF o.status = 'PAID' THEN
		PERFORM fp_fail('FPPRE', 'offer_id', format('offer %s is already paid', o.id));
	ELSIF o.status = 'OPEN' AND o.mode <> 'SET_PRICE' THEN
		PERFORM fp_fail('FPPRE', 'offer_id',
				format('offer %s must be accepted before it is paid', o.id));
	ELSIF o.status = 'OPEN' AND o.expires_at < now() THEN
		PERFORM fp_fail('FPPRE', 'offer_id', format('offer %s has expired', o.id));
	ELSIF o.status NOT IN ('OPEN', 'ACCEPTED', 'DEFAULTED') THEN
		PERFORM fp_fail('FPPRE', 'offer_id',
				format('offer %s is %s and cannot be paid', o.id, o.status));
	END IF;
	v_late := o.status = 'DEFAULTED';

	-- Rule 1. The server cannot check the cycle's SP before it has the offer;
	-- it is held to the 10^15 of every other amount so that rule 2 fits.
	v_sp := fp_sql_cycle_sp(o.suggested_price_minor, o.unit_price_minor, p_usage);
	IF v_sp IS NULL OR v_sp > 1000000000000000 THEN
		PERFORM fp_fail('FPARG', 'usage_units',
				format('usage_units %s at unit price %s is over 10^15',
				       p_usage, o.unit_price_minor));
	END IF;
	-- Rule 2.
	v_amount := coalesce(p_amount, fp_sql_amount_from_differential(v_sp, p_differential));
	-- Rule 3.
	IF NOT fp_sql_check_mode(o.mode, v_amount, o.set_price_minor, o.minimum_price_minor) THEN
		IF o.mode = 'SET_PRICE' THEN
			PERFORM fp_fail('FPPRE', v_amount_field,
				format('amount %s must equal the set price %s',
				       v_amount, o.set_price_minor));
		ELSE
			PERFORM fp_fail('FPPRE', v_amount_field,
				format('amount %s is below the minimum price %s',
				       v_amount, o.minimum_price_minor));
		END IF;
	END IF;
	-- Rules 4-6 and the verdict.
	SELECT * INTO a FROM fp_sql_assess(v_pol.fair_score_bp, v_pol.low_score_bp,
					   v_pol.generous_bp, v_pol.excusing_reasons,
					   v_pol.excused_floor_bp, v_pol.late_penalty_bp,
					   o.mode, v_amount, v_sp, v_reasons, v_late);

	v_at := clock_timestamp();
	INSERT INTO payments (vendor_id, id, offer_id, customer_id, amount_minor, currency,
			      suggested_price_minor, usage_units, reasons, note, fairness_bp,
			      raw_fairness_bp, verdict, review, late, created_at)
	VALUES (p_vendor, p_payment_id, o.id, o.customer_id, v_amount, o.currency, v_sp,
		p_usage, v_reasons, coalesce(p_note, ''), a.fairness_bp, a.raw_fairness_bp,
		a.verdict, a.review, v_late, v_at)
	RETURNING * INTO v_pay;

	-- A late payment moves the cycle from its default's time to now.
	UPDATE offers x SET status = 'PAID', closed_at = v_at
	WHERE x.vendor_id = p_vendor AND x.id = o.id;

	UPDATE reputations r
	SET payments = r.payments + 1,
	    total_paid_minor = r.total_paid_minor + v_amount,
	    total_suggested_minor = r.total_suggested_minor + v_sp,
	    credit_used_minor = CASE
		WHEN o.status = 'ACCEPTED' AND fp_sql_mode_is_fairpay(o.mode)
		THEN greatest(0, r.credit_used_minor - o.suggested_price_minor)
		ELSE r.credit_used_minor END,
	    open_defaults = CASE WHEN v_late THEN greatest(0, r.open_defaults - 1)
			    ELSE r.open_defaults END,
	    score_bp = CASE WHEN v_late THEN r.score_bp
		       ELSE fp_sql_score_step(r.score_bp, a.fairness_bp, v_pol.alpha_bp) END,
	    updated_at = now()
	WHERE r.vendor_id = p_vendor AND r.customer_id = o.customer_id
	RETURNING * INTO v_after;
	IF v_late THEN
		-- Rule 6: the default left the history, so only a replay is right.
		UPDATE reputations r SET score_bp = fp_recompute_score(p_vendor, o.customer_id)
		WHERE r.vendor_id = p_vendor AND r.customer_id = o.customer_id
		RETURNING * INTO v_after;
	END IF;

	PERFORM fp_event_add(p_vendor, o.customer_id, 'PAYMENT_RECEIVED', o.id, v_pay.id,
		format('amount %s, suggested %s, fairness %s (raw %s), verdict %s, review %s%s',
		       v_amount, v_sp, a.fairness_bp, a.raw_fairness_bp, a.verdict, a.review,
		       CASE WHEN v_late THEN ', late' ELSE '' END));
	PERFORM fp_event_add(p_vendor, o.customer_id, 'REPUTATION_CHANGED', o.id, v_pay.id,
			     fp_reputation_detail(v_pol, v_rep, v_after));

	-- Rule 12, on the reputation this payment produced.
	SELECT * INTO v_product FROM products p WHERE p.vendor_id = p_vendor AND p.sku = o.sku;
	IF v_product.period_days > 0 THEN
		IF p_next_offer_id IS NULL THEN
			PERFORM fp_fail('FPARG', 'next_offer_id',
					'a recurring product needs next_offer_id');
		END IF;
		v_next := fp_offer_insert(v_pol, v_product, p_next_offer_id, o.customer_id,
					  v_after, NULL, NULL, NULL, o.id, o.period_index + 1);
		IF fp_sql_mode_is_fairpay(v_next.mode) THEN
			v_next := fp_offer_accept(v_pol, v_after, v_next);
			SELECT * INTO v_after FROM reputations r
			WHERE r.vendor_id = p_vendor AND r.customer_id = o.customer_id;
		END IF;
		next_offer := fp_offer_out(v_next);
	END IF;

	payment := fp_payment_out(v_pay);
	reputation := fp_reputation_out(v_pol, o.customer_id, v_after);
	RETURN NEXT;
END;
$$;

-- ReviewPayment.
CREATE FUNCTION fp_review_payment(p_vendor text, p_payment_id text, p_accept boolean,
				  p_note text)
RETURNS TABLE(payment fp_payment_t, reputation fp_reputation_t)
LANGUAGE plpgsql AS $$
DECLARE
	v_pol policies := fp_policy_of(p_vendor);
	v_customer text;
	v_rep reputations;
	v_after reputations;
	v_pay payments;
	a record;
BEGIN
	IF p_accept IS NULL THEN
		PERFORM fp_fail('FPARG', 'accept_reasons', 'accept_reasons must be given');
	ELSIF octet_length(p_note) > 1000 THEN
		PERFORM fp_fail('FPARG', 'note', 'note must be at most 1000 bytes');
	END IF;
	SELECT p.customer_id INTO v_customer FROM payments p
	WHERE p.vendor_id = p_vendor AND p.id = p_payment_id;
	IF NOT FOUND THEN
		PERFORM fp_fail('FPNTF', 'payment_id', format('no payment %s', p_payment_id));
	END IF;

	v_rep := fp_lock_customer(p_vendor, v_customer, true, v_pol.prior_score_bp);
	SELECT * INTO v_pay FROM payments p WHERE p.vendor_id = p_vendor AND p.id = p_payment_id
	FOR UPDATE;
	IF v_pay.review <> 'PENDING' THEN
		PERFORM fp_fail('FPPRE', 'payment_id',
				format('payment %s is not waiting for a review (review %s)',
				       v_pay.id, v_pay.review));
	END IF;

	SELECT * INTO a FROM fp_sql_review(v_pol.fair_score_bp, v_pol.low_score_bp,
					   v_pol.generous_bp, v_pol.late_penalty_bp,
					   v_pay.raw_fairness_bp, v_pay.review, v_pay.late, p_accept);
	UPDATE payments p
	SET fairness_bp = a.fairness_bp, verdict = a.verdict, review = a.review,
	    reviewed_at = now(), review_note = coalesce(p_note, '')
	WHERE p.vendor_id = p_vendor AND p.id = v_pay.id
	RETURNING * INTO v_pay;

	-- Rule 7: the payment's fairness changed in place, so only a replay is right.
	UPDATE reputations r
	SET score_bp = fp_recompute_score(p_vendor, v_customer), updated_at = now()
	WHERE r.vendor_id = p_vendor AND r.customer_id = v_customer
	RETURNING * INTO v_after;

	PERFORM fp_event_add(p_vendor, v_customer, 'PAYMENT_REVIEWED', v_pay.offer_id, v_pay.id,
			     format('%s: fairness %s, verdict %s', a.review, a.fairness_bp,
				    a.verdict));
	PERFORM fp_event_add(p_vendor, v_customer, 'REPUTATION_CHANGED', v_pay.offer_id,
			     v_pay.id, fp_reputation_detail(v_pol, v_rep, v_after));

	payment := fp_payment_out(v_pay);
	reputation := fp_reputation_out(v_pol, v_customer, v_after);
	RETURN NEXT;
END;
$$;

-- ---------------------------------------------------------------- the sweeper

-- Expire OPEN offers past expires_at, default ACCEPTED offers past pay_by and
-- drop expired idempotency records, at most p_limit of each per call. Several
-- servers may sweep at once: every lock is taken with SKIP LOCKED (a busy
-- customer or offer waits for the next round), so a sweeper never waits while
-- it holds the locks of earlier rows, and never deadlocks with a vendor call.
CREATE FUNCTION fp_sweep(p_limit int)
RETURNS TABLE(expired int, defaulted int, idempotency_removed int)
LANGUAGE plpgsql AS $$
DECLARE
	c record;
	o offers;
	v_pol policies;
	v_rep reputations;
	v_after reputations;
	v_at timestamptz;
BEGIN
	IF p_limit IS NULL OR p_limit < 1 THEN
		PERFORM fp_fail('FPARG', 'limit', 'the sweep limit must be >= 1');
	END IF;
	expired := 0;
	defaulted := 0;

	FOR c IN
		SELECT x.vendor_id, x.id, x.customer_id FROM offers x
		WHERE x.status = 'OPEN' AND x.expires_at < now()
		ORDER BY x.expires_at LIMIT p_limit
	LOOP
		CONTINUE WHEN NOT fp_try_lock_customer(c.vendor_id, c.customer_id);
		SELECT * INTO o FROM offers x
		WHERE x.vendor_id = c.vendor_id AND x.id = c.id
		  AND x.status = 'OPEN' AND x.expires_at < now()
		FOR UPDATE SKIP LOCKED;
		CONTINUE WHEN NOT FOUND;
		UPDATE offers x SET status = 'EXPIRED', closed_at = now()
		WHERE x.vendor_id = o.vendor_id AND x.id = o.id;
		PERFORM fp_event_add(o.vendor_id, o.customer_id, 'OFFER_EXPIRED', o.id, NULL, '');
		expired := expired + 1;
	END LOOP;

	FOR c IN
		SELECT x.vendor_id, x.id, x.customer_id FROM offers x
		WHERE x.status = 'ACCEPTED' AND x.pay_by < now()
		ORDER BY x.pay_by LIMIT p_limit
	LOOP
		-- Accepting made the row, so a customer without one is skipped.
		SELECT * INTO v_rep FROM reputations r
		WHERE r.vendor_id = c.vendor_id AND r.customer_id = c.customer_id
		FOR UPDATE SKIP LOCKED;
		CONTINUE WHEN NOT FOUND;
		SELECT * INTO o FROM offers x
		WHERE x.vendor_id = c.vendor_id AND x.id = c.id
		  AND x.status = 'ACCEPTED' AND x.pay_by < now()
		FOR UPDATE SKIP LOCKED;
		CONTINUE WHEN NOT FOUND;

		v_pol := fp_policy_of(o.vendor_id);
		v_at := clock_timestamp();
		UPDATE offers x SET status = 'DEFAULTED', closed_at = v_at
		WHERE x.vendor_id = o.vendor_id AND x.id = o.id;
		UPDATE reputations r
		SET defaults = r.defaults + 1, open_defaults = r.open_defaults + 1,
		    credit_used_minor = CASE WHEN fp_sql_mode_is_fairpay(o.mode)
			THEN greatest(0, r.credit_used_minor - o.suggested_price_minor)
			ELSE r.credit_used_minor END,
		    score_bp = fp_sql_score_step(r.score_bp, 0, v_pol.alpha_bp),
		    updated_at = now()
		WHERE r.vendor_id = o.vendor_id AND r.customer_id = o.customer_id
		RETURNING * INTO v_after;

		PERFORM fp_event_add(o.vendor_id, o.customer_id, 'OFFER_DEFAULTED', o.id, NULL,
				     format('unpaid, suggested %s', o.suggested_price_minor));
		PERFORM fp_event_add(o.vendor_id, o.customer_id, 'REPUTATION_CHANGED', o.id, NULL,
				     fp_reputation_detail(v_pol, v_rep, v_after));
		defaulted := defaulted + 1;
	END LOOP;

	WITH gone AS (
		DELETE FROM idempotency i
		WHERE (i.vendor_id, i.key) IN (
			SELECT j.vendor_id, j.key FROM idempotency j
			WHERE j.expires_at < now()
			ORDER BY j.expires_at LIMIT p_limit
			FOR UPDATE SKIP LOCKED)
		RETURNING 1)
	SELECT count(*)::int INTO idempotency_removed FROM gone;

	RETURN NEXT;
END;
$$;
