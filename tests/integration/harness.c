/* The integration test harness (see harness.h): environment, databases,
 * fairpayd processes, clients, raw TLS and TCP connections. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAX_SERVERS 16
#define SERVER_READY_MS 10000
#define SERVER_STOP_MS 30000
#define RUN_LIMIT_MS 120000
#define CLIENT_TIMEOUT_MS 10000
/* Under valgrind a server starts, answers and exits (leak check) many
 * times slower; these replace the limits above then. */
#define SLOW_SERVER_READY_MS 120000
#define SLOW_SERVER_STOP_MS 120000
#define SLOW_CLIENT_TIMEOUT_MS 30000

static struct {
	bool ready;
	char build[PATH_MAX];
	char root[PATH_MAX];
	char tmp[PATH_MAX];
	char certs[PATH_MAX];
	char ca[PATH_MAX];
	bool pg_stopped;
	const char *server_login; /* NULL: the conninfo's own user */
	bool no_tls_flags;        /* h_server_tls_flags(false): a --config file names them */
	h_server *servers[MAX_SERVERS];
	char last_message[1024];
	char last_field[256];
	fp_client_options opts;
} H;

/* ---------------------------------------------------------------- small things */

char *h_fmt(const char *fmt, ...)
{
	va_list ap;
	char *out = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&out, fmt, ap);
	va_end(ap);
	if (n < 0)
		fail_msg("out of memory");
	return out;
}

/* snprintf into a fixed buffer; a path that does not fit fails the test
 * rather than being cut short. */
static void put(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		fail_msg("path too long: %s", buf);
}

char *h_path(const char *dir, const char *name)
{
	return h_fmt("%s/%s", dir, name);
}

bool h_contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

int64_t h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

char *h_shq(const char *s)
{
	size_t n = 3;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *out = malloc(n);
	if (out == NULL)
		fail_msg("out of memory");
	char *o = out;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

const char *h_code_name(int code)
{
	if (code == H_NO_REPLY)
		return "NO_REPLY";
	return fp_code_name(code);
}

/* ---------------------------------------------------------------- environment */

/* Whatever a failed test left running must not outlive the binary: the runner
 * reaps leftovers too, but a developer running one binary by hand has no
 * runner. */
static void cleanup_at_exit(void)
{
	for (int i = 0; i < MAX_SERVERS; i++) {
		h_server *s = H.servers[i];
		if (s != NULL && s->running) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			s->running = false;
			unlink(s->pid_path);
		}
	}
	if (H.pg_stopped) {
		char *cmd = h_fmt("%s/scripts/pg.sh start '%s' '%s' >/dev/null 2>&1", H.root,
				  getenv("FP_PGDATA"), getenv("FP_PGPORT"));
		if (system(cmd) != 0)
			fprintf(stderr, "harness: could not restart PostgreSQL\n");
		free(cmd);
	}
}

const char *h_env(const char *name)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0')
		fail_msg("environment variable %s is not set (run through scripts/run-tests.sh)",
			 name);
	return v;
}

static void abs_dir(char *out, const char *base, const char *dir)
{
	char buf[PATH_MAX * 2];
	if (dir[0] == '/' || base == NULL)
		snprintf(buf, sizeof(buf), "%s", dir);
	else
		snprintf(buf, sizeof(buf), "%s/%s", base, dir);
	if (realpath(buf, out) == NULL)
		fail_msg("%s: %s", buf, strerror(errno));
}

static void init(void)
{
	if (H.ready)
		return;
	/* A server that closes on us must show up as an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	const char *root = getenv("FP_ROOT");
	char cwd[PATH_MAX];
	if (root == NULL || *root == '\0') {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			fail_msg("getcwd: %s", strerror(errno));
		root = cwd;
	}
	abs_dir(H.root, NULL, root);
	const char *build = getenv("FP_BUILD");
	abs_dir(H.build, H.root, build && *build ? build : "build");
	abs_dir(H.tmp, H.root, h_env("FP_TMP"));
	abs_dir(H.certs, H.root, h_env("FP_CERTS"));
	put(H.ca, sizeof(H.ca), "%s/ca.pem", H.certs);
	char pids[PATH_MAX + 8];
	snprintf(pids, sizeof(pids), "%s/pids", H.tmp);
	if (mkdir(pids, 0755) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", pids, strerror(errno));
	H.opts.ca_file = H.ca;
	H.server_login = H_SERVER_LOGIN;
	H.opts.timeout_ms = h_slow() ? SLOW_CLIENT_TIMEOUT_MS : CLIENT_TIMEOUT_MS;
	atexit(cleanup_at_exit);
	H.ready = true;
}

bool h_slow(void)
{
	const char *v = getenv("FP_VALGRIND");
	return v != NULL && strcmp(v, "1") == 0;
}

const char *h_build_dir(void)
{
	init();
	return H.build;
}

const char *h_root_dir(void)
{
	init();
	return H.root;
}

const char *h_tmp_dir(void)
{
	init();
	return H.tmp;
}

const char *h_certs_dir(void)
{
	init();
	return H.certs;
}

/* ---------------------------------------------------------------- database */

static char *pg_conninfo(const char *dbname)
{
	return h_fmt("host=%s port=%s user=postgres dbname=%s", h_env("FP_PGHOST"),
		     h_env("FP_PGPORT"), dbname);
}

/* Keep the server's NOTICEs ("does not exist, skipping") out of test output. */
static void quiet_notice(void *arg, const char *message)
{
}

static void pg_exec_ok(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		PQclear(r);
		fail_msg("%s: %s", sql, msg);
	}
	PQclear(r);
}

char *h_db_create(const char *name)
{
	init();
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			fail_msg("database name '%s': use [a-z0-9_]", name);
	char *admin = pg_conninfo("postgres");
	PGconn *pg = PQconnectdb(admin);
	free(admin);
	if (PQstatus(pg) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
		PQfinish(pg);
		fail_msg("cannot connect to PostgreSQL: %s", msg);
	}
	PQsetNoticeProcessor(pg, quiet_notice, NULL);
	char *drop = h_fmt("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	char *create = h_fmt("CREATE DATABASE %s", name);
	pg_exec_ok(pg, drop);
	pg_exec_ok(pg, create);
	free(drop);
	free(create);
	PQfinish(pg);
	return pg_conninfo(name);
}

char *h_conninfo_as(const char *conninfo, const char *role)
{
	return h_fmt("%s user=%s", conninfo, role);
}

void h_server_login(const char *role)
{
	init();
	H.server_login = role;
}

char *h_sql(const char *conninfo, const char *sql)
{
	PGconn *pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
		PQfinish(pg);
		fail_msg("h_sql: cannot connect (%s): %s", conninfo, msg);
	}
	PQsetNoticeProcessor(pg, quiet_notice, NULL);
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(pg);
		fail_msg("h_sql: %s: %s", sql, msg);
	}
	char *out = NULL;
	if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0 &&
	    !PQgetisnull(r, 0, 0)) {
		out = strdup(PQgetvalue(r, 0, 0));
		if (out == NULL)
			fail_msg("out of memory");
	}
	PQclear(r);
	PQfinish(pg);
	return out;
}

long long h_sql_int(const char *conninfo, const char *sql)
{
	char *v = h_sql(conninfo, sql);
	if (v == NULL)
		fail_msg("h_sql_int: no value from %s", sql);
	char *end = NULL;
	long long n = strtoll(v, &end, 10);
	if (end == v || *end != '\0')
		fail_msg("h_sql_int: '%s' from %s is not a number", v, sql);
	free(v);
	return n;
}

char *h_ctl(void)
{
	init();
	char *p = h_path(H.build, "fairpayctl");
	char *q = h_shq(p);
	free(p);
	return q;
}

void h_migrate(const char *conninfo)
{
	char *ctl = h_ctl();
	char *db = h_shq(conninfo);
	char *cmd = h_fmt("%s db migrate --db %s 2>&1", ctl, db);
	char *out = NULL;
	int rc = h_run(cmd, &out);
	if (rc != 0)
		fail_msg("'%s' exited %d:\n%s", cmd, rc, out);
	free(out);
	free(cmd);
	free(db);
	free(ctl);
}

/* The last non-empty line of text, malloc'ed. */
static char *last_line(const char *text)
{
	const char *end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > text && start[-1] != '\n')
		start--;
	return strndup(start, (size_t)(end - start));
}

