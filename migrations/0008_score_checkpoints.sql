-- 0008_score_checkpoints: rule 7's replay resumes at the cycle that changed.
--
-- A review (rule 5) changes a payment's fairness in place and a late payment
-- (rule 6) takes a default out of the history, so the score must be replayed
-- from that cycle on. Each closed cycle keeps the score the customer had
-- just before it (score_before_bp), so that the replay starts there instead
-- of at the prior: it reads and steps over the cycles from the changed one
-- on, not the whole history (docs/protocol-notes.md, "How a change is
-- made"). fairpayd writes these columns in the same guarded statement as
-- the reputation row, so they never disagree with it.
--
-- The checkpoints are a replay under one policy's prior_score_bp and
-- alpha_bp, recorded on the reputation row (checkpoints_prior_bp,
-- checkpoints_alpha_bp), and they hold for the cycles from
-- (checkpoints_from_at, checkpoints_from_id) on (NULL: from the first).
-- NULL prior and alpha, or a policy that has changed since, means none can
-- be trusted: the next review or late payment of that customer replays the
-- whole history, as before, and writes the checkpoints of its latest cycles
-- only (a bounded write), which then hold from the first of those on.
-- Rows from before this migration start that way.
ALTER TABLE payments ADD COLUMN score_before_bp integer NULL
	CHECK (score_before_bp BETWEEN 0 AND 20000);
ALTER TABLE offers ADD COLUMN score_before_bp integer NULL
	CHECK (score_before_bp BETWEEN 0 AND 20000);
ALTER TABLE reputations ADD COLUMN checkpoints_prior_bp integer NULL,
	ADD COLUMN checkpoints_alpha_bp integer NULL,
	ADD COLUMN checkpoints_from_at timestamptz NULL,
	ADD COLUMN checkpoints_from_id text NULL;

-- The replay reads a customer's defaults still open from a point in time on
-- (payments have payments_customer_idx).
CREATE INDEX offers_customer_defaults_idx ON offers (vendor_id, customer_id, closed_at)
	WHERE status = 'DEFAULTED';
