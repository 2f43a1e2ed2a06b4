/* ctl_insights_: the fairpayctl commands that read the vendor's history
 * whole: `insights` (GetInsights: a report per currency, a terminal bar chart
 * of the fairness histogram, optionally an SVG chart) and `policy simulate`
 * (SimulatePolicy: the tiers now and under a candidate policy, and the
 * customers who change most). Both take a VENDOR key and change nothing. */
#ifndef FP_CTL_INSIGHTS_H
#define FP_CTL_INSIGHTS_H

#include "ctl_args.h"

/* Print the vendor's insights (--sku, --from, --to; --svg FILE, --json). */
int ctl_insights_report(const ctl_args *a);

/* Print what the policy changes given as KEY=VALUE would do to the customers. */
int ctl_insights_simulate(const ctl_args *a);

#endif