char *h_bootstrap_admin(const char *conninfo)
{
	char *ctl = h_ctl();
	char *db = h_shq(conninfo);
	char *cmd = h_fmt("%s db bootstrap-admin --db %s", ctl, db);
	char *out = NULL;
	int rc = h_run(cmd, &out);
	if (rc != 0)
		fail_msg("'%s' exited %d:\n%s", cmd, rc, out);
	char *key = last_line(out);
	if (strncmp(key, "fp_", 3) != 0)
		fail_msg("bootstrap-admin's last line is not a key: '%s'", key);
	free(out);
	free(cmd);
	free(db);
	free(ctl);
	return key;
}

static void pg_script(const char *verb, bool with_port)
{
	init();
	char *script = h_path(H.root, "scripts/pg.sh");
	char *s = h_shq(script);
	char *dir = h_shq(h_env("FP_PGDATA"));
	char *port = h_shq(h_env("FP_PGPORT"));
	char *cmd = h_fmt("%s %s %s %s 2>&1", s, verb, dir, with_port ? port : "");
	char *out = NULL;
	int rc = h_run(cmd, &out);
	if (rc != 0)
		fail_msg("'%s' exited %d:\n%s", cmd, rc, out);
	free(out);
	free(cmd);
	free(port);
	free(dir);
	free(s);
	free(script);
}

void h_pg_stop(void)
{
	H.pg_stopped = true;
	pg_script("stop", false);
}

void h_pg_start(void)
{
	pg_script("start", true);
	H.pg_stopped = false;
}

/* ---------------------------------------------------------------- processes */

