-- 0015_vendor_keys: every unique key of a tenant table includes vendor_id.
--
-- 0001 promised a schema that can be distributed by vendor (Citus shards a
-- table by one column and enforces a primary key or unique constraint only
-- when it includes that column). Three tables broke the promise with a key
-- of their own identity or random id alone: the webhook outbox, the
-- delivery log and the attestation keys. Their keys now lead with vendor_id
-- like every other tenant table's; the ids stay unique where they are made
-- (one identity sequence, 64 random bits), the constraint just no longer
-- has to be global. scripts/check-distribution.sh (make lint) checks the
-- whole catalog for this, and scripts/distribution.allow names the tables
-- that are global on purpose.

ALTER TABLE webhook_outbox DROP CONSTRAINT webhook_outbox_pkey,
	ADD PRIMARY KEY (vendor_id, id);
-- The oldest-row gauge (outbox_sql_oldest_age_ms) reads the outbox in id
-- order across vendors; the primary key no longer serves that order.
CREATE INDEX webhook_outbox_id_idx ON webhook_outbox (id);

ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_pkey,
	ADD PRIMARY KEY (vendor_id, id);

-- A key is looked up by its issuer and its id (the claims name both), so
-- the primary key serves VerifyAttestation as before.
ALTER TABLE attestation_keys DROP CONSTRAINT attestation_keys_pkey,
	ADD PRIMARY KEY (vendor_id, key_id);
