-- 0011_webhooks: webhook endpoints, the outbox of deliveries to make, and the
-- delivery log (PROTOCOL.md, "Events, webhooks and review queues").
--
-- The outbox is written by the same statement that appends the events
-- (server/store/store.c), so that an event is queued exactly when it
-- commits. fairpayd's delivery job (server/jobs/deliver.c) claims due rows
-- with FOR UPDATE SKIP LOCKED and a lease (next_attempt_at moved past the
-- attempt's timeout), so that several servers share the work without
-- delivering one row at the same moment; each attempt appends to
-- webhook_deliveries and moves or removes its outbox row in one statement.

CREATE TABLE webhook_endpoints (
	vendor_id  text NOT NULL REFERENCES vendors (id),
	id         text NOT NULL CHECK (id ~ '^we_[0-9a-f]{16}$'),
	-- At most 16 endpoints per vendor: each takes one of 16 slots, and the
	-- unique constraint below holds that however many servers insert.
	slot       smallint NOT NULL CHECK (slot BETWEEN 1 AND 16),
	url        text NOT NULL CHECK (octet_length(url) BETWEEN 1 AND 2048),
	-- Event kinds taken; empty = every kind.
	kinds      text[] NOT NULL DEFAULT '{}',
	-- The signing secret as shown to the vendor (whsec_ + base64 of 32
	-- bytes). The server needs it to sign, so it cannot be hashed; see the
	-- README ("Webhooks") for how it is kept.
	secret     text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (vendor_id, id),
	CONSTRAINT webhook_endpoints_slot_key UNIQUE (vendor_id, slot)
);

CREATE TABLE webhook_outbox (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	vendor_id       text NOT NULL,
	endpoint_id     text NOT NULL,
	event_id        bigint NOT NULL,
	-- Attempts started so far (a claim counts one).
	attempts        integer NOT NULL DEFAULT 0,
	-- When the row may next be claimed: due, backed off, or leased.
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	created_at      timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (vendor_id, endpoint_id) REFERENCES webhook_endpoints (vendor_id, id)
		ON DELETE CASCADE,
	FOREIGN KEY (vendor_id, event_id) REFERENCES events (vendor_id, id)
);
-- The claim: due rows per endpoint, oldest first.
CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (endpoint_id, next_attempt_at);
CREATE INDEX webhook_outbox_next_idx ON webhook_outbox (next_attempt_at);
CREATE INDEX webhook_outbox_event_idx ON webhook_outbox (vendor_id, event_id);

CREATE TABLE webhook_deliveries (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	vendor_id       text NOT NULL,
	endpoint_id     text NOT NULL,
	event_id        bigint NOT NULL,
	attempt         integer NOT NULL,
	http_status     integer NOT NULL DEFAULT 0,
	error           text NOT NULL DEFAULT '' CHECK (octet_length(error) <= 512),
	succeeded       boolean NOT NULL,
	at              timestamptz NOT NULL DEFAULT now(),
	next_attempt_at timestamptz NULL,
	FOREIGN KEY (vendor_id, endpoint_id) REFERENCES webhook_endpoints (vendor_id, id)
		ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (vendor_id, endpoint_id, id);

-- The server's role: endpoints are created and deleted, the outbox is
-- written, moved and emptied, the log is appended to (and emptied with its
-- endpoint).
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fairpay_app') THEN
		GRANT SELECT, INSERT, DELETE ON webhook_endpoints TO fairpay_app;
		GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_outbox TO fairpay_app;
		GRANT SELECT, INSERT, DELETE ON webhook_deliveries TO fairpay_app;
	END IF;
END;
$$;