int h_run(const char *cmd, char **output)
{
	init();
	int fds[2];
	if (pipe(fds) != 0)
		fail_msg("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Own process group, so that a runaway command can be killed with
		 * everything it started. */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			close(devnull);
		}
		if (chdir(H.root) != 0)
			_exit(126);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int64_t deadline = h_now_ms() + RUN_LIMIT_MS;
	for (;;) {
		int64_t left = deadline - h_now_ms();
		if (left <= 0) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(fds[0]);
			fail_msg("'%s' ran longer than %d ms; output so far:\n%.*s", cmd,
				 RUN_LIMIT_MS, (int)len, buf ? buf : "");
		}
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		int pr = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
		if (pr < 0 && errno != EINTR)
			fail_msg("poll: %s", strerror(errno));
		if (pr <= 0)
			continue;
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (buf == NULL)
				fail_msg("out of memory");
		}
		ssize_t n = read(fds[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			fail_msg("waitpid: %s", strerror(errno));
	}
	if (buf == NULL) {
		buf = malloc(1);
		if (buf == NULL)
			fail_msg("out of memory");
	}
	buf[len] = '\0';
	if (output != NULL)
		*output = buf;
	else
		free(buf);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int h_runf(char **out, const char *fmt, ...)
{
	va_list ap;
	char *cmd = NULL;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		fail_msg("out of memory");
	va_end(ap);
	char *o = NULL;
	int rc = h_run(cmd, &o);
	print_message("$ %s -> %d\n", cmd, rc);
	free(cmd);
	if (out != NULL)
		*out = o;
	else
		free(o);
	return rc;
}

void h_free_port(char *port, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		fail_msg("socket: %s", strerror(errno));
	struct sockaddr_in sa = { 0 };
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	socklen_t sl = sizeof(sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
		fail_msg("bind/getsockname: %s", strerror(errno));
	snprintf(port, len, "%u", (unsigned)ntohs(sa.sin_port));
	close(fd);
}

double h_metric(const char *admin_port, const char *name)
{
	char *out = NULL;
	char *cmd = h_fmt("curl -s -m 5 http://127.0.0.1:%s/metrics", admin_port);
	h_run(cmd, &out);
	free(cmd);
	double v = -1;
	size_t n = strlen(name);
	for (char *line = out; line != NULL && *line != '\0';) {
		char *end = strchr(line, '\n');
		if (strncmp(line, name, n) == 0 && line[n] == ' ')
			v = strtod(line + n + 1, NULL);
		line = end ? end + 1 : NULL;
	}
	free(out);
	return v;
}

static void register_server(h_server *s)
{
	for (int i = 0; i < MAX_SERVERS; i++) {
		if (H.servers[i] == NULL) {
			H.servers[i] = s;
			return;
		}
	}
	fail_msg("more than %d servers at once", MAX_SERVERS);
}

static void unregister_server(h_server *s)
{
	for (int i = 0; i < MAX_SERVERS; i++)
		if (H.servers[i] == s)
			H.servers[i] = NULL;
}

char *h_server_log(const h_server *s)
{
	FILE *f = fopen(s->log_path, "r");
	if (f == NULL)
		return strdup("");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			if (buf == NULL)
				fail_msg("out of memory");
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* The last ~2000 bytes of the log, for failure messages. */
static const char *log_tail(const h_server *s, char *buf, size_t size)
{
	char *log = h_server_log(s);
	size_t n = strlen(log);
	size_t keep = size - 1 < n ? size - 1 : n;
	memcpy(buf, log + n - keep, keep);
	buf[keep] = '\0';
	free(log);
	return buf;
}

static bool reap_if_exited(h_server *s)
{
	int status;
	if (!s->running)
		return true;
	pid_t r = waitpid(s->pid, &status, WNOHANG);
	if (r == s->pid) {
		s->running = false;
		s->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		unlink(s->pid_path);
		return true;
	}
	return false;
}

bool h_server_alive(h_server *s)
{
	return !reap_if_exited(s);
}

/* The descriptor limit (soft and hard) of the next server started; 0:
 * inherited. */
static long server_nofile;

void h_server_nofile(long n)
{
	server_nofile = n;
}

/* Start fairpayd on port (NULL: a free one) with the extra arguments in ap. */
static h_server *server_start_v(const char *port, const char *conninfo, va_list ap)
{
	init();
	h_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		fail_msg("out of memory");
	if (port != NULL)
		snprintf(s->port, sizeof(s->port), "%s", port);
	else
		h_free_port(s->port, sizeof(s->port));
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%s", s->port);
	put(s->log_path, sizeof(s->log_path), "%s/fairpayd-%s-%s.log", H.tmp,
	    program_invocation_short_name, s->port);

	char *argv[72];
	int argc = 0;
	char *bin = h_path(H.build, "fairpayd");
	char *cert = h_path(H.certs, "server.pem");
	char *key = h_path(H.certs, "server.key");
	char *vg_log = h_fmt("--log-file=%s/valgrind-%%p.log", H.tmp);
	const char *exe = bin;
	if (h_slow()) {
		/* Definite leaks count as errors, and any error makes the exit
		 * status 99, so a test's SIGTERM check catches them; the runner
		 * sums up the logs. */
		exe = "valgrind";
		argv[argc++] = "valgrind";
		argv[argc++] = "--tool=memcheck";
		argv[argc++] = "--leak-check=full";
		/* fairpayd's malloc is jemalloc's (Makefile, LIBS_MALLOC):
		 * memcheck replaces that library's, not only libc's. */
		argv[argc++] = "--soname-synonyms=somalloc=*jemalloc*";
		argv[argc++] = "--errors-for-leak-kinds=definite";
		argv[argc++] = "--error-exitcode=99";
		argv[argc++] = "--num-callers=30";
		argv[argc++] = vg_log;
	}
	argv[argc++] = bin;
	argv[argc++] = "--listen";
	argv[argc++] = s->addr;
	char *login =
		H.server_login != NULL ? h_conninfo_as(conninfo, H.server_login) : strdup(conninfo);
	argv[argc++] = "--db";
	argv[argc++] = login;
	if (!H.no_tls_flags) {
		argv[argc++] = "--cert";
		argv[argc++] = cert;
		argv[argc++] = "--key";
		argv[argc++] = key;
	}
	/* One process unless the test asks for workers (a later flag wins):
	 * tests that kill, count or trace "the server" mean one process. */
	argv[argc++] = "--workers";
	argv[argc++] = "1";
	for (char *a = va_arg(ap, char *); a != NULL; a = va_arg(ap, char *)) {
		if (argc >= 70)
			fail_msg("too many server arguments");
		argv[argc++] = a;
	}
	argv[argc] = NULL;

	int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (logfd < 0)
		fail_msg("%s: %s", s->log_path, strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (server_nofile > 0) {
			struct rlimit rl = { (rlim_t)server_nofile, (rlim_t)server_nofile };
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				_exit(126);
		}
		dup2(logfd, STDERR_FILENO);
		dup2(logfd, STDOUT_FILENO);
		close(logfd);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			close(devnull);
		}
		execvp(exe, argv);
		fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(logfd);
	server_nofile = 0; /* the next server's only */
	s->pid = pid;
	s->running = true;
	register_server(s);
	put(s->pid_path, sizeof(s->pid_path), "%s/pids/%d.pid", H.tmp, (int)pid);
	FILE *pf = fopen(s->pid_path, "w");
	if (pf == NULL)
		fail_msg("%s: %s", s->pid_path, strerror(errno));
	fprintf(pf, "%d\n", (int)pid);
	fclose(pf);
	free(bin);
	free(cert);
	free(key);
	free(vg_log);
	free(login);

	/* Ready means served: a TLS client can connect and get a Ping answered. */
	int ready_ms = h_slow() ? SLOW_SERVER_READY_MS : SERVER_READY_MS;
	int64_t deadline = h_now_ms() + ready_ms;
	char err[512] = "";
	fp_client_options opts = *h_client_options();
	opts.timeout_ms = h_slow() ? 10000 : 2000;
	for (;;) {
		char tail[2048];
		if (reap_if_exited(s))
			fail_msg("fairpayd exited with status %d before serving; log:\n%s",
				 s->status, log_tail(s, tail, sizeof(tail)));
		fp_client *c = NULL;
		if (h_try_connect(s->port, &opts, &c, err, sizeof(err)) == 0) {
			int code = h_ping(c);
			fp_client_free(c);
			if (code == 0)
				return s;
			snprintf(err, sizeof(err), "Ping answered %s", h_code_name(code));
		}
		if (h_now_ms() > deadline)
			fail_msg("fairpayd on port %s did not serve within %d ms (%s); log:\n%s",
				 s->port, ready_ms, err, log_tail(s, tail, sizeof(tail)));
		h_sleep_ms(20);
	}
}

void h_server_tls_flags(bool on)
{
	H.no_tls_flags = !on;
}

h_server *h_server_start(const char *conninfo, ...)
{
	va_list ap;
	va_start(ap, conninfo);
	h_server *s = server_start_v(NULL, conninfo, ap);
	va_end(ap);
	return s;
}

h_server *h_server_start_on(const char *port, const char *conninfo, ...)
{
	va_list ap;
	va_start(ap, conninfo);
	h_server *s = server_start_v(port, conninfo, ap);
	va_end(ap);
	return s;
}

void h_world_start(h_world *w, const char *name, ...)
{
	memset(w, 0, sizeof(*w));
	w->db = h_db_create(name);
	h_migrate(w->db);
	w->admin_key = h_bootstrap_admin(w->db);
	va_list ap;
	va_start(ap, name);
	w->srv = server_start_v(NULL, w->db, ap);
	va_end(ap);
	w->admin = h_connect_auth(w->srv, w->admin_key);
}

void h_world_stop(h_world *w)
{
	fp_client_free(w->admin);
	h_server_free(w->srv);
	free(w->admin_key);
	free(w->db);
	memset(w, 0, sizeof(*w));
}

long h_server_rss_kb(const h_server *s)
{
	return h_proc_status_kb(s->pid, "VmRSS");
}

int h_server_stop(h_server *s, int sig)
{
	if (!s->running)
		return s->status;
	if (sig != 0 && kill(s->pid, sig) != 0)
		fail_msg("kill %d: %s", (int)s->pid, strerror(errno));
	int stop_ms = h_slow() ? SLOW_SERVER_STOP_MS : SERVER_STOP_MS;
	int64_t deadline = h_now_ms() + stop_ms;
	while (!reap_if_exited(s)) {
		if (h_now_ms() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			s->running = false;
			unlink(s->pid_path);
			fail_msg("fairpayd (pid %d) did not exit within %d ms of signal %d",
				 (int)s->pid, stop_ms, sig);
		}
		h_sleep_ms(10);
	}
	return s->status;
}

void h_server_free(h_server *s)
{
	if (s == NULL)
		return;
	if (s->running && !reap_if_exited(s)) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->running = false;
		unlink(s->pid_path);
	}
	unregister_server(s);
	free(s);
}

/* ---------------------------------------------------------------- clients */

const fp_client_options *h_client_options(void)
{
	init();
	return &H.opts;
}

int h_try_connect(const char *port, const fp_client_options *opts, fp_client **out, char *err,
		  size_t errlen)
{
	fp_client *c = fp_client_new();
	if (c == NULL)
		fail_msg("fp_client_new: out of memory");
	if (fp_client_connect(c, "127.0.0.1", port, opts) != 0) {
		snprintf(err, errlen, "%s", fp_client_error_message(c));
		fp_client_free(c);
		*out = NULL;
		return -1;
	}
	*out = c;
	return 0;
}

fp_client *h_connect(const h_server *s)
{
	fp_client *c = NULL;
	char err[512];
	if (h_try_connect(s->port, h_client_options(), &c, err, sizeof(err)) != 0)
		fail_msg("cannot connect to fairpayd on port %s: %s", s->port, err);
	return c;
}

fp_client *h_connect_auth(const h_server *s, const char *key)
{
	fp_client *c = h_connect(s);
	int code = h_auth(c, key, NULL, NULL);
	if (code != FAIRPAY__V1__CODE__OK)
		fail_msg("Authenticate answered %s: %s", h_code_name(code), h_last_message());
	return c;
}

int h_call(fp_client *c, Fairpay__V1__Request *req, Fairpay__V1__Response **out)
{
	Fairpay__V1__Response *resp = NULL;
	int rc = fp_client_call(c, req, &resp);
	int code;
	if (resp == NULL) {
		if (rc == 0)
			fail_msg("fp_client_call returned 0 without a reply");
		code = H_NO_REPLY;
		snprintf(H.last_message, sizeof(H.last_message), "%s", fp_client_error_message(c));
		H.last_field[0] = '\0';
	} else {
		const Fairpay__V1__Status *st = resp->status;
		code = st != NULL ? (int)st->code : 0;
		snprintf(H.last_message, sizeof(H.last_message), "%s",
			 st != NULL && st->message ? st->message : "");
		snprintf(H.last_field, sizeof(H.last_field), "%s",
			 st != NULL && st->field ? st->field : "");
		/* The library's contract: 0 exactly when the status is OK. */
		if ((rc == 0) != (code == 0))
			fail_msg("fp_client_call returned %d for status %s", rc, h_code_name(code));
		if (rc != 0 && fp_client_error_code(c) != code)
			fail_msg("fp_client_error_code %d, reply status %d",
				 fp_client_error_code(c), code);
		if (resp->id != req->id)
			fail_msg("reply id %llu for request id %llu", (unsigned long long)resp->id,
				 (unsigned long long)req->id);
	}
	if (out != NULL)
		*out = resp;
	else
		fp_response_free(resp);
	return code;
}

const char *h_last_message(void)
{
	return H.last_message;
}

const char *h_last_field(void)
{
	return H.last_field;
}

static char *dup_or_fail(const char *s)
{
	char *d = strdup(s ? s : "");
	if (d == NULL)
		fail_msg("out of memory");
	return d;
}

int h_ping(fp_client *c)
{
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
	req.ping = &ping;
	Fairpay__V1__Response *resp = NULL;
	int code = h_call(c, &req, &resp);
	if (code == 0 && resp->result_case != FAIRPAY__V1__RESPONSE__RESULT_PING)
		fail_msg("Ping answered OK without a PingResponse");
	fp_response_free(resp);
	return code;
}

int h_auth(fp_client *c, const char *key, Fairpay__V1__Role *role, char **vendor_id)
{
	Fairpay__V1__AuthenticateRequest a = FAIRPAY__V1__AUTHENTICATE_REQUEST__INIT;
	a.api_key = (char *)key;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &a;
	Fairpay__V1__Response *resp = NULL;
	int code = h_call(c, &req, &resp);
	if (code == 0) {
		if (resp->result_case != FAIRPAY__V1__RESPONSE__RESULT_AUTHENTICATE)
			fail_msg("Authenticate answered OK without an AuthenticateResponse");
		if (role != NULL)
			*role = resp->authenticate->role;
		if (vendor_id != NULL)
			*vendor_id = dup_or_fail(resp->authenticate->vendor_id);
	}
	fp_response_free(resp);
	return code;
}

int h_list_vendors(fp_client *c, const char *page_token, uint32_t limit,
		   Fairpay__V1__Response **out)
{
	Fairpay__V1__ListVendorsRequest lv = FAIRPAY__V1__LIST_VENDORS_REQUEST__INIT;
	if (page_token != NULL)
		lv.page_token = (char *)page_token;
	lv.limit = limit;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_LIST_VENDORS;
	req.list_vendors = &lv;
	Fairpay__V1__Response *resp = NULL;
	int code = h_call(c, &req, &resp);
	if (code == 0 && resp->result_case != FAIRPAY__V1__RESPONSE__RESULT_LIST_VENDORS)
		fail_msg("ListVendors answered OK without a ListVendorsResponse");
	if (out != NULL)
		*out = resp;
	else
		fp_response_free(resp);
	return code;
}

int h_create_vendor(fp_client *c, const char *name, char **vendor_id, char **api_key, char **key_id)
{
	Fairpay__V1__CreateVendorRequest cv = FAIRPAY__V1__CREATE_VENDOR_REQUEST__INIT;
	cv.name = (char *)name;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_VENDOR;
	req.create_vendor = &cv;
	Fairpay__V1__Response *resp = NULL;
	int code = h_call(c, &req, &resp);
	if (code == 0) {
		if (resp->result_case != FAIRPAY__V1__RESPONSE__RESULT_CREATE_VENDOR ||
		    resp->create_vendor->vendor == NULL)
			fail_msg("CreateVendor answered OK without a vendor");
		Fairpay__V1__CreateVendorResponse *r = resp->create_vendor;
		if (vendor_id != NULL)
			*vendor_id = dup_or_fail(r->vendor->id);
		if (api_key != NULL)
			*api_key = dup_or_fail(r->api_key);
		if (key_id != NULL)
			*key_id = dup_or_fail(r->key_id);
	}
	fp_response_free(resp);
	return code;
}

int h_create_api_key(fp_client *c, const char *vendor_id, int role, char **key_id, char **api_key)
{
	Fairpay__V1__CreateApiKeyRequest ck = FAIRPAY__V1__CREATE_API_KEY_REQUEST__INIT;
	if (vendor_id != NULL)
		ck.vendor_id = (char *)vendor_id;
	ck.role = (Fairpay__V1__Role)role;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_API_KEY;
	req.create_api_key = &ck;
	Fairpay__V1__Response *resp = NULL;
	int code = h_call(c, &req, &resp);
	if (code == 0) {
		if (resp->result_case != FAIRPAY__V1__RESPONSE__RESULT_CREATE_API_KEY)
			fail_msg("CreateApiKey answered OK without a CreateApiKeyResponse");
		if (key_id != NULL)
			*key_id = dup_or_fail(resp->create_api_key->key_id);
		if (api_key != NULL)
			*api_key = dup_or_fail(resp->create_api_key->api_key);
	}
	fp_response_free(resp);
	return code;
}

int h_revoke_api_key(fp_client *c, const char *key_id)
{
	Fairpay__V1__RevokeApiKeyRequest rk = FAIRPAY__V1__REVOKE_API_KEY_REQUEST__INIT;
	rk.key_id = (char *)key_id;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_REVOKE_API_KEY;
	req.revoke_api_key = &rk;
	return h_call(c, &req, NULL);
}

/* ---------------------------------------------------------------- raw TLS and TCP */

struct h_tls {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

/* The address raw connections come from (h_set_source); INADDR_ANY: the
 * kernel's choice, 127.0.0.1. */
static struct in_addr source_addr = { INADDR_ANY };

void h_set_source(const char *ip)
{
	source_addr.s_addr = INADDR_ANY;
	if (ip != NULL && inet_pton(AF_INET, ip, &source_addr) != 1)
		fail_msg("h_set_source: '%s' is not an IPv4 address", ip);
}

static int tcp_connect_raw(const char *port)
{
	/* Not inherited by the servers a test starts later. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (source_addr.s_addr != INADDR_ANY) {
		struct sockaddr_in from = { 0 };
		from.sin_family = AF_INET;
		from.sin_addr = source_addr;
		if (bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
	}
	struct sockaddr_in sa = { 0 };
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)atoi(port));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int h_tcp_connect(const char *port)
{
	init();
	int fd = tcp_connect_raw(port);
	if (fd < 0)
		fail_msg("connect 127.0.0.1:%s: %s", port, strerror(errno));
	return fd;
}

int h_fd_wait_closed(int fd, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	char buf[4096];
	for (;;) {
		int64_t left = deadline - h_now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = { fd, POLLIN, 0 };
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			fail_msg("poll: %s", strerror(errno));
		if (pr == 0)
			return 0;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return 1;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return 1; /* reset counts as closed */
	}
}

static void ssl_errors(char *err, size_t errlen, const char *what)
{
	size_t used = (size_t)snprintf(err, errlen, "%s", what);
	unsigned long e;
	while ((e = ERR_get_error()) != 0 && used < errlen) {
		char buf[256];
		ERR_error_string_n(e, buf, sizeof(buf));
		used += (size_t)snprintf(err + used, errlen - used, "; %s", buf);
	}
}

h_tls *h_tls_try(const char *port, int min_version, int max_version, char *err, size_t errlen)
{
	init();
	ERR_clear_error();
	h_tls *t = calloc(1, sizeof(*t));
	if (t == NULL)
		fail_msg("out of memory");
	t->fd = tcp_connect_raw(port);
	if (t->fd < 0) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		free(t);
		return NULL;
	}
	/* A handshake that never completes must not hang the test. */
	struct timeval tv = { 10, 0 };
	setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL)
		fail_msg("SSL_CTX_new failed");
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(t->ctx, H.ca, NULL) != 1)
		fail_msg("cannot load %s", H.ca);
	if (max_version != 0 && max_version < TLS1_2_VERSION) {
		/* OpenSSL 3 refuses TLS < 1.2 at its default security level: lower
		 * ours, so that the server, not our own library, is what refuses. */
		SSL_CTX_set_security_level(t->ctx, 0);
		SSL_CTX_set_cipher_list(t->ctx, "DEFAULT:@SECLEVEL=0");
	}
	if (min_version != 0 && SSL_CTX_set_min_proto_version(t->ctx, min_version) != 1)
		fail_msg("set_min_proto_version failed");
	if (max_version != 0 && SSL_CTX_set_max_proto_version(t->ctx, max_version) != 1)
		fail_msg("set_max_proto_version failed");
	static const unsigned char alpn[] = "\x09"
					    "fairpay/1";
	SSL_CTX_set_alpn_protos(t->ctx, alpn, sizeof(alpn) - 1);
	t->ssl = SSL_new(t->ctx);
	if (t->ssl == NULL)
		fail_msg("SSL_new failed");
	X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
	if (X509_VERIFY_PARAM_set1_ip_asc(param, "127.0.0.1") != 1)
		fail_msg("X509_VERIFY_PARAM_set1_ip_asc failed");
	SSL_set_fd(t->ssl, t->fd);
	int r = SSL_connect(t->ssl);
	if (r != 1) {
		char what[128];
		snprintf(what, sizeof(what), "handshake failed (SSL_get_error %d, errno %s)",
			 SSL_get_error(t->ssl, r), strerror(errno));
		ssl_errors(err, errlen, what);
		long vr = SSL_get_verify_result(t->ssl);
		if (vr != X509_V_OK) {
			size_t used = strlen(err);
			snprintf(err + used, errlen - used, "; verify: %s",
				 X509_verify_cert_error_string(vr));
		}
		h_tls_close(t);
		return NULL;
	}
	/* Blocking reads are bounded by poll() in h_tls_read; keep the socket
	 * blocking for writes. */
	return t;
}

