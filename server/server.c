/* The server: listener, signals, graceful shutdown, the reaper and the
 * revocation poll (see server.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include <jansson.h>

#include "admin.h"
#include "cache.h"
#include "clock.h"
#include "deliver.h"
#include "feed.h"
#include "fold.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "server.h"
#include "sweep.h"
#include "tally.h"
#include "tls.h"

/* Out of descriptors, the listener pauses this long: the kernel would
 * report the same error at once on every loop turn otherwise. */
#define ACCEPT_PAUSE_MS 100
/* While readers wait on the event feed, its horizon is read this often, so
 * that they hear of other servers' commits within about two of these. */
#define FEED_POLL_MS 20
/* Events are folded into the GetInsights sums this often; GetInsights adds
 * the ones not folded yet, so this bounds that tail, not what is seen. */
#define INSIGHTS_FOLD_MS 1000
/* At most one log line per this many ms about failed accepts. */
#define ACCEPT_LOG_EVERY_MS 1000

static void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	srv *s = arg;
	conn_reap(s);
	/* The sweeper's round in flight ends too: cut off, its callbacks
	 * would come from the pool's teardown instead. */
	if (s->stopping && s->conns == NULL && s->reap == NULL && !sweep_busy(s->sweeper))
		event_base_loopexit(s->base, NULL);
}

/* The sweeper's last round ended: the loop may be done. */
static void sweeper_idle(void *arg)
{
	srv *s = arg;
	event_active(s->reaper, EV_TIMEOUT, 0);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
		      int addrlen, void *arg)
{
	conn_accept(arg, fd, addr, addrlen);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	srv *s = arg;
	if (s->listener != NULL)
		evconnlistener_enable(s->listener);
}

