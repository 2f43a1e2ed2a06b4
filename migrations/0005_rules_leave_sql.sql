-- 0005_rules_leave_sql: the FairPay rules live in C alone.
--
-- fairpayd now reads what a call depends on, decides with its rules library
-- (server/fp_rules.c) and writes the change with one guarded statement
-- (server/store.c). PostgreSQL keeps the tables, keys, constraints and
-- indexes; the business-logic functions of 0002 and their row types go.
--
-- Every customer with an offer now has a reputations row (CreateOffer makes
-- it): the sweeper and the writers lock that row. Rows are made here for
-- customers whose offers predate this migration, at the prior score of
-- their vendor's policy, before the function that knows the defaults goes.
INSERT INTO reputations (vendor_id, customer_id, score_bp)
SELECT DISTINCT o.vendor_id, o.customer_id,
       (SELECT d.prior_score_bp FROM fp_policy_of(o.vendor_id) d)
FROM offers o
WHERE NOT EXISTS (SELECT 1 FROM reputations r
		  WHERE r.vendor_id = o.vendor_id AND r.customer_id = o.customer_id)
ON CONFLICT DO NOTHING;

DO $drop$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure FROM pg_proc p
		WHERE p.pronamespace = current_schema()::regnamespace
		  AND p.proname LIKE 'fp\_%'
	LOOP
		EXECUTE format('DROP FUNCTION %s', f);
	END LOOP;
END;
$drop$;

DROP TYPE fp_offer_t;
DROP TYPE fp_payment_t;
DROP TYPE fp_reputation_t;