h_tls *h_tls_connect(const char *port)
{
	char err[1024];
	h_tls *t = h_tls_try(port, 0, 0, err, sizeof(err));
	if (t == NULL)
		fail_msg("TLS connection to port %s: %s", port, err);
	return t;
}

void h_tls_write(h_tls *t, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		int n = SSL_write(t->ssl, p, (int)len);
		if (n <= 0) {
			char err[512];
			ssl_errors(err, sizeof(err), "SSL_write failed");
			fail_msg("%s", err);
		}
		p += n;
		len -= (size_t)n;
	}
}

void h_tls_write_frame(h_tls *t, uint32_t len, const void *body, size_t body_len)
{
	uint8_t *buf = malloc(4 + body_len);
	if (buf == NULL)
		fail_msg("out of memory");
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	if (body_len > 0)
		memcpy(buf + 4, body, body_len);
	h_tls_write(t, buf, 4 + body_len);
	free(buf);
}

void h_tls_write_request(h_tls *t, const Fairpay__V1__Request *req)
{
	size_t n = fairpay__v1__request__get_packed_size(req);
	uint8_t *body = malloc(n ? n : 1);
	if (body == NULL)
		fail_msg("out of memory");
	fairpay__v1__request__pack(req, body);
	h_tls_write_frame(t, (uint32_t)n, body, n);
	free(body);
}