/* Usually EMFILE or ENFILE: keep serving the connections we have, stop
 * accepting for a moment (the pending connection stays in the backlog
 * until descriptors are free), and say so once a second at most. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	srv *s = arg;
	int err = EVUTIL_SOCKET_ERROR();
	stats_hit(&s->stats, STAT_ACCEPT_ERRORS, 0);
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		evconnlistener_disable(l);
		struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
		event_add(s->accept_resume, &tv);
	}
	int64_t now = clock_mono_ms();
	if (s->accept_error_logged_ms != 0 &&
	    now - s->accept_error_logged_ms < ACCEPT_LOG_EVERY_MS) {
		s->accept_errors_quiet++;
		return;
	}
	log_error(0, "accept failed: %s (%llu more not logged); %u connections open",
		  evutil_socket_error_to_string(err), (unsigned long long)s->accept_errors_quiet,
		  s->nconns);
	s->accept_error_logged_ms = now;
	s->accept_errors_quiet = 0;
}

static void shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	srv *s = arg;
	log_warn(0, "shutdown: %u connections still busy after %lld ms; closing them", s->nconns,
		 (long long)s->cfg->shutdown_timeout_ms);
	event_base_loopexit(s->base, NULL);
}

static void begin_shutdown(srv *s, const char *signame)
{
	if (s->stopping) {
		log_warn(0, "%s again: exiting now", signame);
		event_base_loopexit(s->base, NULL);
		return;
	}
	s->stopping = true;
	notify_stopping();
	metrics_set_ready(false);
	log_info(0, "%s: no longer accepting; finishing %u connections%s", signame, s->nconns,
		 sweep_busy(s->sweeper) ? " and the sweeper's round" : "");
	if (s->listener != NULL) {
		evconnlistener_free(s->listener);
		s->listener = NULL;
	}
	event_del(s->revoke_timer);
	event_del(s->accept_resume);
	/* Long polls answer now with what they have. */
	feed_release_all(s->feed);
	sweep_stop(s->sweeper, sweeper_idle, s);
	fold_stop(s->folder);
	deliver_stop(s->deliverer);
	conn *c = s->conns;
	while (c != NULL) {
		conn *next = c->next; /* c may leave the list */
		conn_begin_drain(c);
		c = next;
	}
	struct timeval tv = { s->cfg->shutdown_timeout_ms / 1000,
			      (s->cfg->shutdown_timeout_ms % 1000) * 1000 };
	event_add(s->shutdown_timer, &tv);
	event_active(s->reaper, EV_TIMEOUT, 0);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP) {
		srv_reload(arg);
		return;
	}
	begin_shutdown(arg, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

void srv_reload_tls(srv *s)
{
	char err[512];
	SSL_CTX *ctx = tls_ctx_new(s->cfg, err, sizeof(err));
	if (ctx == NULL) {
		log_error(0, "SIGHUP: TLS reload failed, keeping the current certificate: %s", err);
		return;
	}
	/* Connections made before hold their own reference to the old
	 * context and go on with it; new ones get this one. */
	tls_ctx_free(s->ssl_ctx);
	s->ssl_ctx = ctx;
	log_info(0, "SIGHUP: reloaded the certificate, key%s",
		 s->cfg->client_ca_file ? " and client CA" : "");
}

static struct timeval tv_ms(int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	return tv;
}

/* The webhook settings, at start and on a reload alike. */
static deliver_options deliver_options_of(const fp_config *cfg)
{
	deliver_options o = { cfg->webhook_allow_http,   cfg->webhook_allow_private,
			      cfg->webhook_ca_file,      cfg->webhook_retry_base_ms,
			      cfg->webhook_retry_max_ms, cfg->webhook_give_up_s,
			      cfg->webhook_timeout_ms,   cfg->webhook_poll_ms,
			      cfg->webhook_per_endpoint, cfg->webhook_max_inflight };
	return o;
}

void srv_reload(srv *s)
{
	notify_reloading();
	/* With --workers the parent read the file first and logged what
	 * changed; each worker applies it quietly. */
	int n = cfg_reload_apply(s->cfg, log_worker() > 0);
	/* The same paths may hold renewed files: TLS is read again always. */
	if (n >= 0)
		srv_reload_tls(s);
	if (n > 0 && !s->stopping) {
		conn_limits_changed(s);
		struct timeval st = tv_ms(s->cfg->stats_interval_ms);
		event_add(s->stats_timer, &st);
		struct timeval poll = tv_ms(s->cfg->revocation_poll_ms);
		event_add(s->revoke_timer, &poll);
		deliver_options dopt = deliver_options_of(s->cfg);
		deliver_set_options(s->deliverer, &dopt);
	}
	notify_reloaded();
}

/* Another server's commit changed rows: drop them. Our own commits updated
 * the cache already. Without the channel nothing can be trusted. */
static void cache_notified(void *arg, const char *payload, bool own)
{
	srv *s = arg;
	if (payload == NULL) {
		cache_clear(s->cache, true);
		return;
	}
	if (payload[0] == '\0') {
		cache_on(s->cache);
		return;
	}
	if (own)
		return;
	json_t *keys = json_loads(payload, 0, NULL);
	size_t i;
	json_t *k;
	if (!json_is_array(keys)) {
		cache_clear(s->cache, false); /* not ours to read: be safe */
	} else {
		json_array_foreach(keys, i, k)
		{
			const char *key = json_string_value(k);
			if (key == NULL)
				continue;
			/* "k/<key id>": a revoked API key. */
			if (strncmp(key, "k/", 2) == 0)
				srv_revoke_key(s, key + 2);
			else
				cache_del(s->cache, key);
		}
	}
	json_decref(keys);
}

static void stats_cb(evutil_socket_t fd, short what, void *arg)
{
	srv *s = arg;
	stats_log(&s->stats, true);
}

void srv_revoke_key(srv *s, const char *key_id)
{
	for (conn *c = s->conns; c != NULL; c = c->next) {
		if (c->role != ROLE_NONE && strcmp(c->key_id, key_id) == 0) {
			log_info(c->id,
				 "key %s was revoked; the connection is no longer authenticated",
				 key_id);
			conn_drop_identity(c);
		}
	}
}

static void revoke_poll_done(void *arg, db_status st, PGresult *res)
{
	srv *s = arg;
	s->revoke_polling = false;
	if (st != DB_OK)
		return; /* the next poll covers this one's window too */
	int n = PQntuples(res);
	for (int i = 0; i < n; i++)
		srv_revoke_key(s, db_get_str(res, i, 0));
	if (n > 0)
		snprintf(s->revoke_since, sizeof(s->revoke_since), "%s", db_get_str(res, n - 1, 1));
}

/* Why the login role is no boundary, in words (or "" when it is one): a
 * superuser, or a member of the owner of the tables, undoes --db-role with
 * SET ROLE NONE or RESET ROLE, and then no grant holds the server back. */
#define LOGIN_CHECK_SQL                                                              \
	"SELECT session_user::text, CASE"                                            \
	" WHEN r.rolsuper THEN 'is a superuser'"                                     \
	" WHEN c.oid IS NULL THEN ''"                                                \
	" WHEN pg_has_role(session_user, c.relowner, 'MEMBER')"                      \
	"  THEN 'owns the tables (is, or is a member of, their owner '"              \
	"   || c.relowner::regrole::text || ')'"                                     \
	" WHEN has_table_privilege(session_user, c.oid, 'UPDATE, DELETE, TRUNCATE')" \
	"  THEN 'may update, delete or truncate the event ledger'"                   \
	" ELSE '' END"                                                               \
	" FROM pg_roles r LEFT JOIN pg_class c ON c.oid = to_regclass('events')"     \
	" WHERE r.rolname = session_user"

static void login_check_done(void *arg, db_status st, PGresult *res)
{
	srv *s = arg;
	s->login_checking = false;
	if (st == DB_UNAVAILABLE)
		return; /* asked again on the next revocation poll */
	s->login_checked = true;
	if (st != DB_OK || PQntuples(res) != 1) {
		log_debug(0, "database login role not checked: %s",
			  st == DB_OK ? "no row" : PQresultErrorMessage(res));
		return;
	}
	const char *why = db_get_str(res, 0, 1);
	if (why[0] != '\0')
		log_warn(0,
			 "the database login role %s %s, which it should not: any statement "
			 "of the server (a bug, an injected one) can then SET ROLE NONE and "
			 "rewrite or erase the event ledger or the schema. Log in as a role that "
			 "holds only the grants of fairpay_app and is not a member of the owner, "
			 "and run the migrations as the owner (README: Database roles)",
			 db_get_str(res, 0, 0), why);
}

/* Check once, as the database first answers, what the login role may do.
 * One worker says it for all. */
static void login_check(srv *s)
{
	if (s->login_checked || s->login_checking || s->stopping || log_worker() > 1)
		return;
	if (db_query(s->db, LOGIN_CHECK_SQL, 0, NULL, login_check_done, s) == 0)
		s->login_checking = true;
}

static void revoke_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	srv *s = arg;
	login_check(s);
	if (s->revoke_polling || s->stopping)
		return;
	/* Revocations by other servers sharing the database. The window
	 * overlaps by 10 s because revoked_at is a transaction's start time,
	 * which may commit after a later one. */
	const char *params[] = { s->revoke_since };
	if (db_query(s->db,
		     "SELECT id, revoked_at::text FROM api_keys"
		     " WHERE revoked_at > $1::timestamptz - interval '10 seconds'"
		     " ORDER BY revoked_at",
		     1, params, revoke_poll_done, s) == 0)
		s->revoke_polling = true;
}

