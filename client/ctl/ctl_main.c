/* fairpayctl: the admin command line of FairPay. main() parses the command
 * line (ctl_args), dispatches through the table below and turns what happened
 * into the exit codes of the command-line contract:
 * 0 ok, 1 refused by the server or the database, 2 usage, 3 cannot connect. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_admin.h"
#include "ctl_args.h"
#include "ctl_attest.h"
#include "ctl_cycle.h"
#include "ctl_db.h"
#include "ctl_insights.h"
#include "ctl_simulate.h"
#include "ctl_verify.h"
#include "ctl_webhook.h"

#ifndef FP_VERSION
#define FP_VERSION "unknown"
#endif

typedef int (*ctl_handler)(const ctl_args *a);

static const struct {
	ctl_cmd cmd;
	ctl_handler run;
} ctl_commands[] = {
	{ CTL_CMD_PING, ctl_admin_ping },
	{ CTL_CMD_VENDOR_CREATE, ctl_admin_vendor_create },
	{ CTL_CMD_VENDOR_LIST, ctl_admin_vendor_list },
	{ CTL_CMD_KEY_CREATE, ctl_admin_key_create },
	{ CTL_CMD_KEY_REVOKE, ctl_admin_key_revoke },
	{ CTL_CMD_KEY_REGISTER_CERT, ctl_admin_key_register_cert },
	{ CTL_CMD_DB_MIGRATE, ctl_db_migrate },
	{ CTL_CMD_DB_STATUS, ctl_db_status },
	{ CTL_CMD_DB_BOOTSTRAP_ADMIN, ctl_db_bootstrap_admin },
	{ CTL_CMD_PRODUCT_PUT, ctl_cycle_product_put },
	{ CTL_CMD_PRODUCT_GET, ctl_cycle_product_get },
	{ CTL_CMD_PRODUCT_LIST, ctl_cycle_product_list },
	{ CTL_CMD_POLICY_GET, ctl_cycle_policy_get },
	{ CTL_CMD_POLICY_SET, ctl_cycle_policy_set },
	{ CTL_CMD_OFFER_CREATE, ctl_cycle_offer_create },
	{ CTL_CMD_OFFER_ACCEPT, ctl_cycle_offer_accept },
	{ CTL_CMD_OFFER_DECLINE, ctl_cycle_offer_decline },
	{ CTL_CMD_OFFER_GET, ctl_cycle_offer_get },
	{ CTL_CMD_OFFERS_LIST, ctl_cycle_offers_list },
	{ CTL_CMD_PAYMENTS_LIST, ctl_cycle_payments_list },
	{ CTL_CMD_PAY, ctl_cycle_pay },
	{ CTL_CMD_REVIEW, ctl_cycle_review },
	{ CTL_CMD_REPUTATION, ctl_cycle_reputation },
	{ CTL_CMD_REPUTATION_VERIFY, ctl_verify_reputations },
	{ CTL_CMD_EVENTS, ctl_cycle_events },
	{ CTL_CMD_WEBHOOK_CREATE, ctl_webhook_create },
	{ CTL_CMD_WEBHOOK_LIST, ctl_webhook_list },
	{ CTL_CMD_WEBHOOK_DELETE, ctl_webhook_delete },
	{ CTL_CMD_WEBHOOK_DELIVERIES, ctl_webhook_deliveries },
	{ CTL_CMD_ATTEST_ISSUE, ctl_attest_issue },
	{ CTL_CMD_ATTEST_VERIFY, ctl_attest_verify },
	{ CTL_CMD_ATTEST_VERIFY_OFFLINE, ctl_attest_verify_offline },
	{ CTL_CMD_ATTEST_ROTATE_KEY, ctl_attest_rotate_key },
	{ CTL_CMD_ISSUER_KEY, ctl_attest_issuer_key },
	{ CTL_CMD_INSIGHTS, ctl_insights_report },
	{ CTL_CMD_POLICY_SIMULATE, ctl_insights_simulate },
};

/* A failed write to stdout (full disk, closed pipe) must not look like
 * success: the output may be a key that is shown only once. */
static int finish_output(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "fairpayctl: cannot write the output: %s\n",
				strerror(errno));
		if (rc == CTL_EXIT_OK)
			rc = CTL_EXIT_REFUSED;
	}
	return rc;
}

int main(int argc, char **argv)
{
	ctl_args args;
	char err[512];
	const ctl_env env = {
		.server = getenv("FAIRPAY_SERVER"),
		.ca = getenv("FAIRPAY_CA"),
		.api_key = getenv("FAIRPAY_API_KEY"),
		.db = getenv("FAIRPAY_DB"),
	};

	/* OpenSSL writes with write(2): a server closing the connection must
	 * give EPIPE, not kill us (see client/lib/client.c). */
	signal(SIGPIPE, SIG_IGN);

	/* The offline simulator has options of its own and needs no server:
	 * when the first command word is "simulate", every other word is its. */
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		if (strcmp(argv[i], "simulate") != 0)
			break;
		for (int j = i; j + 1 < argc; j++)
			argv[j] = argv[j + 1];
		return finish_output(ctl_simulate_main(argc - 2, argv + 1));
	}

	switch (ctl_args_parse(argc, argv, &env, &args, err, sizeof(err))) {
	case CTL_PARSE_HELP:
		fputs(ctl_args_usage(args.topic), stdout);
		return finish_output(CTL_EXIT_OK);
	case CTL_PARSE_VERSION:
		printf("fairpayctl %s\n", FP_VERSION);
		return finish_output(CTL_EXIT_OK);
	case CTL_PARSE_USAGE:
		fprintf(stderr, "fairpayctl: %s\n", err);
		fprintf(stderr, "Try 'fairpayctl%s%s --help'.\n", args.topic[0] != '\0' ? " " : "",
			args.topic);
		return CTL_EXIT_USAGE;
	case CTL_PARSE_RUN:
		break;
	}
	for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
		if (ctl_commands[i].cmd == args.cmd)
			return finish_output(ctl_commands[i].run(&args));
	fprintf(stderr, "fairpayctl: internal error: no handler for command %d\n", (int)args.cmd);
	return CTL_EXIT_REFUSED;
}
