/* ctl_build_: the requests of the FairPay cycle commands, built from the
 * parsed command line. Pure code (no I/O), so that what goes on the wire for
 * each option can be unit-tested. Strings in the built messages point into
 * the ctl_args; arrays go into storage the caller provides. */
#ifndef FP_CTL_BUILD_H
#define FP_CTL_BUILD_H

#include <stdbool.h>

#include "ctl_args.h"
#include "fairpay.pb-c.h"

/* Fill p (initialised) from `product put`'s arguments. */
void ctl_build_product(const ctl_args *a, Fairpay__V1__Product *p);

/* Fill req and p (both initialised) from `policy set`'s KEY=VALUE pairs:
 * only the keys given are set (their opt_*_case), and excusing_reasons only
 * with set_excusing_reasons. reasons holds the list. */
void ctl_build_policy(const ctl_args *a, Fairpay__V1__PutPolicyRequest *req, Fairpay__V1__Policy *p,
		      Fairpay__V1__PaymentReason reasons[CTL_MAX_REASONS]);

/* Fill ov (initialised) from `offer create`'s --mode, --sp and --minimum;
 * return true when any was given (the request carries overrides then). */
bool ctl_build_overrides(const ctl_args *a, Fairpay__V1__OfferOverrides *ov);

/* Fill sp (initialised) from `pay`'s arguments; reasons holds the list. */
void ctl_build_payment(const ctl_args *a, Fairpay__V1__SubmitPaymentRequest *sp,
		       Fairpay__V1__PaymentReason reasons[CTL_MAX_REASONS]);

#endif
