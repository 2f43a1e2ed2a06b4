/* The tests' webhook receiver as a child process (see hook_receiver.h). */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "hook_receiver.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define HR_MAX_ARGS 32
#define HR_START_MS 15000

hr_receiver *hr_start(const char *port, const char *secret, ...)
{
	static int started; /* for unique state file names */
	hr_receiver *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	snprintf(r->state, sizeof(r->state), "%s/receiver-%d-%d.json", h_tmp_dir(), (int)getpid(),
		 ++started);
	unlink(r->state);
	char *script = h_fmt("%s/tests/receiver/receiver.js", h_root_dir());
	char *cert = h_cert_path("server.pem"), *key = h_cert_path("server.key");
	const char *argv[HR_MAX_ARGS];
	int n = 0;
	argv[n++] = "node";
	argv[n++] = script;
	argv[n++] = "--state";
	argv[n++] = r->state;
	argv[n++] = "--cert";
	argv[n++] = cert;
	argv[n++] = "--key";
	argv[n++] = key;
	if (port[0]) {
		argv[n++] = "--port";
		argv[n++] = port;
	}
	if (secret != NULL) {
		argv[n++] = "--secret";
		argv[n++] = secret;
	}
	va_list ap;
	va_start(ap, secret);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && n < HR_MAX_ARGS - 2)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		execvp("node", (char *const *)argv);
		_exit(127);
	}
	assert_true(pid > 0);
	r->pid = pid;
	snprintf(r->pid_path, sizeof(r->pid_path), "%s/pids/recv-%d.pid", h_tmp_dir(), (int)pid);
	FILE *f = fopen(r->pid_path, "w");
	if (f) {
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
	free(script);
	free(cert);
	free(key);
	int64_t deadline = h_now_ms() + HR_START_MS;
	for (;;) {
		json_t *j = json_load_file(r->state, 0, NULL);
		if (j != NULL) {
			snprintf(r->port, sizeof(r->port), "%lld",
				 (long long)json_integer_value(json_object_get(j, "port")));
			json_decref(j);
			break;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			fail_msg("the webhook receiver exited at once (status %d): is node "
				 "installed and tests/receiver/node_modules there (make deps)?",
				 st);
		if (h_now_ms() > deadline)
			fail_msg("the webhook receiver did not start within 15 s");
		h_sleep_ms(20);
	}
	return r;
}

void hr_stop(hr_receiver *r)
{
	if (r == NULL)
		return;
	kill(r->pid, SIGTERM);
	waitpid(r->pid, NULL, 0);
	unlink(r->pid_path);
}

void hr_free(hr_receiver *r)
{
	if (r == NULL)
		return;
	if (r->pid > 0 && kill(r->pid, 0) == 0)
		hr_stop(r);
	free(r);
}

json_t *hr_state(const hr_receiver *r)
{
	for (int i = 0; i < 100; i++) {
		json_t *j = json_load_file(r->state, 0, NULL);
		if (j != NULL)
			return j;
		h_sleep_ms(10); /* between a write and its rename */
	}
	fail_msg("cannot read %s", r->state);
	return NULL;
}

long long hr_count(const hr_receiver *r, const char *name)
{
	json_t *j = hr_state(r);
	long long n = json_integer_value(json_object_get(j, name));
	json_decref(j);
	return n;
}

long long hr_answered(const hr_receiver *r, const char *code)
{
	json_t *j = hr_state(r);
	long long n = json_integer_value(json_object_get(json_object_get(j, "answered"), code));
	json_decref(j);
	return n;
}

char *hr_url(const hr_receiver *r)
{
	return h_fmt("https://127.0.0.1:%s/hook", r->port);
}
