/* ctl_simulate_: the `fairpayctl simulate` command: its command line
 * (parsed without side effects), the run (ctl_sim) and its three outputs:
 * tables, JSON and an SVG chart (ctl_chart). Needs no server. */
#ifndef FP_CTL_SIMULATE_H
#define FP_CTL_SIMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ctl_sim.h"
#include "money.h"

#define CTL_SIMULATE_CURRENCY "EUR" /* when --currency is not given */

typedef struct ctl_simulate_opts {
	ctl_sim_config sim;
	const char *currency;
	bool json;
	const char *svg; /* NULL: no chart */
	bool help;
} ctl_simulate_opts;

/* The text of `fairpayctl simulate --help`. */
extern const char ctl_simulate_usage[];

/* Parse the words after `simulate` (argv[0..argc)) into o; on -1 err holds
 * a one-line message. */
int ctl_simulate_parse(int argc, char *const argv[], ctl_simulate_opts *o, char *err,
		       size_t err_size) __attribute__((warn_unused_result));

/* Format minor units as major units with the currency: "1234.50 EUR". */
const char *ctl_simulate_money(int64_t minor, const char *currency, char buf[MONEY_TEXT_LEN]);

/* Print a result as tables. */
void ctl_simulate_print(FILE *f, const ctl_simulate_opts *o, const ctl_sim_result *r);

/* Print a result as one JSON object and a newline. */
void ctl_simulate_json(FILE *f, const ctl_simulate_opts *o, const ctl_sim_result *r);

/* Write a result's chart to path; -1 with errno set when it cannot. */
int ctl_simulate_svg(const char *path, const ctl_simulate_opts *o, const ctl_sim_result *r)
	__attribute__((warn_unused_result));

/* Run `fairpayctl simulate` with the words after it; return the exit code. */
int ctl_simulate_main(int argc, char *const argv[]);

#endif
