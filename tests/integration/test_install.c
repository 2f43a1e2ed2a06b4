/* Integration tests of `make install` as a packager and a library user meet
 * it: the files a DESTDIR install lays out and their modes, the installed
 * header compiling on its own, a program built with `pkg-config fairpay`
 * (shared and static) talking to a live fairpayd, the man pages rendering,
 * `make uninstall` leaving nothing behind, scripts/check-docker.sh catching
 * deliberate mismatches (its self-test) and the image's password-file
 * wrapper. */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* The prefix the tree is installed under, below DESTDIR. */
#define PREFIX "/usr"

static struct {
	char *build;        /* BUILD= for make: the real build directory, as built */
	char *make;         /* "cd ROOT && env -u MAKEFLAGS ... make BUILD=.. CC=.. [SAN=..]" */
	char *destdir;      /* $FP_TMP/install */
	char *root;         /* destdir + PREFIX */
	char *pkgenv;       /* pkg-config's environment for the DESTDIR tree */
	char *version;      /* the VERSION file */
	const char *cc_san; /* the sanitizers the library was built with, for cc */
	char *db;
	char *admin_key;
	h_server *srv;
} T;

static void expect_exit(int got, int want, const char *out)
{
	if (got != want)
		fail_msg("exit status %d, want %d; output:\n%s", got, want, out ? out : "");
}

/* The contents of a file, malloc'ed, without its trailing newlines. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	char *buf = calloc(1, 65536);
	size_t n = buf != NULL ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	if (buf == NULL)
		fail_msg("out of memory");
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return buf;
}

/* The build directory the binaries really live in (FP_BUILD may be a
 * directory of symbolic links), relative to the repository when inside it,
 * so that make sees the BUILD it was built with and rebuilds nothing. */
static char *real_build_dir(void)
{
	char *bin = h_path(h_build_dir(), "fairpayd");
	char real[PATH_MAX];
	if (realpath(bin, real) == NULL)
		fail_msg("cannot resolve %s", bin);
	free(bin);
	char *dir = dirname(real);
	size_t rl = strlen(h_root_dir());
	if (strncmp(dir, h_root_dir(), rl) == 0 && dir[rl] == '/')
		return strdup(dir + rl + 1);
	return strdup(dir);
}

/* The path of an installed file under DESTDIR/PREFIX. */
static char *inst(const char *rel)
{
	return h_fmt("%s/%s", T.root, rel);
}

/* Fail unless rel is a regular file of mode `mode` in the installed tree. */
static void expect_file(const char *rel, mode_t mode)
{
	char *p = inst(rel);
	struct stat st;
	if (lstat(p, &st) != 0)
		fail_msg("%s was not installed", p);
	if (!S_ISREG(st.st_mode))
		fail_msg("%s is not a regular file", p);
	if ((st.st_mode & 07777) != mode)
		fail_msg("%s has mode %04o, want %04o", p, (unsigned)(st.st_mode & 07777),
			 (unsigned)mode);
	free(p);
}

/* Fail unless rel is a symbolic link to target. */
static void expect_link(const char *rel, const char *target)
{
	char *p = inst(rel);
	char buf[PATH_MAX];
	ssize_t n = readlink(p, buf, sizeof buf - 1);
	if (n < 0)
		fail_msg("%s is not a symbolic link", p);
	buf[n] = '\0';
	if (strcmp(buf, target) != 0)
		fail_msg("%s points to %s, want %s", p, buf, target);
	free(p);
}

static int setup(void **state)
{
	T.build = real_build_dir();
	char *flags_path = h_fmt("%s/%s/.flags", h_root_dir(), T.build);
	if (T.build[0] == '/') {
		free(flags_path);
		flags_path = h_fmt("%s/.flags", T.build);
	}
	char *flags = slurp(flags_path);
	free(flags_path);
	/* make must see the compiler and SAN the build was made with (its
	 * .flags: "CC CPPFLAGS CFLAGS"), or it would rebuild everything. */
	size_t cc_len = strcspn(flags, " ");
	char *cc = strndup(flags, cc_len);
	const char *san = h_contains(flags, "-fsanitize=fuzzer")    ? " SAN=fuzz"
			  : h_contains(flags, "-fsanitize=address") ? " SAN=1"
								    : "";
	/* An instrumented library needs its runtime in the program too. */
	T.cc_san = *san != '\0' ? "-fsanitize=address,undefined" : "";
	free(flags);
	char *qroot = h_shq(h_root_dir());
	char *qbuild = h_shq(T.build);
	char *qcc = h_shq(cc);
	/* Not the test runner's make: its jobserver is not ours. */
	T.make = h_fmt("cd %s && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory "
		       "BUILD=%s CC=%s%s",
		       qroot, qbuild, qcc, san);
	free(qcc);
	free(cc);
	free(qbuild);
	free(qroot);
	T.destdir = h_path(h_tmp_dir(), "install");
	T.root = h_fmt("%s%s", T.destdir, PREFIX);
	/* The tree as if installed on the system: pkg-config prefixes the
	 * paths of fairpay.pc with the sysroot; the system's packages stay
	 * visible through the default search path. */
	T.pkgenv = h_fmt("PKG_CONFIG_SYSROOT_DIR='%s' PKG_CONFIG_PATH='%s/lib/pkgconfig'",
			 T.destdir, T.root);
	char *vf = h_path(h_root_dir(), "VERSION");
	T.version = slurp(vf);
	free(vf);

	T.db = h_db_create("fp_it_install");
	h_migrate(T.db);
	T.admin_key = h_bootstrap_admin(T.db);
	T.srv = h_server_start(T.db, NULL);
	return 0;
}