/* Read exactly n bytes before deadline. */
static h_read tls_read_exact(h_tls *t, uint8_t *buf, size_t n, int64_t deadline)
{
	size_t got = 0;
	while (got < n) {
		if (SSL_pending(t->ssl) == 0) {
			int64_t left = deadline - h_now_ms();
			if (left <= 0)
				return H_READ_TIMEOUT;
			struct pollfd pfd = { t->fd, POLLIN, 0 };
			int pr = poll(&pfd, 1, (int)left);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0)
				return H_READ_TIMEOUT;
		}
		ERR_clear_error();
		errno = 0;
		int r = SSL_read(t->ssl, buf + got, (int)(n - got));
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		int e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			continue;
		if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
			return got == 0 ? H_READ_CLOSED : H_READ_ERROR;
		/* OpenSSL 3 reports a close without close_notify as an SSL error
		 * ("unexpected eof while reading"). */
		unsigned long le = ERR_peek_last_error();
		if (ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return got == 0 ? H_READ_CLOSED : H_READ_ERROR;
		return H_READ_ERROR;
	}
	return H_READ_FRAME;
}

h_read h_tls_read(h_tls *t, int timeout_ms, Fairpay__V1__Response **resp)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	uint8_t hdr[4];
	*resp = NULL;
	h_read r = tls_read_exact(t, hdr, 4, deadline);
	if (r != H_READ_FRAME)
		return r;
	uint32_t len = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
		       ((uint32_t)hdr[2] << 8) | hdr[3];
	if (len == 0 || len > (16u << 20))
		return H_READ_ERROR;
	uint8_t *body = malloc(len);
	if (body == NULL)
		fail_msg("out of memory");
	r = tls_read_exact(t, body, len, deadline);
	if (r != H_READ_FRAME) {
		free(body);
		return r == H_READ_CLOSED ? H_READ_ERROR : r;
	}
	*resp = fairpay__v1__response__unpack(NULL, len, body);
	free(body);
	return *resp != NULL ? H_READ_FRAME : H_READ_ERROR;
}

void h_tls_expect_closed(h_tls *t, int timeout_ms)
{
	Fairpay__V1__Response *resp = NULL;
	h_read r = h_tls_read(t, timeout_ms, &resp);
	if (r == H_READ_FRAME) {
		unsigned long long id = resp->id;
		int code = resp->status ? (int)resp->status->code : 0;
		fairpay__v1__response__free_unpacked(resp, NULL);
		fail_msg("expected the connection to close, got a Response id %llu code %s", id,
			 h_code_name(code));
	}
	if (r == H_READ_TIMEOUT)
		fail_msg("the server did not close the connection within %d ms", timeout_ms);
}

const char *h_tls_alpn(h_tls *t)
{
	static char buf[64];
	const unsigned char *p = NULL;
	unsigned int n = 0;
	SSL_get0_alpn_selected(t->ssl, &p, &n);
	snprintf(buf, sizeof(buf), "%.*s", (int)n, p ? (const char *)p : "");
	return buf;
}

int h_tls_version(h_tls *t)
{
	return SSL_version(t->ssl);
}

void h_tls_close(h_tls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

/* ---------------------------------------------------------------- the FairPay cycle */

int h_sql_try(const char *conninfo, const char *sql, char *err, size_t errlen)
{
	PGconn *pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
		PQfinish(pg);
		fail_msg("h_sql_try: cannot connect (%s): %s", conninfo, msg);
	}
	PQsetNoticeProcessor(pg, quiet_notice, NULL);
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
		rc = -1;
	} else if (errlen > 0) {
		err[0] = '\0';
	}
	PQclear(r);
	PQfinish(pg);
	return rc;
}

void h_assert_field(const char *want)
{
	if (strcmp(h_last_field(), want) != 0)
		fail_msg("status.field is '%s', want '%s' (message '%s')", h_last_field(), want,
			 h_last_message());
}

fp_client *h_vendor_client(const h_server *s, fp_client *admin, const char *name, char **vendor_id,
			   char **api_key)
{
	char *key = NULL;
	int code = h_create_vendor(admin, name, vendor_id, &key, NULL);
	if (code != FAIRPAY__V1__CODE__OK)
		fail_msg("CreateVendor '%s' answered %s: %s", name, h_code_name(code),
			 h_last_message());
	fp_client *c = h_connect_auth(s, key);
	if (api_key != NULL)
		*api_key = key;
	else
		free(key);
	return c;
}

int h_vcall(fp_client *c, Fairpay__V1__Request__CallCase cc, void *msg, const char *idem_key,
	    Fairpay__V1__Response **out)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = cc;
	if (idem_key != NULL)
		req.idempotency_key = (char *)idem_key;
	switch (cc) {
	case FAIRPAY__V1__REQUEST__CALL_PUT_PRODUCT:
		req.put_product = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_GET_PRODUCT:
		req.get_product = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_LIST_PRODUCTS:
		req.list_products = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_PUT_POLICY:
		req.put_policy = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_GET_POLICY:
		req.get_policy = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER:
		req.create_offer = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER:
		req.accept_offer = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_DECLINE_OFFER:
		req.decline_offer = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_GET_OFFER:
		req.get_offer = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT:
		req.submit_payment = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_REVIEW_PAYMENT:
		req.review_payment = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION:
		req.get_reputation = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_LIST_CUSTOMER_EVENTS:
		req.list_customer_events = msg;
		break;
	case FAIRPAY__V1__REQUEST__CALL_LIST_EVENTS:
		req.list_events = msg;
		break;
	default:
		fail_msg("h_vcall: %d is not a vendor call", (int)cc);
	}
	Fairpay__V1__Response *resp = NULL;
	int code = h_call(c, &req, &resp);
	/* Request.call and Response.result use the same field numbers. */
	if (code == FAIRPAY__V1__CODE__OK && (int)resp->result_case != (int)cc)
		fail_msg("call %d answered OK with result %d", (int)cc, (int)resp->result_case);
	if (code != FAIRPAY__V1__CODE__OK && resp != NULL &&
	    resp->result_case != FAIRPAY__V1__RESPONSE__RESULT__NOT_SET)
		fail_msg("call %d answered %s with a result set", (int)cc, h_code_name(code));
	if (out != NULL)
		*out = resp;
	else
		fp_response_free(resp);
	return code;
}

int h_put_product(fp_client *c, const Fairpay__V1__Product *p, Fairpay__V1__Response **resp)
{
	Fairpay__V1__PutProductRequest m = FAIRPAY__V1__PUT_PRODUCT_REQUEST__INIT;
	m.product = (Fairpay__V1__Product *)p;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_PUT_PRODUCT, &m, NULL, resp);
}

int h_get_product(fp_client *c, const char *sku, Fairpay__V1__Response **resp)
{
	Fairpay__V1__GetProductRequest m = FAIRPAY__V1__GET_PRODUCT_REQUEST__INIT;
	m.sku = (char *)sku;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_GET_PRODUCT, &m, NULL, resp);
}

int h_list_products(fp_client *c, const char *page_token, uint32_t limit,
		    Fairpay__V1__Response **resp)
{
	Fairpay__V1__ListProductsRequest m = FAIRPAY__V1__LIST_PRODUCTS_REQUEST__INIT;
	if (page_token != NULL)
		m.page_token = (char *)page_token;
	m.limit = limit;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_LIST_PRODUCTS, &m, NULL, resp);
}

