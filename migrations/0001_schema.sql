-- 0001_schema: the whole first schema of fairpay.
--
-- `fairpayctl db migrate` runs this file inside one transaction and records it
-- in schema_migrations; the file itself therefore has no BEGIN/COMMIT. Applied
-- files are never edited: later changes go into new numbered files.
--
-- Conventions, so that every query of the server can rely on them:
-- * Every tenant table is keyed by vendor_id first (primary keys, foreign keys
--   and hot indexes), so that a query always names its tenant and the schema
--   can later be distributed by vendor (Citus needs the distribution column in
--   every unique constraint).
-- * Money is bigint minor units, scores and ratios are integer basis points:
--   the rules are exact integer arithmetic, never floating point.
-- * Enumerations are stored as text holding the PROTOCOL.md name without the
--   protobuf prefix ('OPEN', not 'OFFER_STATUS_OPEN'), checked by CHECK ... IN,
--   so that rows stay readable with psql and adding a value is a one-line
--   migration instead of an ALTER TYPE.
-- * The CHECK constraints repeat the server's input validation. The server
--   answers INVALID_ARGUMENT before it gets here; a violation here is a bug,
--   and it must fail loudly rather than store a row the rules cannot handle.

-- ---------------------------------------------------------------- tenants and keys

CREATE TABLE vendors (
	id         text PRIMARY KEY CHECK (id ~ '^v_[0-9a-f]{16}$'),
	name       text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 200),
	created_at timestamptz NOT NULL DEFAULT now()
);

-- Only a hash of the secret is kept (see server/key.h); the key id is public
-- and is the lookup key at Authenticate. An ADMIN key may have no vendor.
CREATE TABLE api_keys (
	id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
	vendor_id   text NULL REFERENCES vendors (id),
	role        text NOT NULL CHECK (role IN ('ADMIN', 'VENDOR')),
	secret_hash text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
	cert_sha256 text NULL UNIQUE,
	created_at  timestamptz NOT NULL DEFAULT now(),
	revoked_at  timestamptz NULL,
	CHECK (role = 'ADMIN' OR vendor_id IS NOT NULL)
);

