/* Integration tests of the throwaway PostgreSQL cluster (scripts/pg.sh) that
 * the tests, the demo and the benchmark run on.
 *
 * Its connections need no password (trust), so the cluster must be
 * reachable by its own user (and root) only: it listens on no TCP address
 * at all, host lines of pg_hba.conf reject, and the directory of its socket
 * is mode 0700 and belongs to the user the cluster runs as. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "harness.h"

static char *admin_conninfo(void)
{
	return h_fmt("host=%s port=%s user=postgres dbname=postgres", h_env("FP_PGHOST"),
		     h_env("FP_PGPORT"));
}

/* Fail unless a TCP connect to addr:port (family af) is refused. */
static void expect_no_tcp(int af, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
		len = sizeof(*sin6);
	}
	int fd = socket(af, SOCK_STREAM, 0);
	if (fd < 0) {
		printf("no %s sockets here (%s): nothing to connect to\n", addr, strerror(errno));
		return;
	}
	int rc = connect(fd, (struct sockaddr *)&ss, len);
	int err = errno;
	close(fd);
	if (rc == 0)
		fail_msg("the cluster accepts TCP connections on %s port %d", addr, port);
	printf("TCP %s port %d: %s\n", addr, port, strerror(err));
}

static void test_no_tcp(void **state)
{
	char *admin = admin_conninfo();
	/* The cluster itself: no address to listen on, and host lines reject
	 * should one be added. */
	char *listen = h_sql(admin, "SELECT current_setting('listen_addresses')");
	if (listen != NULL && listen[0] != '\0')
		fail_msg("listen_addresses is '%s', want '' (the socket only)", listen);
	free(listen);
	assert_int_equal(h_sql_int(admin, "SELECT count(*) FROM pg_hba_file_rules "
					  "WHERE type LIKE 'host%' AND auth_method <> 'reject'"),
			 0);
	assert_true(h_sql_int(admin, "SELECT count(*) FROM pg_hba_file_rules "
				     "WHERE type = 'local'") > 0);

	/* Nothing answers on its port over TCP, and libpq cannot get in that way. */
	int port = atoi(h_env("FP_PGPORT"));
	assert_true(port > 0);
	expect_no_tcp(AF_INET, "127.0.0.1", port);
	expect_no_tcp(AF_INET6, "::1", port);
	char *tcp = h_fmt("host=127.0.0.1 port=%d user=postgres dbname=postgres "
			  "connect_timeout=5",
			  port);
	PGconn *pg = PQconnectdb(tcp);
	if (PQstatus(pg) == CONNECTION_OK)
		fail_msg("libpq connected over TCP: %s", tcp);
	PQfinish(pg);
	free(tcp);

	/* The socket works. */
	char *one = h_sql(admin, "SELECT 1");
	assert_non_null(one);
	assert_string_equal(one, "1");
	free(one);
	free(admin);
}

static void test_socket_dir_private(void **state)
{
	const char *sock = h_env("FP_PGHOST");
	struct stat st, data;
	if (stat(sock, &st) != 0)
		fail_msg("%s: %s", sock, strerror(errno));
	assert_true(S_ISDIR(st.st_mode));
	if ((st.st_mode & 0077) != 0)
		fail_msg("%s has mode %04o: others may reach the socket (want 0700)", sock,
			 (unsigned)(st.st_mode & 07777));
	/* Owned by the user the cluster runs as: the owner of its data. */
	char *datadir = h_fmt("%s/data", h_env("FP_PGDATA"));
	if (stat(datadir, &data) != 0)
		fail_msg("%s: %s", datadir, strerror(errno));
	assert_int_equal(st.st_uid, data.st_uid);
	free(datadir);

	/* The socket file itself, for good measure. */
	char *file = h_fmt("%s/.s.PGSQL.%s", sock, h_env("FP_PGPORT"));
	struct stat sf;
	if (stat(file, &sf) != 0)
		fail_msg("%s: %s", file, strerror(errno));
	assert_true(S_ISSOCK(sf.st_mode));
	if ((sf.st_mode & 0077) != 0)
		fail_msg("%s has mode %04o, want 0700", file, (unsigned)(sf.st_mode & 07777));
	free(file);

	/* What the cluster says it uses. */
	char *admin = admin_conninfo();
	char *perm = h_sql(admin, "SELECT current_setting('unix_socket_permissions')");
	assert_non_null(perm);
	assert_string_equal(perm, "0700");
	free(perm);
	free(admin);
}

/* pg.sh conninfo, which the scripts use, names the socket, not an address. */
static void test_conninfo_names_socket(void **state)
{
	char *script = h_path(h_root_dir(), "scripts/pg.sh");
	char *q = h_shq(script);
	char *dir = h_shq(h_env("FP_PGDATA"));
	char *cmd = h_fmt("%s conninfo %s", q, dir);
	char *out = NULL;
	assert_int_equal(h_run(cmd, &out), 0);
	char *want = h_fmt("host=%s port=%s ", h_env("FP_PGHOST"), h_env("FP_PGPORT"));
	if (!h_contains(out, want))
		fail_msg("pg.sh conninfo printed '%s', want it to start with '%s'", out, want);
	free(want);
	free(out);
	free(cmd);
	free(dir);
	free(q);
	free(script);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_tcp),
		cmocka_unit_test(test_socket_dir_private),
		cmocka_unit_test(test_conninfo_names_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