int h_put_policy(fp_client *c, const Fairpay__V1__Policy *p, bool set_excusing_reasons,
		 Fairpay__V1__Response **resp)
{
	Fairpay__V1__PutPolicyRequest m = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	m.policy = (Fairpay__V1__Policy *)p;
	m.set_excusing_reasons = set_excusing_reasons;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_PUT_POLICY, &m, NULL, resp);
}

int h_get_policy(fp_client *c, Fairpay__V1__Response **resp)
{
	Fairpay__V1__GetPolicyRequest m = FAIRPAY__V1__GET_POLICY_REQUEST__INIT;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_GET_POLICY, &m, NULL, resp);
}

int h_create_offer(fp_client *c, const char *customer, const char *sku,
		   const Fairpay__V1__OfferOverrides *ov, Fairpay__V1__Response **resp)
{
	Fairpay__V1__CreateOfferRequest m = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	m.customer_id = (char *)customer;
	m.sku = (char *)sku;
	m.overrides = (Fairpay__V1__OfferOverrides *)ov;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER, &m, NULL, resp);
}

int h_accept_offer(fp_client *c, const char *offer_id, Fairpay__V1__Response **resp)
{
	Fairpay__V1__AcceptOfferRequest m = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
	m.offer_id = (char *)offer_id;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER, &m, NULL, resp);
}

int h_decline_offer(fp_client *c, const char *offer_id, Fairpay__V1__Response **resp)
{
	Fairpay__V1__DeclineOfferRequest m = FAIRPAY__V1__DECLINE_OFFER_REQUEST__INIT;
	m.offer_id = (char *)offer_id;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_DECLINE_OFFER, &m, NULL, resp);
}

int h_get_offer(fp_client *c, const char *offer_id, Fairpay__V1__Response **resp)
{
	Fairpay__V1__GetOfferRequest m = FAIRPAY__V1__GET_OFFER_REQUEST__INIT;
	m.offer_id = (char *)offer_id;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_GET_OFFER, &m, NULL, resp);
}

int h_submit_payment(fp_client *c, const Fairpay__V1__SubmitPaymentRequest *sp,
		     const char *idem_key, Fairpay__V1__Response **resp)
{
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT, (void *)sp, idem_key, resp);
}

int h_pay(fp_client *c, const char *offer_id, int64_t amount, Fairpay__V1__Response **resp)
{
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = (char *)offer_id;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
	m.amount_minor = amount;
	return h_submit_payment(c, &m, NULL, resp);
}

int h_pay_differential(fp_client *c, const char *offer_id, int32_t differential_bp,
		       Fairpay__V1__Response **resp)
{
	Fairpay__V1__SubmitPaymentRequest m = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	m.offer_id = (char *)offer_id;
	m.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_DIFFERENTIAL_BP;
	m.differential_bp = differential_bp;
	return h_submit_payment(c, &m, NULL, resp);
}

int h_review_payment(fp_client *c, const char *payment_id, bool accept, const char *note,
		     Fairpay__V1__Response **resp)
{
	Fairpay__V1__ReviewPaymentRequest m = FAIRPAY__V1__REVIEW_PAYMENT_REQUEST__INIT;
	m.payment_id = (char *)payment_id;
	m.accept_reasons = accept;
	if (note != NULL)
		m.note = (char *)note;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_REVIEW_PAYMENT, &m, NULL, resp);
}

int h_get_reputation(fp_client *c, const char *customer, Fairpay__V1__Response **resp)
{
	Fairpay__V1__GetReputationRequest m = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	m.customer_id = (char *)customer;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION, &m, NULL, resp);
}

int h_feed(fp_client *c, uint64_t after_id, uint32_t limit, uint32_t wait_ms,
	   Fairpay__V1__Response **resp)
{
	Fairpay__V1__ListEventsRequest m = FAIRPAY__V1__LIST_EVENTS_REQUEST__INIT;
	m.after_id = after_id;
	m.limit = limit;
	m.wait_ms = wait_ms;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_LIST_EVENTS, &m, NULL, resp);
}

int h_list_events(fp_client *c, const char *customer, uint64_t after_id, uint32_t limit,
		  Fairpay__V1__Response **resp)
{
	Fairpay__V1__ListCustomerEventsRequest m = FAIRPAY__V1__LIST_CUSTOMER_EVENTS_REQUEST__INIT;
	m.customer_id = (char *)customer;
	m.after_id = after_id;
	m.limit = limit;
	return h_vcall(c, FAIRPAY__V1__REQUEST__CALL_LIST_CUSTOMER_EVENTS, &m, NULL, resp);
}

void h_must(int code, const char *what)
{
	if (code != FAIRPAY__V1__CODE__OK)
		fail_msg("%s answered %s: '%s' (field '%s')", what, h_code_name(code),
			 h_last_message(), h_last_field());
}

void h_product(fp_client *c, const char *sku, int64_t sp, int64_t list_price)
{
	Fairpay__V1__Product p = FAIRPAY__V1__PRODUCT__INIT;
	p.sku = (char *)sku;
	p.name = (char *)sku;
	p.currency = "USD";
	p.suggested_price_minor = sp;
	p.list_price_minor = list_price;
	h_must(h_put_product(c, &p, NULL), "PutProduct");
}

char *h_offer(fp_client *c, const char *customer, const char *sku)
{
	Fairpay__V1__Response *resp = NULL;
	h_must(h_create_offer(c, customer, sku, NULL, &resp), "CreateOffer");
	char *id = dup_or_fail(resp->create_offer->offer->offer_id);
	fp_response_free(resp);
	return id;
}

void h_accept(fp_client *c, const char *offer_id)
{
	h_must(h_accept_offer(c, offer_id, NULL), "AcceptOffer");
}

Fairpay__V1__Response *h_cycle(fp_client *c, const char *customer, const char *sku, int64_t amount)
{
	char *id = h_offer(c, customer, sku);
	h_accept(c, id);
	Fairpay__V1__Response *resp = NULL;
	h_must(h_pay(c, id, amount, &resp), "SubmitPayment");
	free(id);
	return resp;
}

Fairpay__V1__Response *h_reputation(fp_client *c, const char *customer)
{
	Fairpay__V1__Response *resp = NULL;
	h_must(h_get_reputation(c, customer, &resp), "GetReputation");
	if (resp->get_reputation->reputation == NULL)
		fail_msg("GetReputation answered OK without a reputation");
	return resp;
}

void h_assert_reasons(const Fairpay__V1__Offer *o, size_t n, ...)
{
	char want[256] = "", got[256] = "";
	int want_v[16];
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n && i < 16; i++) {
		want_v[i] = va_arg(ap, int);
		size_t used = strlen(want);
		snprintf(want + used, sizeof(want) - used, "%s%d", i ? "," : "", want_v[i]);
	}
	va_end(ap);
	for (size_t i = 0; i < o->n_reasons; i++) {
		size_t used = strlen(got);
		snprintf(got + used, sizeof(got) - used, "%s%d", i ? "," : "", (int)o->reasons[i]);
	}
	if (strcmp(want, got) != 0)
		fail_msg("offer %s reasons [%s], want [%s] (OfferReason numbers)", o->offer_id, got,
			 want);
}

bool h_wait_offer_status(fp_client *c, const char *offer_id, int want, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	for (;;) {
		Fairpay__V1__Response *resp = NULL;
		h_must(h_get_offer(c, offer_id, &resp), "GetOffer");
		int status = (int)resp->get_offer->offer->status;
		fp_response_free(resp);
		if (status == want)
			return true;
		if (h_now_ms() > deadline)
			return false;
		h_sleep_ms(50);
	}
}

int32_t h_score_step(int32_t score_bp, int32_t fairness_bp, int32_t alpha_bp)
{
	int64_t f = fairness_bp < 15000 ? fairness_bp : 15000;
	return (int32_t)(score_bp + (f - score_bp) * alpha_bp / 10000);
}

int32_t h_score_replay(int32_t prior_bp, int32_t alpha_bp, const int32_t *fairness_bp, size_t n)
{
	int32_t score = prior_bp;
	for (size_t i = 0; i < n; i++)
		score = h_score_step(score, fairness_bp[i], alpha_bp);
	return score;
}