static int teardown(void **state)
{
	h_server_free(T.srv);
	free(T.admin_key);
	free(T.db);
	free(T.version);
	free(T.pkgenv);
	free(T.root);
	free(T.destdir);
	free(T.make);
	free(T.build);
	return 0;
}

static void test_install_layout(void **state)
{
	char *out = NULL;
	int rc = h_runf(&out, "rm -rf '%s' && %s install DESTDIR='%s' PREFIX=" PREFIX " 2>&1",
			T.destdir, T.make, T.destdir);
	expect_exit(rc, 0, out);
	free(out);

	expect_file("bin/fairpayd", 0755);
	expect_file("bin/fairpayctl", 0755);
	expect_file("lib/libfairpay.a", 0644);
	char *real = h_fmt("libfairpay.so.%s", T.version);
	char *real_rel = h_fmt("lib/%s", real);
	expect_file(real_rel, 0755);
	expect_link("lib/libfairpay.so.1", real);
	expect_link("lib/libfairpay.so", "libfairpay.so.1");
	expect_file("include/fairpay/client.h", 0644);
	expect_file("include/fairpay/fairpay.pb-c.h", 0644);
	expect_file("lib/pkgconfig/fairpay.pc", 0644);
	expect_file("share/fairpay/fairpay.proto", 0644);
	expect_file("share/man/man8/fairpayd.8", 0644);
	expect_file("share/man/man1/fairpayctl.1", 0644);
	expect_file("share/doc/fairpay/README.md", 0644);
	expect_file("share/doc/fairpay/docs/protocol-notes.md", 0644);

	/* The soname the real file carries is the link installed for it. */
	rc = h_runf(&out, "readelf -d '%s/%s'", T.root, real_rel);
	expect_exit(rc, 0, out);
	if (!h_contains(out, "Library soname: [libfairpay.so.1]"))
		fail_msg("%s has another soname:\n%s", real_rel, out);
	free(out);
	free(real_rel);
	free(real);

	/* The installed binaries are the build's, and run. */
	rc = h_runf(&out, "'%s/bin/fairpayd' --version", T.root);
	expect_exit(rc, 0, out);
	char *want = h_fmt("fairpayd %s", T.version);
	if (!h_contains(out, want))
		fail_msg("fairpayd --version says '%s', want '%s'", out, want);
	free(want);
	free(out);

	/* The proto file is the repository's, unrewritten (proto3 optional). */
	rc = h_runf(&out, "cmp '%s/proto/fairpay.proto' '%s/share/fairpay/fairpay.proto'",
		    h_root_dir(), T.root);
	expect_exit(rc, 0, out);
	free(out);
}

static void test_pkg_config(void **state)
{
	char *out = NULL;
	int rc = h_runf(&out, "%s pkg-config --modversion fairpay", T.pkgenv);
	expect_exit(rc, 0, out);
	if (strncmp(out, T.version, strlen(T.version)) != 0)
		fail_msg("pkg-config says version '%s', want '%s'", out, T.version);
	free(out);

	rc = h_runf(&out, "%s pkg-config --cflags --libs fairpay", T.pkgenv);
	expect_exit(rc, 0, out);
	char *want_l = h_fmt("-L%s/lib", T.root);
	if (!h_contains(out, want_l) || !h_contains(out, "-lfairpay") ||
	    !h_contains(out, "-lprotobuf-c"))
		fail_msg("pkg-config --libs fairpay: '%s'", out);
	/* OpenSSL is the library's own business when linked shared. */
	if (h_contains(out, "-lssl"))
		fail_msg("pkg-config --libs fairpay names OpenSSL: '%s'", out);
	free(want_l);
	free(out);

	rc = h_runf(&out, "%s pkg-config --static --libs fairpay", T.pkgenv);
	expect_exit(rc, 0, out);
	if (!h_contains(out, "-lssl") || !h_contains(out, "-lcrypto"))
		fail_msg("pkg-config --static --libs fairpay lacks OpenSSL: '%s'", out);
	free(out);

	/* The prefix written into fairpay.pc is the install's, not DESTDIR's. */
	rc = h_runf(&out, "PKG_CONFIG_PATH='%s/lib/pkgconfig' pkg-config --variable=prefix fairpay",
		    T.root);
	expect_exit(rc, 0, out);
	if (strncmp(out, PREFIX "\n", strlen(PREFIX) + 1) != 0)
		fail_msg("fairpay.pc's prefix is '%s', want " PREFIX, out);
	free(out);
}

