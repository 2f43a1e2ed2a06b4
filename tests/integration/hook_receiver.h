/* hr_: the tests' webhook receiver (tests/receiver/receiver.js, Node and
 * the npm standardwebhooks package), run as a child process with the test
 * certificate, its state read from the JSON file it keeps. Failures fail
 * the running cmocka test. */
#ifndef FP_HOOK_RECEIVER_H
#define FP_HOOK_RECEIVER_H

#include <sys/types.h>

#include <jansson.h>

typedef struct hr_receiver {
	pid_t pid;
	char state[512];
	char port[16];
	char pid_path[512]; /* in the runner's pids directory, reaped on abort */
} hr_receiver;

/* Start the receiver on port ("": a free one) with the extra arguments of
 * receiver.js (NULL-ended) and wait until it listens. */
hr_receiver *hr_start(const char *port, const char *secret, ...) __attribute__((sentinel));

/* Stop the receiver (SIGTERM) and wait for it. */
void hr_stop(hr_receiver *r);

/* Stop it if it runs, and free it. Accepts NULL. */
void hr_free(hr_receiver *r);

/* The receiver's state (json_decref it). */
json_t *hr_state(const hr_receiver *r);

/* A number of its state. */
long long hr_count(const hr_receiver *r, const char *name);

/* Answers it gave with this HTTP status. */
long long hr_answered(const hr_receiver *r, const char *code);

/* Its endpoint's URL (free it). */
char *hr_url(const hr_receiver *r);

#endif
