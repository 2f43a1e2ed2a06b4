/* libFuzzer target: one decoded Request through dispatch_request().
 *
 * The first byte of the input sets the scene, the rest is the Request as it
 * would arrive in a frame:
 *   bits 0-1  the connection's role: 1 ADMIN, 2 VENDOR, 0 and 3 none
 *   bit 2     the database answers later (db_stub DEFER) instead of refusing
 *   bit 3     two authentication failures already (the next one closes)
 * The connection is CLOSED with a large reference count, so a reply is
 * built and dropped and the connection is never freed: the envelope, the
 * role gate and every handler's validation run with no socket and no
 * database. After each input every call must have ended exactly once: the
 * connection's reference and in-flight counts are back where they were and
 * no query is left. A request with a bad string field (wirestr.h) must be
 * refused before any query, and no query may carry a parameter that is not
 * UTF-8 (db_stub.c). LeakSanitizer checks that the call freed everything. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db_stub.h"
#include "dispatch.h"
#include "fairpay.pb-c.h"
#include "feed.h"
#include "log.h"
#include "metrics.h"
#include "rpc.h"
#include "server.h"
#include "wirestr.h"

#define CTL_ROLE_MASK 0x03u
#define CTL_DEFER 0x04u
#define CTL_TWO_FAILURES 0x08u

/* Far from 0 and from wrapping: a missing or extra unref shows as a
 * difference, never as a free of a connection that is not on the heap. */
#define FUZZ_REFS 1000000u
#define FUZZ_INFLIGHT 1000u

static fp_config fuzz_cfg;
static srv fuzz_srv;
static conn fuzz_conn;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Logs cost more than a call; FP_FUZZ_LOG=debug shows them. */
	log_level level = LOG_ERROR;
	const char *want = getenv("FP_FUZZ_LOG");
	if (want != NULL && log_parse_level(want, &level) != 0)
		level = LOG_ERROR;
	log_set_level(level);
	cfg_defaults(&fuzz_cfg);
	fuzz_srv.cfg = &fuzz_cfg;
	/* The limit counters live with the metrics (this process's own slot). */
	fuzz_srv.stats.value = metrics_limits();
	fuzz_srv.db = db_pool_new(NULL, NULL);
	fuzz_srv.base = event_base_new();
	if (fuzz_srv.db == NULL || fuzz_srv.base == NULL)
		abort();
	fuzz_srv.feed = feed_new(fuzz_srv.base, fuzz_srv.db, 20);
	if (fuzz_srv.feed == NULL)
		abort();
	return 0;
}

static void reset_conn(uint8_t ctl)
{
	static const conn_role roles[] = { ROLE_NONE, ROLE_ADMIN_KEY, ROLE_VENDOR_KEY, ROLE_NONE };
	memset(&fuzz_conn, 0, sizeof(fuzz_conn));
	fuzz_conn.srv = &fuzz_srv;
	fuzz_conn.id = 1;
	fuzz_conn.state = CONN_CLOSED;
	fuzz_conn.refs = FUZZ_REFS;
	fuzz_conn.inflight = FUZZ_INFLIGHT;
	fuzz_conn.role = roles[ctl & CTL_ROLE_MASK];
	fuzz_conn.auth_failures = (ctl & CTL_TWO_FAILURES) ? 2 : 0;
	snprintf(fuzz_conn.peer, sizeof(fuzz_conn.peer), "fuzz");
	snprintf(fuzz_conn.key_id, sizeof(fuzz_conn.key_id), "0123456789abcdef");
	snprintf(fuzz_conn.vendor_id, sizeof(fuzz_conn.vendor_id), "v_00112233445566ff");
}

static void check(int ok, const char *what)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_request: invariant broken: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	/* As conn_process() does with a frame's body. */
	Fairpay__V1__Request *req = fairpay__v1__request__unpack(NULL, size - 1, data + 1);
	if (req == NULL)
		return 0;
	if (req->call_case == FAIRPAY__V1__REQUEST__CALL__NOT_SET) {
		fairpay__v1__request__free_unpacked(req, NULL);
		return 0;
	}
	reset_conn(ctl);
	db_stub_set_mode((ctl & CTL_DEFER) ? DB_STUB_DEFER : DB_STUB_REFUSE);
	wirestr_bad bad;
	bool bad_strings = wirestr_check(&fairpay__v1__request__descriptor, data + 1, size - 1,
					 &bad) != WIRESTR_OK;
	size_t asked = db_stub_asked();
	fuzz_conn.inflight++;
	dispatch_request(&fuzz_conn, req, data + 1, size - 1); /* takes req */
	db_stub_run();
	/* A ListEvents that found nothing waits on the feed: end the wait. */
	feed_release_all(fuzz_srv.feed);
	db_stub_run();
	check(!bad_strings || db_stub_asked() == asked, "a request with a bad string made a query");
	check(db_stub_pending() == 0, "a query is left unanswered");
	check(fuzz_conn.refs == FUZZ_REFS, "the call did not drop its connection reference once");
	check(fuzz_conn.inflight == FUZZ_INFLIGHT, "the call did not end exactly once");
	check(fuzz_conn.state == CONN_CLOSED, "a closed connection changed state");
	return 0;
}