static void test_header_alone(void **state)
{
	char *src = h_path(h_tmp_dir(), "header_alone.c");
	FILE *f = fopen(src, "w");
	if (f == NULL)
		fail_msg("cannot write %s", src);
	fputs("#include <fairpay/client.h>\n"
	      "int main(void) { return fp_client_new() == NULL; }\n",
	      f);
	fclose(f);
	char *out = NULL;
	int rc = h_runf(&out,
			"cc -std=c11 -Wall -Wextra -Werror -pedantic -c '%s' -o /dev/null "
			"$(%s pkg-config --cflags fairpay) 2>&1",
			src, T.pkgenv);
	expect_exit(rc, 0, out);
	free(out);
	free(src);
}

/* Build tests/integration/install_client.c with pkg-config's flags (extra
 * flags before them) into exe, run it against the server, and check what it
 * printed. */
static void build_and_run(const char *exe, const char *link)
{
	char *src = h_path(h_root_dir(), "tests/integration/install_client.c");
	char *out = NULL;
	int rc = h_runf(&out, "cc -std=c11 -Wall -Wextra -Werror %s '%s' -o '%s' %s 2>&1", T.cc_san,
			src, exe, link);
	expect_exit(rc, 0, out);
	free(out);
	free(src);

	char *ca = h_path(h_certs_dir(), "ca.pem");
	rc = h_runf(&out, "LD_LIBRARY_PATH='%s/lib' '%s' %s '%s' '%s' 2>&1", T.root, exe,
		    T.srv->addr, ca, T.admin_key);
	expect_exit(rc, 0, out);
	if (!h_contains(out, "alpn fairpay/1\n") || !h_contains(out, "ping OK\n") ||
	    !h_contains(out, "role ROLE_ADMIN\n"))
		fail_msg("install_client printed:\n%s", out);
	free(out);

	/* A wrong key is refused through the installed library too. */
	rc = h_runf(&out, "LD_LIBRARY_PATH='%s/lib' '%s' %s '%s' fp_wrong 2>&1", T.root, exe,
		    T.srv->addr, ca);
	expect_exit(rc, 1, out);
	if (!h_contains(out, "authenticate: "))
		fail_msg("install_client with a wrong key printed:\n%s", out);
	free(out);
	free(ca);
}

static void test_program_shared(void **state)
{
	char *exe = h_path(h_tmp_dir(), "install_client");
	char *link = h_fmt("$(%s pkg-config --cflags --libs fairpay)", T.pkgenv);
	build_and_run(exe, link);
	free(link);

	/* It loads the installed library through its soname. */
	char *out = NULL;
	int rc = h_runf(&out, "LD_LIBRARY_PATH='%s/lib' ldd '%s'", T.root, exe);
	expect_exit(rc, 0, out);
	char *want = h_fmt("libfairpay.so.1 => %s/lib/libfairpay.so.1", T.root);
	if (!h_contains(out, want))
		fail_msg("ldd %s does not show '%s':\n%s", exe, want, out);
	free(want);
	free(out);
	free(exe);
}

static void test_program_static(void **state)
{
	/* libfairpay.a, and what it needs from --static (Requires.private). */
	char *exe = h_path(h_tmp_dir(), "install_client_static");
	char *link =
		h_fmt("$(%s pkg-config --cflags fairpay) $(%s pkg-config --libs-only-L fairpay) "
		      "-Wl,-Bstatic -lfairpay -Wl,-Bdynamic "
		      "$(%s pkg-config --static --libs-only-l fairpay | sed 's/-lfairpay//')",
		      T.pkgenv, T.pkgenv, T.pkgenv);
	build_and_run(exe, link);
	free(link);

	char *out = NULL;
	int rc = h_runf(&out, "ldd '%s'", exe);
	expect_exit(rc, 0, out);
	if (h_contains(out, "libfairpay"))
		fail_msg("the static build loads libfairpay:\n%s", out);
	free(out);
	free(exe);
}

