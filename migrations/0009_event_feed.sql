-- 0009_event_feed: what the vendor's event feed (ListEvents) reads.
--
-- The feed's horizon (server/store/feed.h) reads the last value of the
-- events' id sequence, which takes SELECT on the sequence, and asks which
-- vendors have events in a range of ids, which takes an index on id alone
-- (the primary key leads with vendor_id).

CREATE INDEX events_by_id ON events (id);

DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fairpay_app') THEN
		EXECUTE format('GRANT SELECT ON SEQUENCE %s TO fairpay_app',
			       pg_get_serial_sequence('events', 'id'));
	END IF;
END
$$;
