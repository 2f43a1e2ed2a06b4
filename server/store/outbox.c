/* Webhook endpoints, the outbox and the delivery log (see outbox.h). */
#include "outbox.h"

#define MS(x) "(extract(epoch FROM " x ") * 1000)::bigint"

const char outbox_sql_oldest_age_ms[] =
	"SELECT COALESCE((SELECT " MS("clock_timestamp() - created_at") " FROM webhook_outbox"
									" ORDER BY id LIMIT 1), 0)";

const char outbox_sql_create_endpoint[] =
	"WITH s AS (SELECT n FROM generate_series(1, 16) n WHERE n NOT IN"
	"  (SELECT slot FROM webhook_endpoints WHERE vendor_id = $1) ORDER BY n LIMIT 1),"
	" w AS (INSERT INTO webhook_endpoints (vendor_id, id, slot, url, kinds, secret, created_at)"
	"  SELECT $1, $2, s.n, $3, $4::text[], $5, $6::timestamptz FROM s RETURNING slot),"
	" idem AS (INSERT INTO idempotency (vendor_id, key, call, request_hash, state, response)"
	"  SELECT $7, $8, $9, $10, 'DONE', $11::bytea"
	"  WHERE $8::text IS NOT NULL AND EXISTS (SELECT 1 FROM w))"
	" SELECT slot FROM w";

const char outbox_sql_list_endpoints[] = "SELECT id, url, array_to_string(kinds, ','), " MS(
	"created_at") " FROM webhook_endpoints WHERE vendor_id = $1 ORDER BY created_at, id";

const char outbox_sql_delete_endpoint[] =
	"WITH w AS (DELETE FROM webhook_endpoints WHERE vendor_id = $1 AND id = $2 RETURNING id),"
	" idem AS (INSERT INTO idempotency (vendor_id, key, call, request_hash, state, response)"
	"  SELECT $3, $4, $5, $6, 'DONE', $7::bytea WHERE $4::text IS NOT NULL"
	"  AND EXISTS (SELECT 1 FROM w))"
	" SELECT id FROM w";

const char outbox_sql_list_deliveries[] =
	"SELECT d.id, d.event_id, d.attempt, d.http_status, d.error, d.succeeded, " MS(
		"d.at") ", " MS("d.next_attempt_at") " FROM webhook_endpoints w LEFT JOIN LATERAL "
						     "(SELECT * FROM webhook_deliveries x"
						     "  WHERE x.vendor_id = w.vendor_id AND "
						     "x.endpoint_id = w.id AND x.id > $3::bigint"
						     "  ORDER BY x.id LIMIT $4::bigint) d ON true"
						     " WHERE w.vendor_id = $1 AND w.id = $2 ORDER "
						     "BY d.id";

const char outbox_sql_claim[] =
	"WITH busy AS (SELECT * FROM unnest($2::text[], $3::int[]) AS b (id, n)),"
	/* Endpoints in random order: when the total bound cuts the claim
	 * short, no endpoint is always the one left out. */
	" c AS (SELECT o.vendor_id, o.id FROM (SELECT id, vendor_id FROM webhook_endpoints"
	"  ORDER BY random()) w"
	"  LEFT JOIN busy ON busy.id = w.id"
	"  CROSS JOIN LATERAL (SELECT x.vendor_id, x.id FROM webhook_outbox x"
	"  WHERE x.endpoint_id = w.id"
	"  AND x.vendor_id = w.vendor_id AND x.next_attempt_at <= now()"
	"  ORDER BY x.next_attempt_at LIMIT greatest($1::int - coalesce(busy.n, 0), 0)"
	"  FOR UPDATE OF x SKIP LOCKED) o"
	"  WHERE EXISTS (SELECT 1 FROM webhook_outbox y WHERE y.next_attempt_at <= now())"
	"  LIMIT $4::int),"
	" u AS (UPDATE webhook_outbox o SET attempts = o.attempts + 1,"
	"  next_attempt_at = now() + $5::bigint * interval '1 millisecond'"
	"  FROM c WHERE o.vendor_id = c.vendor_id AND o.id = c.id"
	"  RETURNING o.id, o.vendor_id, o.endpoint_id, o.attempts, o.created_at, o.event_id)"
	" SELECT u.id, u.vendor_id, u.endpoint_id, u.attempts, " MS(
		"u.created_at") ","
				" w.url, w.secret, e.id, e.kind, e.customer_id, "
				"coalesce(e.offer_id, ''),"
				" coalesce(e.payment_id, ''), e.detail, " MS(
					"e.at") " FROM u JOIN webhook_endpoints w ON w.vendor_id = "
						"u.vendor_id AND w.id = u.endpoint_id"
						" JOIN events e ON e.vendor_id = u.vendor_id AND "
						"e.id = u.event_id";

const char outbox_sql_record[] =
	"WITH o AS (SELECT id, vendor_id, endpoint_id, event_id FROM webhook_outbox"
	"  WHERE vendor_id = $1 AND id = $2::bigint),"
	" d AS (INSERT INTO webhook_deliveries (vendor_id, endpoint_id, event_id, attempt,"
	"  http_status, error, succeeded, next_attempt_at)"
	"  SELECT o.vendor_id, o.endpoint_id, o.event_id, $3::int, $4::int, $5, $6::boolean,"
	"  to_timestamp($7::bigint / 1000.0) FROM o RETURNING id),"
	" gone AS (DELETE FROM webhook_outbox x WHERE x.vendor_id = $1 AND x.id = $2::bigint"
	"  AND $7::bigint IS NULL),"
	" moved AS (UPDATE webhook_outbox x SET next_attempt_at = to_timestamp($7::bigint / 1000.0)"
	"  WHERE x.vendor_id = $1 AND x.id = $2::bigint AND $7::bigint IS NOT NULL)"
	" SELECT id FROM d";