/* ---------------------------------------------------------------- clients for worker threads */

void h_rc_init(h_rclient *rc, const char *port, const char *api_key)
{
	init();
	memset(rc, 0, sizeof(*rc));
	snprintf(rc->port, sizeof(rc->port), "%s", port);
	snprintf(rc->api_key, sizeof(rc->api_key), "%s", api_key);
	rc->opts = H.opts;
}

void h_rc_close(h_rclient *rc)
{
	fp_client_free(rc->c);
	rc->c = NULL;
}

/* Connect and authenticate: OK, the code Authenticate answered, or
 * H_NO_REPLY when there is no connection. */
static int rc_open(h_rclient *rc)
{
	fp_client *c = fp_client_new();
	if (c == NULL) {
		snprintf(rc->err, sizeof(rc->err), "out of memory");
		return H_NO_REPLY;
	}
	if (fp_client_connect(c, "127.0.0.1", rc->port, &rc->opts) != 0) {
		snprintf(rc->err, sizeof(rc->err), "connect: %s", fp_client_error_message(c));
		fp_client_free(c);
		return H_NO_REPLY;
	}
	if (fp_client_authenticate(c, rc->api_key, NULL, NULL) != 0) {
		int code = fp_client_error_kind(c) == FP_ERR_SERVER ? fp_client_error_code(c)
								    : H_NO_REPLY;
		snprintf(rc->err, sizeof(rc->err), "Authenticate: %s (%s)", h_code_name(code),
			 fp_client_error_message(c));
		fp_client_free(c);
		return code;
	}
	rc->c = c;
	rc->connects++;
	return FAIRPAY__V1__CODE__OK;
}

int h_rc_call(h_rclient *rc, Fairpay__V1__Request *req, Fairpay__V1__Response **out)
{
	if (out != NULL)
		*out = NULL;
	rc->err[0] = '\0';
	if (rc->c == NULL) {
		int code = rc_open(rc);
		if (code != FAIRPAY__V1__CODE__OK)
			return code;
	}
	/* A new id for each attempt: the last one may have been on another
	 * connection. */
	req->id = 0;
	Fairpay__V1__Response *resp = NULL;
	int rc_call = fp_client_call(rc->c, req, &resp);
	if (resp == NULL) {
		snprintf(rc->err, sizeof(rc->err), "%s",
			 rc_call == 0 ? "no reply" : fp_client_error_message(rc->c));
		h_rc_close(rc);
		return H_NO_REPLY;
	}
	int code = resp->status != NULL ? (int)resp->status->code : 0;
	if (code != FAIRPAY__V1__CODE__OK)
		snprintf(rc->err, sizeof(rc->err), "%s (field '%s')",
			 resp->status->message ? resp->status->message : "",
			 resp->status->field ? resp->status->field : "");
	if (out != NULL)
		*out = resp;
	else
		fp_response_free(resp);
	return code;
}

/* ---------------------------------------------------------------- limits and TLS hardening */

/* What this block needs beyond the headers at the top. */
#include <dirent.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

long h_raise_nofile(long want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		fail_msg("getrlimit: %s", strerror(errno));
	if ((long)rl.rlim_cur < want) {
		rlim_t cap = rl.rlim_max == RLIM_INFINITY ? (rlim_t)want : rl.rlim_max;
		rl.rlim_cur = (rlim_t)want < cap ? (rlim_t)want : cap;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			fail_msg("setrlimit(RLIMIT_NOFILE, %ld): %s", (long)rl.rlim_cur,
				 strerror(errno));
	}
	return (long)rl.rlim_cur;
}

int h_proc_fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

long h_proc_status_kb(pid_t pid, const char *field)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char line[256];
	long kb = -1;
	size_t fl = strlen(field);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			kb = strtol(line + fl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

bool h_server_sanitized(const h_server *s)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)s->pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "libasan") != NULL;
	fclose(f);
	return found;
}

static int count_in(const char *hay, const char *needle)
{
	int n = 0;
	size_t nl = strlen(needle);
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + nl, needle))
		n++;
	return n;
}

int h_log_count(const h_server *s, const char *needle)
{
	char *log = h_server_log(s);
	int n = count_in(log, needle);
	free(log);
	return n;
}

bool h_wait_log(const h_server *s, const char *needle, int n, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	for (;;) {
		if (h_log_count(s, needle) >= n)
			return true;
		if (h_now_ms() > deadline)
			return false;
		h_sleep_ms(20);
	}
}

/* The start of the last line of log that contains needle, or NULL. */
static const char *last_line_with(const char *log, const char *needle)
{
	const char *last = NULL;
	size_t nl = strlen(needle);
	for (const char *p = strstr(log, needle); p != NULL; p = strstr(p + nl, needle))
		last = p;
	return last;
}

long long h_stats_counter(const h_server *s, const char *name)
{
	char *log = h_server_log(s);
	long long v = -1;
	const char *line = last_line_with(log, "stats: ");
	if (line != NULL) {
		const char *end = strchr(line, '\n');
		size_t nl = strlen(name);
		/* Tokens "name=N" follow "stats:", separated by spaces. */
		for (const char *p = line + 7; p != NULL && (end == NULL || p < end);) {
			while (*p == ' ')
				p++;
			if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
				v = strtoll(p + nl + 1, NULL, 10);
				break;
			}
			p = strchr(p, ' ');
		}
	}
	free(log);
	return v;
}

/* The last line of the server's log that holds needle, for messages. */
static char *log_line(const h_server *s, const char *needle)
{
	char *log = h_server_log(s);
	const char *line = last_line_with(log, needle);
	char *out = NULL;
	if (line != NULL) {
		while (line > log && line[-1] != '\n')
			line--;
		out = strndup(line, strcspn(line, "\n"));
	}
	free(log);
	return out != NULL ? out : strdup("(none)");
}

long long h_wait_stats(const h_server *s, const char *name, long long min, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	for (;;) {
		long long v = h_stats_counter(s, name);
		if (v >= min)
			return v;
		if (h_now_ms() > deadline) {
			char tail[2048];
			char *line = log_line(s, "stats: ");
			fail_msg("no stats line with %s >= %lld within %d ms; last stats line: %s\n"
				 "log tail:\n%s",
				 name, min, timeout_ms, line, log_tail(s, tail, sizeof(tail)));
		}
		h_sleep_ms(20);
	}
}

long long h_limit_total(const h_server *s, const char *name)
{
	char *needle = h_fmt("limit %s hit (total ", name);
	char *log = h_server_log(s);
	const char *line = last_line_with(log, needle);
	long long v = line != NULL ? strtoll(line + strlen(needle), NULL, 10) : -1;
	free(log);
	free(needle);
	return v;
}