/* Fail unless page renders with man, shows name, and groff has nothing to say
 * about its markup. */
static void expect_man(const char *rel, const char *name, const char *option)
{
	char *page = inst(rel);
	char *out = NULL;
	int rc = h_runf(&out, "MANWIDTH=80 man -l '%s' 2>&1 | col -b", page);
	expect_exit(rc, 0, out);
	if (!h_contains(out, "NAME") || !h_contains(out, name) || !h_contains(out, option) ||
	    !h_contains(out, T.version))
		fail_msg("man -l %s shows:\n%s", page, out);
	free(out);
	rc = h_runf(&out, "groff -man -Tutf8 -ww -z '%s' 2>&1", page);
	expect_exit(rc, 0, out);
	if (out[0] != '\0')
		fail_msg("groff warns about %s:\n%s", page, out);
	free(out);
	free(page);
}

static void test_man_pages(void **state)
{
	expect_man("share/man/man8/fairpayd.8", "fairpayd - the FairPay pricing negotiation server",
		   "--listen");
	expect_man("share/man/man1/fairpayctl.1", "fairpayctl - administer and call a FairPay",
		   "bootstrap-admin");
}

static void test_uninstall(void **state)
{
	char *out = NULL;
	int rc =
		h_runf(&out, "%s uninstall DESTDIR='%s' PREFIX=" PREFIX " 2>&1", T.make, T.destdir);
	expect_exit(rc, 0, out);
	free(out);
	/* Nothing of ours is left: no file, no link, no directory of ours. */
	rc = h_runf(&out, "find '%s' ! -type d; find '%s' -name '*fairpay*'", T.destdir, T.destdir);
	expect_exit(rc, 0, out);
	if (out[0] != '\0')
		fail_msg("left behind by make uninstall:\n%s", out);
	free(out);
}

static void test_check_docker_self_test(void **state)
{
	char *out = NULL;
	char *qroot = h_shq(h_root_dir());
	char *qbuild = h_shq(T.build);
	int rc = h_runf(&out, "cd %s && scripts/check-docker.sh --build %s --self-test 2>&1", qroot,
			qbuild);
	expect_exit(rc, 0, out);
	if (!h_contains(out, "check-docker: self-test:") || h_contains(out, "NOT caught"))
		fail_msg("check-docker.sh --self-test:\n%s", out);
	free(out);
	free(qbuild);
	free(qroot);
}

/* docker/with-pgpass.sh, the image's entrypoint wrapper: libpq's password
 * file, private, with the separators escaped, and the program run. */
static void test_with_pgpass(void **state)
{
	char *secret = h_path(h_tmp_dir(), "pgpass-secret");
	char *pgpass = h_path(h_tmp_dir(), "pgpass");
	FILE *f = fopen(secret, "w");
	if (f == NULL)
		fail_msg("cannot write %s", secret);
	fputs("pa:ss\\word\n", f);
	fclose(f);
	char *out = NULL;
	int rc = h_runf(
		&out,
		"PGPASSFILE='%s' '%s/docker/with-pgpass.sh' '%s' "
		"sh -c 'stat -c %%a \"$PGPASSFILE\"; cat \"$PGPASSFILE\"; echo \"args $*\"' sh x y",
		pgpass, h_root_dir(), secret);
	expect_exit(rc, 0, out);
	assert_string_equal(out, "600\n*:*:*:*:pa\\:ss\\\\word\nargs x y\n");
	free(out);

	/* An empty secret is refused before the program runs. */
	f = fopen(secret, "w");
	if (f == NULL)
		fail_msg("cannot write %s", secret);
	fclose(f);
	rc = h_runf(&out, "PGPASSFILE='%s' '%s/docker/with-pgpass.sh' '%s' echo ran 2>&1", pgpass,
		    h_root_dir(), secret);
	expect_exit(rc, 1, out);
	if (h_contains(out, "ran") || !h_contains(out, "is empty"))
		fail_msg("with-pgpass with an empty secret printed:\n%s", out);
	free(out);
	free(pgpass);
	free(secret);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.srv));
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_layout),
		cmocka_unit_test(test_pkg_config),
		cmocka_unit_test(test_header_alone),
		cmocka_unit_test(test_program_shared),
		cmocka_unit_test(test_program_static),
		cmocka_unit_test(test_man_pages),
		cmocka_unit_test(test_uninstall),
		cmocka_unit_test(test_check_docker_self_test),
		cmocka_unit_test(test_with_pgpass),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
