-- 0003_app_role: the database role fairpayd works as, with only what it needs.
--
-- fairpayd logs in as whatever its --db conninfo names (often the owner of the
-- tables, the role that ran the migrations) and then sets `role` to --db-role
-- (default fairpay_app) on every session. Whatever it does after that is
-- checked against the grants below, so a bug or an injected statement in the
-- server cannot alter the schema, and cannot rewrite or erase the ledger.
--
-- fairpay_app is NOLOGIN: nobody connects as it, a session only becomes it
-- with SET ROLE, which needs membership; the migrating role is made a member
-- so that a server logging in as that role can switch.
--
-- Roles belong to the cluster, not to one database: the role may exist
-- already (another database of the cluster, or an operator made it), so
-- every step here tolerates that, and the file applies to any number of
-- databases of one cluster.
--
-- The migrator may lack CREATEROLE (a managed database's owner, say). Then
-- the migration still applies, without the role, and says in a WARNING how
-- an operator creates it and grants it afterwards with
-- fairpay_grant_app_role() (until then run fairpayd with --db-role ''). A
-- WARNING rather than a NOTICE: `fairpayctl db migrate` sets
-- client_min_messages to warning, and this one must reach the operator. The grants live in that
-- function for this reason, and so that a deployment using another role name
-- can grant that one: SELECT fairpay_grant_app_role('my_role').
--
-- Row-level security is not used: the server scopes every query by
-- vendor_id itself (and the tests check that), and RLS keyed by a session
-- setting would only help if that setting could not be changed by the very
-- session it is meant to restrain.

-- Grant p_role what fairpayd needs on this schema, and nothing on the ledger
-- beyond reading and appending. Idempotent. Later migrations that add tables
-- or functions the server uses must grant them too (or replace this function
-- and call it again).
CREATE FUNCTION fairpay_grant_app_role(p_role text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_schema text := current_schema();
	v_fn regprocedure;
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', v_schema, p_role);
	EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON vendors, api_keys, products, '
		       'policies, reputations, offers, payments, idempotency TO %I', p_role);
	-- The ledger: read and append only. The events_append_only trigger of
	-- 0001 refuses UPDATE, DELETE and TRUNCATE whoever asks; missing
	-- privileges stop them a step earlier, at the permission check, and
	-- still hold if the trigger is ever dropped or disabled. The REVOKE
	-- makes a re-run undo a grant someone added by hand.
	EXECUTE format('GRANT SELECT, INSERT ON events TO %I', p_role);
	EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON events FROM %I', p_role);
	-- Identity columns draw from their sequences without a privilege check,
	-- but a later serial column would not.
	EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO %I', v_schema, p_role);
	-- Functions are executable by PUBLIC by default; granting them by name
	-- keeps the server working if a hardened database revokes that.
	FOR v_fn IN
		SELECT p.oid::regprocedure FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = v_schema AND p.proname LIKE 'fp\_%'
		ORDER BY 1
	LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', v_fn, p_role);
	END LOOP;
END;
$$;

-- Only the owner grants; the server has no use for this function.
REVOKE EXECUTE ON FUNCTION fairpay_grant_app_role(text) FROM PUBLIC;

-- Nobody gets to edit the ledger through PUBLIC either (a table grants
-- PUBLIC nothing by default; this undoes a grant added by hand).
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;

DO $$
DECLARE
	v_hint text := format('as a role with CREATEROLE run: CREATE ROLE fairpay_app NOLOGIN; '
			      'GRANT fairpay_app TO %I; then, as %I in this database: '
			      'SELECT fairpay_grant_app_role(''fairpay_app''); until then run '
			      'fairpayd with --db-role ''''', current_user, current_user);
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fairpay_app') THEN
		BEGIN
			CREATE ROLE fairpay_app NOLOGIN;
		EXCEPTION
			WHEN insufficient_privilege THEN
				RAISE WARNING 'role fairpay_app not created (% may not create '
					      'roles); %', current_user, v_hint;
				RETURN;
			-- A migration of another database of the cluster created
			-- it at the same moment.
			WHEN duplicate_object OR unique_violation THEN
				NULL;
		END;
	END IF;

	-- SET ROLE needs membership (a superuser has no need, and it does no
	-- harm). Being a member already only raises a NOTICE.
	BEGIN
		EXECUTE format('GRANT fairpay_app TO %I', current_user);
	EXCEPTION
		WHEN insufficient_privilege THEN
			RAISE WARNING 'role fairpay_app exists but % cannot be made a member of '
				      'it (no CREATEROLE or ADMIN OPTION); as a role that can, run: '
				      'GRANT fairpay_app TO %', current_user, quote_ident(current_user);
		WHEN unique_violation THEN
			NULL; -- granted concurrently by another database's migration
	END;

	PERFORM fairpay_grant_app_role('fairpay_app');
END;
$$;