long long h_wait_limit(const h_server *s, const char *name, long long min, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	for (;;) {
		long long v = h_limit_total(s, name);
		if (v >= min)
			return v;
		if (h_now_ms() > deadline) {
			char tail[2048];
			fail_msg("no log line \"limit %s hit (total N)\" with N >= %lld within "
				 "%d ms (last total %lld); log tail:\n%s",
				 name, min, timeout_ms, v, log_tail(s, tail, sizeof(tail)));
		}
		h_sleep_ms(20);
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int64_t h_percentile(int64_t *v, size_t n, double p)
{
	if (n == 0)
		fail_msg("h_percentile of no values");
	qsort(v, n, sizeof(*v), cmp_i64);
	/* Nearest rank: the smallest value with at least p% at or below it. */
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

h_tls *h_tls_open(const char *port, const h_tls_opts *o, char *err, size_t errlen)
{
	static const h_tls_opts none;
	if (o == NULL)
		o = &none;
	init();
	ERR_clear_error();
	h_tls *t = calloc(1, sizeof(*t));
	if (t == NULL)
		fail_msg("out of memory");
	t->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (t->fd < 0)
		fail_msg("socket: %s", strerror(errno));
	if (o->rcvbuf > 0)
		setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof(o->rcvbuf));
	struct sockaddr_in sa = { 0 };
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)atoi(port));
	if (connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		close(t->fd);
		free(t);
		return NULL;
	}
	int one = 1;
	setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = { 10, 0 };
	setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL)
		fail_msg("SSL_CTX_new failed");
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(t->ctx, H.ca, NULL) != 1)
		fail_msg("cannot load %s", H.ca);
	if (o->min_version != 0 && SSL_CTX_set_min_proto_version(t->ctx, o->min_version) != 1)
		fail_msg("set_min_proto_version failed");
	if (o->max_version != 0 && SSL_CTX_set_max_proto_version(t->ctx, o->max_version) != 1)
		fail_msg("set_max_proto_version failed");
	if (o->cert_file != NULL) {
		const char *key = o->key_file != NULL ? o->key_file : o->cert_file;
		if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert_file) != 1 ||
		    SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1)
			fail_msg("cannot load the client certificate %s / %s", o->cert_file, key);
	}
	static const unsigned char alpn[] = "\x09"
					    "fairpay/1";
	SSL_CTX_set_alpn_protos(t->ctx, alpn, sizeof(alpn) - 1);
	t->ssl = SSL_new(t->ctx);
	if (t->ssl == NULL)
		fail_msg("SSL_new failed");
	X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
	if (X509_VERIFY_PARAM_set1_ip_asc(param, "127.0.0.1") != 1)
		fail_msg("X509_VERIFY_PARAM_set1_ip_asc failed");
	SSL_set_fd(t->ssl, t->fd);
	if (o->session != NULL && SSL_set_session(t->ssl, o->session) != 1)
		fail_msg("SSL_set_session failed");
	if (o->early_data != NULL) {
		size_t written = 0;
		if (SSL_write_early_data(t->ssl, o->early_data, o->early_len, &written) != 1) {
			ssl_errors(err, errlen, "SSL_write_early_data failed");
			h_tls_close(t);
			return NULL;
		}
	}
	int r = SSL_connect(t->ssl);
	if (r != 1) {
		char what[128];
		snprintf(what, sizeof(what), "handshake failed (SSL_get_error %d, errno %s)",
			 SSL_get_error(t->ssl, r), strerror(errno));
		ssl_errors(err, errlen, what);
		h_tls_close(t);
		return NULL;
	}
	return t;
}

struct ssl_st *h_tls_ssl(h_tls *t)
{
	return t->ssl;
}

int h_tls_fd(h_tls *t)
{
	return t->fd;
}

void h_tls_shutdown_close(h_tls *t)
{
	if (t == NULL)
		return;
	/* One call sends our close_notify; we do not wait for the peer's. */
	SSL_shutdown(t->ssl);
	h_tls_close(t);
}

int h_tls_call(h_tls *t, Fairpay__V1__Request *req, int timeout_ms, Fairpay__V1__Response **out)
{
	if (out != NULL)
		*out = NULL;
	size_t n = fairpay__v1__request__get_packed_size(req);
	uint8_t *buf = malloc(4 + n);
	if (buf == NULL)
		fail_msg("out of memory");
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	fairpay__v1__request__pack(req, buf + 4);
	ERR_clear_error();
	int w = SSL_write(t->ssl, buf, (int)(4 + n));
	free(buf);
	if (w != (int)(4 + n)) {
		ssl_errors(H.last_message, sizeof(H.last_message), "SSL_write failed");
		H.last_field[0] = '\0';
		return H_NO_REPLY;
	}
	int64_t deadline = h_now_ms() + timeout_ms;
	for (;;) {
		Fairpay__V1__Response *resp = NULL;
		int64_t left = deadline - h_now_ms();
		h_read r = h_tls_read(t, left > 0 ? (int)left : 0, &resp);
		if (r != H_READ_FRAME) {
			snprintf(H.last_message, sizeof(H.last_message), "%s",
				 r == H_READ_TIMEOUT  ? "no reply in time"
				 : r == H_READ_CLOSED ? "the server closed the connection"
						      : "TLS or decode error");
			H.last_field[0] = '\0';
			return H_NO_REPLY;
		}
		if (resp->id != req->id && resp->id != 0) {
			/* A reply to an earlier pipelined request. */
			fairpay__v1__response__free_unpacked(resp, NULL);
			continue;
		}
		const Fairpay__V1__Status *st = resp->status;
		int code = st != NULL ? (int)st->code : 0;
		snprintf(H.last_message, sizeof(H.last_message), "%s",
			 st != NULL && st->message ? st->message : "");
		snprintf(H.last_field, sizeof(H.last_field), "%s",
			 st != NULL && st->field ? st->field : "");
		if (resp->id == 0 && req->id != 0)
			snprintf(H.last_message, sizeof(H.last_message),
				 "connection-level error (Response id 0): %s",
				 st != NULL && st->message ? st->message : "");
		/* An id 0 reply ends the wait: the server closes after it. */
		if (resp->id == 0 && req->id != 0 && code == 0)
			code = H_NO_REPLY;
		if (out != NULL)
			*out = resp;
		else
			fairpay__v1__response__free_unpacked(resp, NULL);
		return code;
	}
}

int h_tls_ping(h_tls *t, uint64_t id)
{
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.id = id;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
	req.ping = &ping;
	return h_tls_call(t, &req, 10000, NULL);
}

int h_tls_auth(h_tls *t, uint64_t id, const char *api_key)
{
	Fairpay__V1__AuthenticateRequest a = FAIRPAY__V1__AUTHENTICATE_REQUEST__INIT;
	a.api_key = (char *)api_key;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.id = id;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_AUTHENTICATE;
	req.authenticate = &a;
	return h_tls_call(t, &req, 10000, NULL);
}

int h_tls_get_policy(h_tls *t, uint64_t id)
{
	Fairpay__V1__GetPolicyRequest gp = FAIRPAY__V1__GET_POLICY_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.id = id;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_GET_POLICY;
	req.get_policy = &gp;
	return h_tls_call(t, &req, 10000, NULL);
}

struct ssl_session_st *h_tls_session(h_tls *t)
{
	/* TLS 1.3 tickets come after the handshake; a read (done by the
	 * caller's last call) has processed those sent so far. */
	SSL_SESSION *s = SSL_get1_session(t->ssl);
	if (s == NULL)
		fail_msg("the connection has no session");
	return s;
}

static void hex64(const unsigned char *md, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void h_tls_peer_sha256(h_tls *t, char out[65])
{
	X509 *x = SSL_get1_peer_certificate(t->ssl);
	if (x == NULL)
		fail_msg("the server sent no certificate");
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (X509_digest(x, EVP_sha256(), md, &len) != 1 || len != 32)
		fail_msg("X509_digest failed");
	X509_free(x);
	hex64(md, out);
}

void h_cert_sha256(const char *pem_path, char out[65])
{
	FILE *f = fopen(pem_path, "r");
	if (f == NULL)
		fail_msg("%s: %s", pem_path, strerror(errno));
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		fail_msg("%s holds no PEM certificate", pem_path);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (X509_digest(x, EVP_sha256(), md, &len) != 1 || len != 32)
		fail_msg("X509_digest failed");
	X509_free(x);
	hex64(md, out);
}

char *h_cert_path(const char *name)
{
	init();
	return h_path(H.certs, name);
}

int h_register_cert(fp_client *c, const char *key_id, const char *cert_sha256)
{
	Fairpay__V1__RegisterClientCertRequest rc = FAIRPAY__V1__REGISTER_CLIENT_CERT_REQUEST__INIT;
	rc.key_id = (char *)key_id;
	rc.cert_sha256 = (char *)cert_sha256;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_REGISTER_CLIENT_CERT;
	req.register_client_cert = &rc;
	Fairpay__V1__Response *resp = NULL;
	int code = h_call(c, &req, &resp);
	if (code == 0 && resp->result_case != FAIRPAY__V1__RESPONSE__RESULT_REGISTER_CLIENT_CERT)
		fail_msg("RegisterClientCert answered OK without a RegisterClientCertResponse");
	fp_response_free(resp);
	return code;
}

int h_try_connect_cert(const h_server *s, const char *name, fp_client **out, char *err,
		       size_t errlen)
{
	char *base = h_cert_path(name);
	char *cert = h_fmt("%s.pem", base);
	char *key = h_fmt("%s.key", base);
	fp_client_options opts = *h_client_options();
	opts.cert_file = cert;
	opts.key_file = key;
	int rc = h_try_connect(s->port, &opts, out, err, errlen);
	free(key);
	free(cert);
	free(base);
	return rc;
}
