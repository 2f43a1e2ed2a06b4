/* ctl_admin_: the fairpayctl commands that talk to fairpayd (ping, vendors,
 * API keys and their client certificates). Each returns an exit code of the
 * command-line contract. */
#ifndef FP_CTL_ADMIN_H
#define FP_CTL_ADMIN_H

#include "ctl_args.h"

/* Check that the server answers; print its version, clock and round trip. */
int ctl_admin_ping(const ctl_args *a);

/* Create a vendor and its first VENDOR key; print both. */
int ctl_admin_vendor_create(const ctl_args *a);

/* Print one page of vendors. */
int ctl_admin_vendor_list(const ctl_args *a);

/* Create an API key and print it. */
int ctl_admin_key_create(const ctl_args *a);

/* Revoke an API key. */
int ctl_admin_key_revoke(const ctl_args *a);

/* Register (or remove) the client certificate of an API key. */
int ctl_admin_key_register_cert(const ctl_args *a);

#endif