int srv_init(srv *s, fp_config *cfg, const conn_handler *handler)
{
	char err[512];
	char host[256], port[16];
	memset(s, 0, sizeof(*s));
	s->handler = handler;
	s->cfg = cfg;
	s->stats.value = metrics_limits();
	snprintf(s->revoke_since, sizeof(s->revoke_since), "-infinity");
	/* With epoll's change list, an event added and removed again in one
	 * loop turn (a connection's write interest while a reply is written
	 * at once) costs no epoll_ctl: half the system calls of a cached
	 * read. (It is unsafe with descriptors copied by dup(), and the
	 * server makes none.) */
	struct event_config *ec = event_config_new();
	if (ec != NULL)
		(void)event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	s->base = ec != NULL ? event_base_new_with_config(ec) : NULL;
	if (ec != NULL)
		event_config_free(ec);
	if (s->base == NULL) {
		log_error(0, "cannot create the event loop");
		return -1;
	}
	s->ssl_ctx = tls_ctx_new(cfg, err, sizeof(err));
	if (s->ssl_ctx == NULL) {
		log_error(0, "%s", err);
		return -1;
	}
	db_options dbo = { cfg->db,
			   (int)cfg->db_pool,
			   (int)cfg->db_pipeline,
			   (int)cfg->db_timeout_ms,
			   cfg->db_role,
			   (int)cfg->db_statement_timeout_ms,
			   (int)cfg->db_lock_timeout_ms,
			   (int)cfg->db_vendor_share_pct };
	s->db = db_pool_new(s->base, &dbo);
	db_options jobs = dbo;
	jobs.pool_size = 1;
	jobs.tenant_share_pct = 0;
	s->jobs_db = db_pool_new(s->base, &jobs);
	/* Off until the announcements of other servers' commits are heard. */
	s->cache = cache_new((size_t)cfg->cache_entries);
	if (s->cache == NULL ||
	    (s->db != NULL && db_listen(s->db, CACHE_CHANNEL, cache_notified, s) != 0)) {
		log_error(0, "out of memory");
		return -1;
	}
	cache_clear(s->cache, true);
	s->reaper = event_new(s->base, -1, 0, reaper_cb, s);
	s->sig_term = evsignal_new(s->base, SIGTERM, signal_cb, s);
	s->sig_int = evsignal_new(s->base, SIGINT, signal_cb, s);
	s->sig_hup = evsignal_new(s->base, SIGHUP, signal_cb, s);
	s->stats_timer = event_new(s->base, -1, EV_PERSIST, stats_cb, s);
	s->shutdown_timer = evtimer_new(s->base, shutdown_timeout_cb, s);
	s->revoke_timer = event_new(s->base, -1, EV_PERSIST, revoke_timer_cb, s);
	s->accept_resume = evtimer_new(s->base, accept_resume_cb, s);
	s->feed = s->db != NULL ? feed_new(s->base, s->db, FEED_POLL_MS) : NULL;
	s->sources = tally_new();
	s->keys = tally_new();
	if (s->db == NULL || s->jobs_db == NULL || s->reaper == NULL || s->sig_term == NULL ||
	    s->sig_int == NULL || s->sig_hup == NULL || s->stats_timer == NULL ||
	    s->shutdown_timer == NULL || s->revoke_timer == NULL || s->accept_resume == NULL ||
	    s->sources == NULL || s->keys == NULL || s->feed == NULL) {
		log_error(0, "out of memory");
		return -1;
	}
	event_add(s->sig_term, NULL);
	event_add(s->sig_int, NULL);
	event_add(s->sig_hup, NULL);
	struct timeval st = tv_ms(s->cfg->stats_interval_ms);
	event_add(s->stats_timer, &st);
	struct timeval poll = tv_ms(cfg->revocation_poll_ms);
	event_add(s->revoke_timer, &poll);
	login_check(s);
	s->sweeper =
		sweep_new(s->base, s->jobs_db, s->cache, cfg->sweep_interval_ms, cfg->sweep_batch);
	s->folder = fold_new(s->base, s->jobs_db, s->feed, INSIGHTS_FOLD_MS);
	if (s->sweeper == NULL || s->folder == NULL) {
		log_error(0, "out of memory");
		return -1;
	}
	if (cfg->attestation_key_file != NULL && cfg->attestation_key_file[0] != '\0') {
		if (attest_kek_load(cfg->attestation_key_file, s->attest_kek, err, sizeof(err)) !=
		    0) {
			log_error(0, "--attestation-key-file: %s", err);
			return -1;
		}
		s->attest_kek_set = true;
	}
	deliver_options dopt = deliver_options_of(cfg);
	s->deliverer = deliver_new(s->base, s->jobs_db, &dopt);
	if (s->deliverer == NULL) {
		log_error(0, "cannot start webhook delivery (libcurl)");
		return -1;
	}

	if (cfg_split_hostport(cfg->listen, host, sizeof(host), port, sizeof(port)) != 0) {
		log_error(0, "--listen: '%s' is not HOST:PORT", cfg->listen);
		return -1;
	}
	struct evutil_addrinfo hints = { 0 }, *ai = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
	int gai = evutil_getaddrinfo(host, port, &hints, &ai);
	if (gai != 0) {
		log_error(0, "--listen %s: %s", cfg->listen, evutil_gai_strerror(gai));
		return -1;
	}
	s->listener = evconnlistener_new_bind(
		s->base, accept_cb, s,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
			/* --workers: every worker binds the port. */
			(cfg->workers != 1 ? LEV_OPT_REUSEABLE_PORT : 0),
		1024, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (s->listener == NULL) {
		log_error(0, "cannot listen on %s: %s", cfg->listen,
			  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return -1;
	}
	evconnlistener_set_error_cb(s->listener, accept_error_cb);
	if (cfg->admin_listen != NULL &&
	    (s->admin = admin_new(s->base, cfg, s->db, &s->stopping)) == NULL)
		return -1;
	return 0;
}

void srv_run(srv *s)
{
	log_info(0, "fairpayd %s listening on %s (TLS, ALPN %s)", FP_VERSION, s->cfg->listen,
		 TLS_ALPN);
	notify_ready();
	event_base_dispatch(s->base);
	stats_log(&s->stats, false);
	uint64_t writes = 0, commits = 0;
	db_write_counts(s->db, &writes, &commits);
	log_info(0, "db totals: writes=%llu commits=%llu vendor_share_holds=%llu",
		 (unsigned long long)writes, (unsigned long long)commits,
		 (unsigned long long)db_tenant_holds(s->db));
	uint64_t delivered = 0, failed = 0;
	deliver_counts(s->deliverer, &delivered, &failed);
	log_info(0, "webhook totals: delivered=%llu failed=%llu", (unsigned long long)delivered,
		 (unsigned long long)failed);
	log_info(0, "stopped");
}

void srv_cleanup(srv *s)
{
	OPENSSL_cleanse(s->attest_kek, sizeof(s->attest_kek));
	/* Queries still pending complete first, with DB_UNAVAILABLE, while
	 * the connections they answer still exist. */
	db_pool_free(s->db);
	db_pool_free(s->jobs_db);
	/* After the pool (a round in flight was answered by it), before the
	 * connections (a reader still waiting is answered). */
	feed_free(s->feed);
	s->feed = NULL;
	/* After the pool and the feed: both answered what it waited for. */
	fold_free(s->folder);
	s->folder = NULL;
	/* After the pool: a round in flight was answered by it. */
	sweep_free(s->sweeper);
	s->sweeper = NULL;
	/* After the pool too: its records were answered; transfers in flight
	 * are cut off, their rows leased until another attempt. */
	deliver_free(s->deliverer);
	s->deliverer = NULL;
	/* After the pool too: its readiness probe was answered. */
	admin_free(s->admin);
	s->admin = NULL;
	cache_free(s->cache);
	s->cache = NULL;
	s->db = NULL;
	s->jobs_db = NULL;
	while (s->conns != NULL) {
		conn *c = s->conns;
		s->conns = c->next;
		conn_destroy(c);
	}
	conn_reap(s);
	if (s->listener)
		evconnlistener_free(s->listener);
	if (s->reaper)
		event_free(s->reaper);
	if (s->sig_term)
		event_free(s->sig_term);
	if (s->sig_int)
		event_free(s->sig_int);
	if (s->sig_hup)
		event_free(s->sig_hup);
	if (s->stats_timer)
		event_free(s->stats_timer);
	if (s->shutdown_timer)
		event_free(s->shutdown_timer);
	if (s->revoke_timer)
		event_free(s->revoke_timer);
	if (s->accept_resume)
		event_free(s->accept_resume);
	tally_free(s->sources);
	tally_free(s->keys);
	tls_ctx_free(s->ssl_ctx);
	if (s->base) {
		/* A bufferevent freed while one of its deferred callbacks is
		 * pending lives until that callback has run, and the loop has
		 * stopped: one more pass runs them (no other event is left),
		 * or the base would go with those bufferevents never freed. */
		event_base_loop(s->base, EVLOOP_NONBLOCK);
		event_base_free(s->base);
	}
}