-- The server polls for revocations it has not yet seen; revoked keys are few,
-- so a partial index keeps that poll cheap however many keys exist.
CREATE INDEX api_keys_revoked_idx ON api_keys (revoked_at) WHERE revoked_at IS NOT NULL;
-- Backs the foreign key (and listing a vendor's keys) without a sequential scan.
CREATE INDEX api_keys_vendor_idx ON api_keys (vendor_id) WHERE vendor_id IS NOT NULL;

-- ---------------------------------------------------------------- catalogue and policy

CREATE TABLE products (
	vendor_id             text NOT NULL REFERENCES vendors (id),
	sku                   text NOT NULL CHECK (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
	name                  text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 200),
	currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	suggested_price_minor bigint NOT NULL CHECK (suggested_price_minor >= 0),
	unit_price_minor      bigint NOT NULL DEFAULT 0 CHECK (unit_price_minor >= 0),
	list_price_minor      bigint NOT NULL CHECK (list_price_minor >= 0),
	minimum_price_minor   bigint NOT NULL DEFAULT 0 CHECK (minimum_price_minor >= 0),
	min_tier              text NOT NULL DEFAULT 'PROBATION'
		CHECK (min_tier IN ('FIXED_PRICE', 'RESTRICTED', 'PROBATION', 'STANDARD', 'TRUSTED')),
	period_days           integer NOT NULL DEFAULT 0 CHECK (period_days >= 0),
	-- Bumped by every PutProduct that changes the row; starts at 1.
	version               bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
	created_at            timestamptz NOT NULL DEFAULT now(),
	updated_at            timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (vendor_id, sku)
);

-- One row per vendor, created by the first PutPolicy. A vendor without a row
-- has exactly the column defaults below, which are the PROTOCOL.md defaults:
-- the server may read them from here (INSERT ... DEFAULT VALUES semantics)
-- rather than keep a second copy that could drift. Full values are stored, not
-- NULL-for-default, so a later change of a default never changes the terms of
-- a vendor who already has a policy.
CREATE TABLE policies (
	vendor_id              text PRIMARY KEY REFERENCES vendors (id),
	enforcement            text NOT NULL DEFAULT 'ENFORCE'
		CHECK (enforcement IN ('ENFORCE', 'VOLUNTARY')),
	-- A score never exceeds 15000 (rule 7 caps each cycle there), so neither
	-- may the score a customer starts from.
	prior_score_bp         integer NOT NULL DEFAULT 8000
		CHECK (prior_score_bp BETWEEN 0 AND 15000),
	alpha_bp               integer NOT NULL DEFAULT 3000 CHECK (alpha_bp BETWEEN 1 AND 10000),
	probation_payments     integer NOT NULL DEFAULT 3
		CHECK (probation_payments BETWEEN 0 AND 1000),
	trusted_score_bp       integer NOT NULL DEFAULT 9000
		CHECK (trusted_score_bp BETWEEN 0 AND 20000),
	fair_score_bp          integer NOT NULL DEFAULT 8000 CHECK (fair_score_bp BETWEEN 0 AND 20000),
	low_score_bp           integer NOT NULL DEFAULT 5000 CHECK (low_score_bp BETWEEN 0 AND 20000),
	generous_bp            integer NOT NULL DEFAULT 11000 CHECK (generous_bp BETWEEN 0 AND 20000),
	max_open_defaults      integer NOT NULL DEFAULT 2 CHECK (max_open_defaults BETWEEN 0 AND 1000),
	restricted_minimum_bp  integer NOT NULL DEFAULT 5000
		CHECK (restricted_minimum_bp BETWEEN 0 AND 10000),
	probation_credit_minor bigint NOT NULL DEFAULT 2000 CHECK (probation_credit_minor >= 0),
	standard_credit_minor  bigint NOT NULL DEFAULT 10000 CHECK (standard_credit_minor >= 0),
	trusted_credit_minor   bigint NOT NULL DEFAULT 50000 CHECK (trusted_credit_minor >= 0),
	excusing_reasons       text[] NOT NULL
		DEFAULT ARRAY['DID_NOT_USE', 'TECHNICAL_PROBLEM', 'NOT_AS_DESCRIBED']::text[]
		CHECK (excusing_reasons <@ ARRAY['DID_NOT_USE', 'POOR_QUALITY', 'NOT_AS_DESCRIBED',
			'TECHNICAL_PROBLEM', 'CANNOT_AFFORD', 'GREAT_VALUE', 'OTHER']::text[]),
	excused_floor_bp       integer NOT NULL DEFAULT 8000
		CHECK (excused_floor_bp BETWEEN 0 AND 10000),
	-- At most 100%: a late payment loses at most one full payment's worth.
	late_penalty_bp        integer NOT NULL DEFAULT 2000
		CHECK (late_penalty_bp BETWEEN 0 AND 10000),
	-- At most 100 years of 365 days (FP_MAX_SECONDS), so that now + ttl in
	-- milliseconds cannot overflow int64.
	offer_ttl_seconds      bigint NOT NULL DEFAULT 86400
		CHECK (offer_ttl_seconds BETWEEN 1 AND 3153600000),
	payment_window_seconds bigint NOT NULL DEFAULT 1209600
		CHECK (payment_window_seconds BETWEEN 1 AND 3153600000),
	-- A vendor without a row reports version 0; each PutPolicy bumps it.
	version                bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
	updated_at             timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT policies_thresholds_ordered
		CHECK (low_score_bp <= fair_score_bp AND fair_score_bp <= trusted_score_bp
		       AND generous_bp >= fair_score_bp)
);

-- ---------------------------------------------------------------- customers

-- The running state of one customer at one vendor. It is a summary that
-- `recompute` can rebuild from offers, payments and the event ledger; it is
-- kept so that CreateOffer reads one row. Writers lock it (SELECT ... FOR
-- UPDATE or an atomic UPDATE) so that two servers on one database serialise
-- their changes to one customer. A customer without a row has the prior
-- reputation. Tier and credit limit are not stored: they follow from these
-- counters and the vendor's current policy.
CREATE TABLE reputations (
	vendor_id             text NOT NULL REFERENCES vendors (id),
	customer_id           text NOT NULL CHECK (octet_length(customer_id) BETWEEN 1 AND 128),
	score_bp              integer NOT NULL CHECK (score_bp BETWEEN 0 AND 20000),
	payments              integer NOT NULL DEFAULT 0 CHECK (payments >= 0),
	defaults              integer NOT NULL DEFAULT 0 CHECK (defaults >= 0),
	open_defaults         integer NOT NULL DEFAULT 0
		CHECK (open_defaults >= 0 AND open_defaults <= defaults),
	offers_accepted       integer NOT NULL DEFAULT 0 CHECK (offers_accepted >= 0),
	total_paid_minor      bigint NOT NULL DEFAULT 0 CHECK (total_paid_minor >= 0),
	total_suggested_minor bigint NOT NULL DEFAULT 0 CHECK (total_suggested_minor >= 0),
	-- SP sum of the customer's ACCEPTED FairPay offers (rule 9), kept here so
	-- that the credit check does not scan offers on the hot path.
	credit_used_minor     bigint NOT NULL DEFAULT 0 CHECK (credit_used_minor >= 0),
	updated_at            timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (vendor_id, customer_id)
);

-- ---------------------------------------------------------------- the cycle

CREATE TABLE offers (
	vendor_id             text NOT NULL REFERENCES vendors (id),
	id                    text NOT NULL CHECK (id ~ '^o_[0-9a-f]{16}$'),
	customer_id           text NOT NULL CHECK (octet_length(customer_id) BETWEEN 1 AND 128),
	sku                   text NOT NULL,
	status                text NOT NULL DEFAULT 'OPEN'
		CHECK (status IN ('OPEN', 'ACCEPTED', 'PAID', 'DECLINED', 'EXPIRED', 'DEFAULTED')),
	mode                  text NOT NULL
		CHECK (mode IN ('FAIRPAY', 'FAIRPAY_MINIMUM', 'SET_PRICE')),
	-- Copied from the product at offer time: a later PutProduct must not
	-- change the terms of an offer already made.
	currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	suggested_price_minor bigint NOT NULL CHECK (suggested_price_minor >= 0),
	unit_price_minor      bigint NOT NULL DEFAULT 0 CHECK (unit_price_minor >= 0),
	minimum_price_minor   bigint NOT NULL DEFAULT 0 CHECK (minimum_price_minor >= 0),
	set_price_minor       bigint NOT NULL DEFAULT 0 CHECK (set_price_minor >= 0),
	tier                  text NOT NULL
		CHECK (tier IN ('FIXED_PRICE', 'RESTRICTED', 'PROBATION', 'STANDARD', 'TRUSTED')),
	credit_limit_minor    bigint NOT NULL DEFAULT 0 CHECK (credit_limit_minor >= 0),
	credit_used_minor     bigint NOT NULL DEFAULT 0 CHECK (credit_used_minor >= 0),
	reasons               text[] NOT NULL DEFAULT '{}'
		CHECK (reasons <@ ARRAY['PROBATION', 'CREDIT_LIMIT', 'LOW_SCORE', 'OPEN_DEFAULTS',
			'TIER_REQUIRED', 'PRODUCT_MINIMUM', 'VENDOR_OVERRIDE', 'VOLUNTARY_MODE']::text[]),
	created_at            timestamptz NOT NULL DEFAULT now(),
	expires_at            timestamptz NOT NULL,
	pay_by                timestamptz NULL,           -- set by AcceptOffer
	period_index          integer NOT NULL DEFAULT 0 CHECK (period_index >= 0),
	previous_offer_id     text NULL,
	accepted_at           timestamptz NULL,
	-- When the offer left OPEN/ACCEPTED (paid, declined, expired, defaulted);
	-- a default's time is its place in the score history (rule 7).
	closed_at             timestamptz NULL,
	PRIMARY KEY (vendor_id, id),
	FOREIGN KEY (vendor_id, sku) REFERENCES products (vendor_id, sku),
	FOREIGN KEY (vendor_id, previous_offer_id) REFERENCES offers (vendor_id, id),
	CONSTRAINT offers_expires_after_created CHECK (expires_at >= created_at),
	-- The sweeper defaults ACCEPTED offers by pay_by; one without it would
	-- never default.
	CONSTRAINT offers_accepted_has_pay_by
		CHECK (status <> 'ACCEPTED' OR (accepted_at IS NOT NULL AND pay_by IS NOT NULL))
);

-- Rule 9 and the "my offers" views: a customer's offers by state.
CREATE INDEX offers_customer_idx ON offers (vendor_id, customer_id, status);
-- The sweeper's two scans across all vendors: OPEN offers past expires_at and
-- ACCEPTED offers past pay_by, oldest first.
CREATE INDEX offers_expiry_idx ON offers (status, expires_at);
CREATE INDEX offers_pay_by_idx ON offers (status, pay_by);
-- A recurring cycle has exactly one successor, even if a payment is retried.
CREATE UNIQUE INDEX offers_previous_idx ON offers (vendor_id, previous_offer_id)
	WHERE previous_offer_id IS NOT NULL;

CREATE TABLE payments (
	vendor_id             text NOT NULL REFERENCES vendors (id),
	id                    text NOT NULL CHECK (id ~ '^p_[0-9a-f]{16}$'),
	offer_id              text NOT NULL,
	customer_id           text NOT NULL CHECK (octet_length(customer_id) BETWEEN 1 AND 128),
	amount_minor          bigint NOT NULL CHECK (amount_minor >= 0),
	currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	suggested_price_minor bigint NOT NULL CHECK (suggested_price_minor >= 0),
	usage_units           bigint NOT NULL DEFAULT 0 CHECK (usage_units >= 0),
	reasons               text[] NOT NULL DEFAULT '{}'
		CHECK (reasons <@ ARRAY['DID_NOT_USE', 'POOR_QUALITY', 'NOT_AS_DESCRIBED',
			'TECHNICAL_PROBLEM', 'CANNOT_AFFORD', 'GREAT_VALUE', 'OTHER']::text[]),
	note                  text NOT NULL DEFAULT '' CHECK (octet_length(note) <= 1000),
	fairness_bp           integer NOT NULL CHECK (fairness_bp BETWEEN 0 AND 20000),
	raw_fairness_bp       integer NOT NULL CHECK (raw_fairness_bp BETWEEN 0 AND 20000),
	verdict               text NOT NULL CHECK (verdict IN ('GENEROUS', 'FAIR', 'LOW', 'UNFAIR')),
	review                text NOT NULL DEFAULT 'NOT_NEEDED'
		CHECK (review IN ('NOT_NEEDED', 'PENDING', 'ACCEPTED', 'REJECTED')),
	late                  boolean NOT NULL DEFAULT false,
	created_at            timestamptz NOT NULL DEFAULT now(),
	-- Set by ReviewPayment, with the reviewer's note.
	reviewed_at           timestamptz NULL,
	review_note           text NULL CHECK (octet_length(review_note) <= 1000),
	PRIMARY KEY (vendor_id, id),
	-- The last line of defence against a double payment: even two servers
	-- racing on one offer cannot both record one.
	UNIQUE (vendor_id, offer_id),
	FOREIGN KEY (vendor_id, offer_id) REFERENCES offers (vendor_id, id)
);

-- Recomputing a score replays a customer's payments in time order (rule 7).
CREATE INDEX payments_customer_idx ON payments (vendor_id, customer_id, created_at);

-- ---------------------------------------------------------------- ledger

-- Append-only record of every change (rule 13), the input of the reputation
-- audit. id comes from one identity sequence, so it only grows; note that ids
-- are taken at INSERT and transactions may commit out of id order, which is
-- why writers for one customer serialise on that customer's reputation row.
-- The primary key leads with vendor_id like every tenant table. offer_id and
-- payment_id carry no foreign keys: events are written only by the cycle
-- functions, in the transaction that writes the row they describe, and a
-- check per event would cost a lookup on the hottest path for nothing.
CREATE TABLE events (
	id          bigint GENERATED ALWAYS AS IDENTITY,
	vendor_id   text NOT NULL REFERENCES vendors (id),
	customer_id text NOT NULL CHECK (octet_length(customer_id) BETWEEN 1 AND 128),
	offer_id    text NULL,
	payment_id  text NULL,
	kind        text NOT NULL
		CHECK (kind IN ('OFFER_CREATED', 'OFFER_ACCEPTED', 'OFFER_DECLINED', 'OFFER_EXPIRED',
			'OFFER_DEFAULTED', 'PAYMENT_RECEIVED', 'PAYMENT_REVIEWED',
			'REPUTATION_CHANGED')),
	-- Returned verbatim as Event.detail; text rather than jsonb so that what
	-- was written is exactly what is read back (jsonb reorders keys).
	detail      text NOT NULL DEFAULT '' CHECK (octet_length(detail) <= 8192),
	at          timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (vendor_id, id)
);

-- ListCustomerEvents pages by (customer, id > after_id).
CREATE INDEX events_customer_idx ON events (vendor_id, customer_id, id);

-- A ledger that can be edited is not a ledger: refuse every change to an
-- existing row at the database, whoever asks. (A superuser can still disable
-- the trigger; that is a deliberate act, not an accident.)
CREATE FUNCTION events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'events are append-only: % refused', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_no_update_delete
	BEFORE UPDATE OR DELETE ON events
	FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- Row triggers do not fire for TRUNCATE.
CREATE TRIGGER events_no_truncate
	BEFORE TRUNCATE ON events
	FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- ---------------------------------------------------------------- idempotency

-- One record per Request.idempotency_key, scoped to the caller's vendor. Keys
-- of ADMIN connections without a vendor use vendor_id = '' (the empty string
-- rather than NULL, so that the plain primary key covers both scopes and no
-- second unique index is needed); for that reason vendor_id has no foreign
-- key. request_hash is a digest of the call and its fields, to tell a replay
-- from a reuse of the key for something else. response is the serialized
-- Response, returned again with replayed = true. Rows past expires_at
-- (24 hours) are deleted by the sweeper.
CREATE TABLE idempotency (
	vendor_id    text NOT NULL CHECK (vendor_id = '' OR vendor_id ~ '^v_[0-9a-f]{16}$'),
	key          text NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 255),
	call         text NOT NULL CHECK (octet_length(call) BETWEEN 1 AND 64),
	request_hash text NOT NULL CHECK (octet_length(request_hash) BETWEEN 1 AND 128),
	state        text NOT NULL DEFAULT 'IN_FLIGHT' CHECK (state IN ('IN_FLIGHT', 'DONE')),
	response     bytea NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz NOT NULL DEFAULT now() + interval '24 hours',
	PRIMARY KEY (vendor_id, key),
	CONSTRAINT idempotency_done_has_response CHECK (state <> 'DONE' OR response IS NOT NULL)
);

CREATE INDEX idempotency_expiry_idx ON idempotency (expires_at);
