/* fairpayctl's connection to fairpayd and its error reports (see ctl_remote.h). */
#include "ctl_remote.h"

#include <stdio.h>

/* Print the client's last error to stderr and return its exit code. */
int ctl_remote_report(const fp_client *c, const ctl_args *a)
{
	const char *msg = fp_client_error_message(c);
	switch (fp_client_error_kind(c)) {
	case FP_ERR_SERVER: {
		const char *field = fp_client_error_field(c);
		fprintf(stderr, "error: %s", fp_code_name(fp_client_error_code(c)));
		if (msg[0] != '\0')
			fprintf(stderr, ": %s", msg);
		if (field[0] != '\0')
			fprintf(stderr, " (field: %s)", field);
		fputc('\n', stderr);
		return CTL_EXIT_REFUSED;
	}
	case FP_ERR_USAGE:
		fprintf(stderr, "error: %s\n", msg);
		return CTL_EXIT_USAGE;
	case FP_ERR_CONNECT:
		fprintf(stderr, "error: cannot connect to %s: %s\n", a->server, msg);
		return CTL_EXIT_CONNECT;
	case FP_ERR_PROTOCOL:
		fprintf(stderr, "error: unexpected reply from %s: %s\n", a->server, msg);
		return CTL_EXIT_CONNECT;
	case FP_ERR_IO:
	case FP_ERR_NONE:
	default:
		fprintf(stderr, "error: connection to %s failed: %s\n", a->server,
			msg[0] != '\0' ? msg : "unknown error");
		return CTL_EXIT_CONNECT;
	}
}

/* Connect and authenticate. */
int ctl_remote_open(const ctl_args *a, bool authenticate, fp_client **out)
{
	fp_client_options opts = {
		.ca_file = a->ca,
		.cert_file = a->cert,
		.key_file = a->key,
		.server_name = NULL,
		.timeout_ms = a->timeout_ms,
		.max_frame = 0,
	};
	int rc = CTL_EXIT_OK;

	*out = NULL;
	fp_client *c = fp_client_new();
	if (c == NULL) {
		fprintf(stderr, "error: out of memory\n");
		return CTL_EXIT_REFUSED;
	}
	if (fp_client_connect_addr(c, a->server, &opts) != 0) {
		rc = ctl_remote_report(c, a);
		goto done;
	}
	/* With mutual TLS and no key, the certificate already authenticated
	 * the connection at the handshake. */
	if (authenticate && a->api_key != NULL) {
		Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;
		if (fp_client_authenticate(c, a->api_key, &role, NULL) != 0) {
			rc = ctl_remote_report(c, a);
			goto done;
		}
	}
done:
	if (rc == CTL_EXIT_OK)
		*out = c;
	else
		fp_client_free(c);
	return rc;
}

/* Send req and wait for a reply carrying the result expected. */
int ctl_remote_call(fp_client *c, const ctl_args *a, Fairpay__V1__Request *req,
		    Fairpay__V1__Response__ResultCase expect, Fairpay__V1__Response **resp)
{
	Fairpay__V1__Response *r = NULL;
	*resp = NULL;
	/* The parser takes --idempotency-key only on mutating commands. */
	if (a->idempotency_key != NULL)
		req->idempotency_key = (char *)a->idempotency_key;
	if (fp_client_call(c, req, &r) != 0) {
		fp_response_free(r);
		return ctl_remote_report(c, a);
	}
	if (r->result_case != expect) {
		fprintf(stderr, "error: unexpected reply from %s: result %d, expected %d\n",
			a->server, (int)r->result_case, (int)expect);
		fp_response_free(r);
		return CTL_EXIT_CONNECT;
	}
	/* stderr, so that stdout is the reply whether replayed or not. */
	if (r->replayed)
		fprintf(stderr,
			"note: replayed: this is the reply first given for idempotency "
			"key %s; nothing was changed now\n",
			a->idempotency_key != NULL ? a->idempotency_key : "(none)");
	*resp = r;
	return CTL_EXIT_OK;
}

int ctl_remote_once(const ctl_args *a, Fairpay__V1__Request *req,
		    Fairpay__V1__Response__ResultCase expect, Fairpay__V1__Response **resp)
{
	fp_client *c = NULL;
	int rc = ctl_remote_open(a, true, &c);
	if (rc == CTL_EXIT_OK)
		rc = ctl_remote_call(c, a, req, expect, resp);
	fp_client_free(c);
	return rc;
}
