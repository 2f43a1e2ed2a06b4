-- 0013_attestations: signed reputation attestations and rule 14's seeding
-- (PROTOCOL.md, "Attestations" and rule 14).
--
-- Each vendor signs with its own Ed25519 key, made by fairpayd when first
-- needed. The private key is stored sealed (AES-256-GCM under the key file
-- given to fairpayd with --attestation-key-file, bound to the vendor id and
-- the key id), never in clear: a copy of the database alone signs nothing.
-- Public keys are kept after their key is retired, so that attestations
-- signed before a rotation keep verifying until they expire; a retired
-- key's sealed private half is erased.

CREATE TABLE attestation_keys (
	vendor_id   text NOT NULL REFERENCES vendors (id),
	key_id      text NOT NULL PRIMARY KEY CHECK (key_id ~ '^ak_[0-9a-f]{16}$'),
	public_key  bytea NOT NULL CHECK (octet_length(public_key) = 32),
	-- nonce (12) | ciphertext (32) | tag (16); NULL once retired.
	private_key_sealed bytea NULL CHECK (octet_length(private_key_sealed) = 60),
	created_at  timestamptz NOT NULL DEFAULT now(),
	retired_at  timestamptz NULL,
	CHECK (retired_at IS NOT NULL OR private_key_sealed IS NOT NULL)
);
-- One current (signing) key per vendor, however many servers create one at
-- once: the losers of the race read the winner's.
CREATE UNIQUE INDEX attestation_keys_current_idx ON attestation_keys (vendor_id)
	WHERE retired_at IS NULL;

-- Rule 14: the seeded part of a reputation. seed_score_bp is the score the
-- attestation seeded (NULL: never seeded), the start of every replay of
-- rule 7 for this customer; attested_payments counts towards rule 8's
-- probation; attested_by is the issuing vendor.
ALTER TABLE reputations
	ADD COLUMN attested_payments integer NOT NULL DEFAULT 0 CHECK (attested_payments >= 0),
	ADD COLUMN attested_by text NULL,
	ADD COLUMN seed_score_bp integer NULL CHECK (seed_score_bp BETWEEN 0 AND 15000);

ALTER TABLE policies
	ADD COLUMN attestation_cap_bp integer NOT NULL DEFAULT 0
		CHECK (attestation_cap_bp BETWEEN 0 AND 15000);

ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
	CHECK (kind IN ('OFFER_CREATED', 'OFFER_ACCEPTED', 'OFFER_DECLINED', 'OFFER_EXPIRED',
		'OFFER_DEFAULTED', 'PAYMENT_RECEIVED', 'PAYMENT_REVIEWED',
		'REPUTATION_CHANGED', 'REPUTATION_SEEDED')) NOT VALID;

-- The server's role: keys are created and retired (fairpayctl retires them
-- as the migrating role; the server may too).
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fairpay_app') THEN
		GRANT SELECT, INSERT, UPDATE ON attestation_keys TO fairpay_app;
	END IF;
END;
$$;
