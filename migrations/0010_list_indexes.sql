-- 0010_list_indexes: the indexes of ListOffers and ListPayments.
--
-- Both calls page through one vendor's rows newest first, ordered by
-- (created_at, id) descending, with an optional filter on the status (offers)
-- or the review (payments) and on the customer. The vendor's whole list and
-- each state filter have an index whose leading columns are the vendor and
-- the filter's column and whose last columns are (created_at, id): a page is
-- then a backward index scan from the page token's position that stops after
-- `limit` rows, never a sort of the vendor's rows, however many there are.
-- A customer filter uses the customer's index, and a customer and state
-- filter the same index with the state checked on each row: the scan is
-- bounded by that one customer's rows. (A compound index for the pair would
-- cost every offer update and every payment one more index entry, on the
-- cycle's hot path, for a list that is short anyway.)
-- id is compared bytewise (COLLATE "C"), as everywhere else in the schema, so
-- that the order does not depend on the database's collation.
--
-- Two older indexes are prefixes, or nearly, of new ones and go:
-- offers_customer_idx (vendor_id, customer_id, status) and
-- payments_customer_idx (vendor_id, customer_id, created_at). Their readers
-- (a customer's defaults and latest payments) use the customer indexes below.

CREATE INDEX offers_list_idx ON offers (vendor_id, created_at, id COLLATE "C");
CREATE INDEX offers_list_status_idx ON offers (vendor_id, status, created_at, id COLLATE "C");
CREATE INDEX offers_list_customer_idx
	ON offers (vendor_id, customer_id, created_at, id COLLATE "C");
DROP INDEX offers_customer_idx;

CREATE INDEX payments_list_idx ON payments (vendor_id, created_at, id COLLATE "C");
CREATE INDEX payments_list_review_idx
	ON payments (vendor_id, review, created_at, id COLLATE "C");
CREATE INDEX payments_list_customer_idx
	ON payments (vendor_id, customer_id, created_at, id COLLATE "C");
DROP INDEX payments_customer_idx;
