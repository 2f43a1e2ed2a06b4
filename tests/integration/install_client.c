/* install_client: a program that uses libfairpay as an application would once
 * fairpay is installed, with <fairpay/client.h> and pkg-config's flags and
 * nothing from this repository. test_install.c builds it against a `make
 * install` tree and runs it against a live fairpayd.
 *
 * Usage: install_client HOST:PORT CA_FILE API_KEY
 * Prints "alpn ...", "ping OK" and "role ROLE_..." and exits 0, or names the
 * step that failed and exits 1. */
#include <stdio.h>
#include <stdlib.h>

#include <fairpay/client.h>

/* Print what failed, with the client's error, and say it went wrong. */
static int failed(fp_client *c, const char *step)
{
	fprintf(stderr, "%s: %s (%s)\n", step, fp_client_error_message(c),
		fp_code_name(fp_client_error_code(c)));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: install_client HOST:PORT CA_FILE API_KEY\n");
		return 2;
	}
	int rc = 1;
	Fairpay__V1__Response *resp = NULL;
	fp_client *c = fp_client_new();
	if (c == NULL)
		goto done;
	fp_client_options opts = { .ca_file = argv[2], .timeout_ms = 10000 };
	if (fp_client_connect_addr(c, argv[1], &opts) != 0) {
		rc = failed(c, "connect");
		goto done;
	}
	printf("alpn %s\n", fp_client_alpn(c));

	/* The generated protocol types come with the installed headers. */
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
	req.ping = &ping;
	if (fp_client_call(c, &req, &resp) != 0) {
		rc = failed(c, "ping");
		goto done;
	}
	printf("ping %s\n", fp_code_name(resp->status != NULL ? (int)resp->status->code : 0));

	Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;
	if (fp_client_authenticate(c, argv[3], &role, NULL) != 0) {
		rc = failed(c, "authenticate");
		goto done;
	}
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&fairpay__v1__role__descriptor, (int)role);
	printf("role %s\n", v != NULL ? v->name : "?");
	rc = 0;
done:
	fp_response_free(resp);
	fp_client_free(c);
	return rc;
}
