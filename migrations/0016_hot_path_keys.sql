-- 0016_hot_path_keys: what a cycle's rows cost the database to index and
-- check, cut to what a reader or a rule needs.
--
-- The sweeper's two indexes held every offer ever made, keyed by status
-- first, so that each of an offer's three row versions in a cycle (OPEN,
-- ACCEPTED, PAID) added an entry to both, and both grew with the closed
-- offers no sweep ever reads. Each sweep reads one state only: OPEN offers
-- by expires_at, ACCEPTED offers by pay_by (store_sql_expire and
-- store_sql_load_due_defaults, whose WHERE names the state as a constant,
-- which is what lets the planner use a partial index). Partial indexes hold
-- just those offers: a cycle adds two entries instead of six, and the
-- indexes stay the size of the offers still open or unpaid.
DROP INDEX offers_expiry_idx;
DROP INDEX offers_pay_by_idx;
CREATE INDEX offers_open_expiry_idx ON offers (expires_at) WHERE status = 'OPEN';
CREATE INDEX offers_accepted_pay_by_idx ON offers (pay_by) WHERE status = 'ACCEPTED';

-- Three foreign keys to vendors are checked on every row a cycle inserts
-- (an offer, a payment, four events), each a lookup of the vendor's row that
-- also locks it, so that every write transaction of every server updated
-- that one row's lock. None of them adds a guarantee:
-- * an offer's (vendor_id, sku) references products, whose vendor_id
--   references vendors;
-- * a payment's (vendor_id, offer_id) references offers;
-- * an event is written by the statement that writes the row it records
--   (an offer, a payment or a reputation, each tied to its vendor as above),
--   for the vendor of the caller, as its offer_id and payment_id already
--   are without a key of their own (0001). Vendors are never deleted.
ALTER TABLE offers DROP CONSTRAINT offers_vendor_id_fkey;
ALTER TABLE payments DROP CONSTRAINT payments_vendor_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_vendor_id_fkey;
