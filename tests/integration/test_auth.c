/* Integration tests of authentication and roles: the gate before
 * Authenticate, what each role may call, the three-strikes rule, failures that
 * all look alike, and revocation on live connections (one server and two). */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct {
	char *db;
	char *admin_key;
	h_server *srv;
} T;

typedef Fairpay__V1__Request__CallCase call_case;

static const call_case admin_calls[] = {
	FAIRPAY__V1__REQUEST__CALL_CREATE_VENDOR,
	FAIRPAY__V1__REQUEST__CALL_CREATE_API_KEY,
	FAIRPAY__V1__REQUEST__CALL_REVOKE_API_KEY,
	FAIRPAY__V1__REQUEST__CALL_LIST_VENDORS,
};

static const call_case vendor_calls[] = {
	FAIRPAY__V1__REQUEST__CALL_PUT_PRODUCT,
	FAIRPAY__V1__REQUEST__CALL_GET_PRODUCT,
	FAIRPAY__V1__REQUEST__CALL_LIST_PRODUCTS,
	FAIRPAY__V1__REQUEST__CALL_PUT_POLICY,
	FAIRPAY__V1__REQUEST__CALL_GET_POLICY,
	FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER,
	FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER,
	FAIRPAY__V1__REQUEST__CALL_DECLINE_OFFER,
	FAIRPAY__V1__REQUEST__CALL_GET_OFFER,
	FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT,
	FAIRPAY__V1__REQUEST__CALL_REVIEW_PAYMENT,
	FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION,
	FAIRPAY__V1__REQUEST__CALL_LIST_CUSTOMER_EVENTS,
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Make call cc with well-formed fields (so that only the caller's rights
 * decide the answer) and return its status code. */
static int call(fp_client *c, call_case cc)
{
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	Fairpay__V1__CreateVendorRequest cv = FAIRPAY__V1__CREATE_VENDOR_REQUEST__INIT;
	Fairpay__V1__CreateApiKeyRequest ck = FAIRPAY__V1__CREATE_API_KEY_REQUEST__INIT;
	Fairpay__V1__RevokeApiKeyRequest rk = FAIRPAY__V1__REVOKE_API_KEY_REQUEST__INIT;
	Fairpay__V1__ListVendorsRequest lv = FAIRPAY__V1__LIST_VENDORS_REQUEST__INIT;
	Fairpay__V1__Product product = FAIRPAY__V1__PRODUCT__INIT;
	Fairpay__V1__PutProductRequest pp = FAIRPAY__V1__PUT_PRODUCT_REQUEST__INIT;
	Fairpay__V1__GetProductRequest gp = FAIRPAY__V1__GET_PRODUCT_REQUEST__INIT;
	Fairpay__V1__ListProductsRequest lp = FAIRPAY__V1__LIST_PRODUCTS_REQUEST__INIT;
	Fairpay__V1__Policy policy = FAIRPAY__V1__POLICY__INIT;
	Fairpay__V1__PutPolicyRequest ppol = FAIRPAY__V1__PUT_POLICY_REQUEST__INIT;
	Fairpay__V1__GetPolicyRequest gpol = FAIRPAY__V1__GET_POLICY_REQUEST__INIT;
	Fairpay__V1__CreateOfferRequest co = FAIRPAY__V1__CREATE_OFFER_REQUEST__INIT;
	Fairpay__V1__AcceptOfferRequest ao = FAIRPAY__V1__ACCEPT_OFFER_REQUEST__INIT;
	Fairpay__V1__DeclineOfferRequest dof = FAIRPAY__V1__DECLINE_OFFER_REQUEST__INIT;
	Fairpay__V1__GetOfferRequest go = FAIRPAY__V1__GET_OFFER_REQUEST__INIT;
	Fairpay__V1__SubmitPaymentRequest sp = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__INIT;
	Fairpay__V1__ReviewPaymentRequest rp = FAIRPAY__V1__REVIEW_PAYMENT_REQUEST__INIT;
	Fairpay__V1__GetReputationRequest gr = FAIRPAY__V1__GET_REPUTATION_REQUEST__INIT;
	Fairpay__V1__ListCustomerEventsRequest le = FAIRPAY__V1__LIST_CUSTOMER_EVENTS_REQUEST__INIT;

	req.call_case = cc;
	switch (cc) {
	case FAIRPAY__V1__REQUEST__CALL_CREATE_VENDOR:
		cv.name = "gate test vendor";
		req.create_vendor = &cv;
		break;
	case FAIRPAY__V1__REQUEST__CALL_CREATE_API_KEY:
		ck.role = FAIRPAY__V1__ROLE__ROLE_ADMIN;
		req.create_api_key = &ck;
		break;
	case FAIRPAY__V1__REQUEST__CALL_REVOKE_API_KEY:
		rk.key_id = "0000000000000000";
		req.revoke_api_key = &rk;
		break;
	case FAIRPAY__V1__REQUEST__CALL_LIST_VENDORS:
		req.list_vendors = &lv;
		break;
	case FAIRPAY__V1__REQUEST__CALL_PUT_PRODUCT:
		product.sku = "gate-1";
		product.name = "Gate";
		product.currency = "USD";
		product.suggested_price_minor = 1000;
		product.list_price_minor = 1200;
		pp.product = &product;
		req.put_product = &pp;
		break;
	case FAIRPAY__V1__REQUEST__CALL_GET_PRODUCT:
		gp.sku = "gate-1";
		req.get_product = &gp;
		break;
	case FAIRPAY__V1__REQUEST__CALL_LIST_PRODUCTS:
		req.list_products = &lp;
		break;
	case FAIRPAY__V1__REQUEST__CALL_PUT_POLICY:
		policy.alpha_bp = 3000;
		policy.opt_alpha_bp_case = FAIRPAY__V1__POLICY__OPT_ALPHA_BP_ALPHA_BP;
		ppol.policy = &policy;
		req.put_policy = &ppol;
		break;
	case FAIRPAY__V1__REQUEST__CALL_GET_POLICY:
		req.get_policy = &gpol;
		break;
	case FAIRPAY__V1__REQUEST__CALL_CREATE_OFFER:
		co.customer_id = "cust-1";
		co.sku = "gate-1";
		req.create_offer = &co;
		break;
	case FAIRPAY__V1__REQUEST__CALL_ACCEPT_OFFER:
		ao.offer_id = "o_0000000000000000";
		req.accept_offer = &ao;
		break;
	case FAIRPAY__V1__REQUEST__CALL_DECLINE_OFFER:
		dof.offer_id = "o_0000000000000000";
		req.decline_offer = &dof;
		break;
	case FAIRPAY__V1__REQUEST__CALL_GET_OFFER:
		go.offer_id = "o_0000000000000000";
		req.get_offer = &go;
		break;
	case FAIRPAY__V1__REQUEST__CALL_SUBMIT_PAYMENT:
		sp.offer_id = "o_0000000000000000";
		sp.amount_case = FAIRPAY__V1__SUBMIT_PAYMENT_REQUEST__AMOUNT_AMOUNT_MINOR;
		sp.amount_minor = 500;
		req.submit_payment = &sp;
		break;
	case FAIRPAY__V1__REQUEST__CALL_REVIEW_PAYMENT:
		rp.payment_id = "p_0000000000000000";
		rp.accept_reasons = 1;
		req.review_payment = &rp;
		break;
	case FAIRPAY__V1__REQUEST__CALL_GET_REPUTATION:
		gr.customer_id = "cust-1";
		req.get_reputation = &gr;
		break;
	case FAIRPAY__V1__REQUEST__CALL_LIST_CUSTOMER_EVENTS:
		le.customer_id = "cust-1";
		req.list_customer_events = &le;
		break;
	default:
		fail_msg("no request builder for call %d", (int)cc);
	}
	return h_call(c, &req, NULL);
}

/* Fail unless every call in list answers want. */
static void expect_all(fp_client *c, const call_case *list, size_t n, int want, const char *who)
{
	for (size_t i = 0; i < n; i++) {
		int got = call(c, list[i]);
		if (got != want)
			fail_msg("%s: call %d answered %s, want %s (%s)", who, (int)list[i],
				 h_code_name(got), h_code_name(want), h_last_message());
	}
}

/* The key id inside a key "fp_<id>_<secret>". */
static char *key_id_of(const char *key)
{
	if (strlen(key) < 20 || strncmp(key, "fp_", 3) != 0)
		fail_msg("not a key: '%s'", key);
	return strndup(key + 3, 16);
}

static long long count_vendors(void)
{
	return h_sql_int(T.db, "SELECT count(*) FROM vendors");
}

static long long count_keys(void)
{
	return h_sql_int(T.db, "SELECT count(*) FROM api_keys");
}

static int setup(void **state)
{
	T.db = h_db_create("fp_it_auth");
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
	return 0;
}

static void test_gate_before_authenticate(void **state)
{
	long long vendors = count_vendors(), keys = count_keys();
	fp_client *c = h_connect(T.srv);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	expect_all(c, admin_calls, N(admin_calls), FAIRPAY__V1__CODE__UNAUTHENTICATED,
		   "unauthenticated");
	expect_all(c, vendor_calls, N(vendor_calls), FAIRPAY__V1__CODE__UNAUTHENTICATED,
		   "unauthenticated");
	/* Refused calls are not failed Authenticate calls: still connected. */
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	assert_int_equal(count_vendors(), vendors);
	assert_int_equal(count_keys(), keys);
	fp_client_free(c);
}

static void test_admin_role(void **state)
{
	fp_client *c = h_connect(T.srv);
	Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;
	char *vendor_id = NULL;
	h_assert_code(h_auth(c, T.admin_key, &role, &vendor_id), FAIRPAY__V1__CODE__OK);
	assert_int_equal(role, FAIRPAY__V1__ROLE__ROLE_ADMIN);
	assert_string_equal(vendor_id, ""); /* a bootstrap admin has no vendor */
	free(vendor_id);

	h_assert_code(h_list_vendors(c, NULL, 0, NULL), FAIRPAY__V1__CODE__OK);
	char *vid = NULL;
	h_assert_code(h_create_vendor(c, "admin role vendor", &vid, NULL, NULL),
		      FAIRPAY__V1__CODE__OK);
	assert_true(strncmp(vid, "v_", 2) == 0 && strlen(vid) == 18);
	char *kid = NULL;
	h_assert_code(h_create_api_key(c, vid, FAIRPAY__V1__ROLE__ROLE_VENDOR, &kid, NULL),
		      FAIRPAY__V1__CODE__OK);
	h_assert_code(h_revoke_api_key(c, kid), FAIRPAY__V1__CODE__OK);

	expect_all(c, vendor_calls, N(vendor_calls), FAIRPAY__V1__CODE__PERMISSION_DENIED,
		   "admin key");
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	free(vid);
	free(kid);
	fp_client_free(c);
}

static void test_vendor_role(void **state)
{
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	char *vid = NULL, *key = NULL, *kid = NULL;
	h_assert_code(h_create_vendor(admin, "vendor role vendor", &vid, &key, &kid),
		      FAIRPAY__V1__CODE__OK);
	char *kid_from_key = key_id_of(key);
	assert_string_equal(kid, kid_from_key);

	fp_client *c = h_connect(T.srv);
	Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;
	char *got_vid = NULL;
	h_assert_code(h_auth(c, key, &role, &got_vid), FAIRPAY__V1__CODE__OK);
	assert_int_equal(role, FAIRPAY__V1__ROLE__ROLE_VENDOR);
	assert_string_equal(got_vid, vid);

	long long vendors = count_vendors(), keys = count_keys();
	expect_all(c, admin_calls, N(admin_calls), FAIRPAY__V1__CODE__PERMISSION_DENIED,
		   "vendor key");
	assert_int_equal(count_vendors(), vendors);
	assert_int_equal(count_keys(), keys);
	/* A VENDOR key is let through to every vendor call: the answers depend
	 * on the (made-up) fields, but none is a refusal of the caller. */
	for (size_t i = 0; i < N(vendor_calls); i++) {
		int got = call(c, vendor_calls[i]);
		if (got == FAIRPAY__V1__CODE__PERMISSION_DENIED ||
		    got == FAIRPAY__V1__CODE__UNAUTHENTICATED || got == H_NO_REPLY)
			fail_msg("vendor key: call %d answered %s (%s)", (int)vendor_calls[i],
				 h_code_name(got), h_last_message());
	}
	h_assert_code(call(c, FAIRPAY__V1__REQUEST__CALL_GET_POLICY), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);

	free(got_vid);
	free(kid_from_key);
	free(vid);
	free(key);
	free(kid);
	fp_client_free(c);
	fp_client_free(admin);
}

static void test_three_failed_attempts_close(void **state)
{
	const char *wrong = "fp_0123456789abcdef_"
			    "0000000000000000000000000000000000000000000000000000000000000000";
	fp_client *c = h_connect(T.srv);
	h_assert_code(h_auth(c, wrong, NULL, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_auth(c, "fp_nonsense", NULL, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_auth(c, wrong, NULL, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);

	/* The third failure's reply came; now the connection must be gone. */
	Fairpay__V1__PingRequest ping = FAIRPAY__V1__PING_REQUEST__INIT;
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_PING;
	req.ping = &ping;
	int64_t t0 = h_now_ms();
	if (fp_client_send(c, &req, NULL) == 0) {
		Fairpay__V1__Response *resp = NULL;
		int rc = fp_client_recv(c, &resp);
		if (rc == 0) {
			int code = resp->status ? (int)resp->status->code : 0;
			fp_response_free(resp);
			fail_msg("connection still served after 3 failed attempts (Ping: %s)",
				 h_code_name(code));
		}
		assert_int_not_equal(fp_client_error_kind(c), FP_ERR_SERVER);
	}
	/* Closed, not merely slow: the client's 10 s timeout was not what ended it. */
	assert_true(h_now_ms() - t0 < 5000);
	fp_client_free(c);

	/* Other connections are not affected. */
	fp_client *other = h_connect_auth(T.srv, T.admin_key);
	h_assert_code(h_list_vendors(other, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);
	fp_client_free(other);
}

static void test_two_failures_then_success(void **state)
{
	const char *wrong = "fp_0123456789abcdef_"
			    "1111111111111111111111111111111111111111111111111111111111111111";
	fp_client *c = h_connect(T.srv);
	h_assert_code(h_auth(c, wrong, NULL, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	h_assert_code(h_auth(c, wrong, NULL, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;
	h_assert_code(h_auth(c, T.admin_key, &role, NULL), FAIRPAY__V1__CODE__OK);
	assert_int_equal(role, FAIRPAY__V1__ROLE__ROLE_ADMIN);
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_ping(c), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
}

static void test_failures_indistinguishable(void **state)
{
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	char *revoked_key = NULL, *revoked_kid = NULL;
	h_assert_code(
		h_create_vendor(admin, "revoked key vendor", NULL, &revoked_key, &revoked_kid),
		FAIRPAY__V1__CODE__OK);
	h_assert_code(h_revoke_api_key(admin, revoked_kid), FAIRPAY__V1__CODE__OK);

	/* The admin key's id with another secret. */
	char *wrong_secret = strdup(T.admin_key);
	assert_non_null(wrong_secret);
	size_t n = strlen(wrong_secret);
	wrong_secret[n - 1] = wrong_secret[n - 1] == '0' ? '1' : '0';

	const char *keys[] = {
		"not a key at all",
		"fp_0123456789ABCDEF_"
		"0000000000000000000000000000000000000000000000000000000000000000",
		"",
		"fp_fedcba9876543210_" /* unknown id */
		"0000000000000000000000000000000000000000000000000000000000000000",
		wrong_secret,
		revoked_key,
	};
	const char *what[] = { "malformed",  "upper-case",   "empty",
			       "unknown id", "wrong secret", "revoked" };
	char first_message[1024] = "";
	char first_field[256] = "";
	for (size_t i = 0; i < N(keys); i++) {
		/* One attempt per connection, so that the three-strikes rule does
		 * not interfere. */
		fp_client *c = h_connect(T.srv);
		int code = h_auth(c, keys[i], NULL, NULL);
		if (code != FAIRPAY__V1__CODE__UNAUTHENTICATED)
			fail_msg("%s key: got %s, want UNAUTHENTICATED", what[i],
				 h_code_name(code));
		if (i == 0) {
			snprintf(first_message, sizeof(first_message), "%s", h_last_message());
			snprintf(first_field, sizeof(first_field), "%s", h_last_field());
		} else if (strcmp(first_message, h_last_message()) != 0 ||
			   strcmp(first_field, h_last_field()) != 0) {
			fail_msg("%s key answered '%s' (field '%s'), %s key '%s' (field '%s')",
				 what[i], h_last_message(), h_last_field(), what[0], first_message,
				 first_field);
		}
		/* Still unauthenticated afterwards. */
		h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
		fp_client_free(c);
	}
	free(wrong_secret);
	free(revoked_key);
	free(revoked_kid);
	fp_client_free(admin);
}

/* A refused Authenticate on an authenticated connection drops the identity
 * it had, whether the key is malformed (refused before any lookup) or has a
 * wrong secret (refused after it). */
static void test_failure_drops_identity(void **state)
{
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	char *vendor_key = NULL;
	h_assert_code(h_create_vendor(admin, "identity dropped", NULL, &vendor_key, NULL),
		      FAIRPAY__V1__CODE__OK);
	char *wrong_secret = strdup(vendor_key);
	assert_non_null(wrong_secret);
	size_t n = strlen(wrong_secret);
	wrong_secret[n - 1] = wrong_secret[n - 1] == '0' ? '1' : '0';
	const char *bad[] = { "fp_nonsense", wrong_secret };
	for (size_t i = 0; i < N(bad); i++) {
		fp_client *c = h_connect(T.srv);
		h_assert_code(h_auth(c, vendor_key, NULL, NULL), FAIRPAY__V1__CODE__OK);
		h_assert_code(h_get_policy(c, NULL), FAIRPAY__V1__CODE__OK);
		h_assert_code(h_auth(c, bad[i], NULL, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
		h_assert_code(h_get_policy(c, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
		/* A good key authenticates it again. */
		h_assert_code(h_auth(c, vendor_key, NULL, NULL), FAIRPAY__V1__CODE__OK);
		h_assert_code(h_get_policy(c, NULL), FAIRPAY__V1__CODE__OK);
		fp_client_free(c);
	}
	/* The same for an ADMIN connection. */
	h_assert_code(h_auth(admin, wrong_secret, NULL, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	h_assert_code(h_list_vendors(admin, NULL, 1, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	free(wrong_secret);
	free(vendor_key);
	fp_client_free(admin);
}

static void test_revocation_on_live_connection(void **state)
{
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	char *key = NULL, *kid = NULL;
	h_assert_code(h_create_vendor(admin, "live revocation", NULL, &key, &kid),
		      FAIRPAY__V1__CODE__OK);

	fp_client *c1 = h_connect_auth(T.srv, key);
	h_assert_code(call(c1, FAIRPAY__V1__REQUEST__CALL_GET_POLICY), FAIRPAY__V1__CODE__OK);

	h_assert_code(h_revoke_api_key(admin, kid), FAIRPAY__V1__CODE__OK);
	char *sql = h_fmt("SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = '%s'", kid);
	char *revoked = h_sql(T.db, sql);
	assert_non_null(revoked);
	assert_string_equal(revoked, "t");

	/* The very next call on the old connection is refused. */
	h_assert_code(call(c1, FAIRPAY__V1__REQUEST__CALL_GET_POLICY),
		      FAIRPAY__V1__CODE__UNAUTHENTICATED);
	h_assert_code(call(c1, FAIRPAY__V1__REQUEST__CALL_LIST_PRODUCTS),
		      FAIRPAY__V1__CODE__UNAUTHENTICATED);
	h_assert_code(h_ping(c1), FAIRPAY__V1__CODE__OK);

	/* And a new connection cannot authenticate with it. */
	fp_client *c2 = h_connect(T.srv);
	h_assert_code(h_auth(c2, key, NULL, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);

	/* Revoking an admin key works the same way on admin calls. */
	char *akey = NULL, *akid = NULL;
	h_assert_code(h_create_api_key(admin, NULL, FAIRPAY__V1__ROLE__ROLE_ADMIN, &akid, &akey),
		      FAIRPAY__V1__CODE__OK);
	fp_client *a2 = h_connect_auth(T.srv, akey);
	h_assert_code(h_list_vendors(a2, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_revoke_api_key(admin, akid), FAIRPAY__V1__CODE__OK);
	h_assert_code(h_list_vendors(a2, NULL, 1, NULL), FAIRPAY__V1__CODE__UNAUTHENTICATED);
	/* The revoking connection itself is unaffected. */
	h_assert_code(h_list_vendors(admin, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);

	fp_client_free(a2);
	free(akey);
	free(akid);
	free(sql);
	free(revoked);
	free(key);
	free(kid);
	fp_client_free(c2);
	fp_client_free(c1);
	fp_client_free(admin);
}

static void test_revocation_across_servers(void **state)
{
	h_server *srv2 = h_server_start(T.db, NULL);
	fp_client *admin = h_connect_auth(T.srv, T.admin_key);
	char *key = NULL, *kid = NULL;
	h_assert_code(h_create_vendor(admin, "two servers", NULL, &key, &kid),
		      FAIRPAY__V1__CODE__OK);

	fp_client *c = h_connect_auth(srv2, key);
	h_assert_code(call(c, FAIRPAY__V1__REQUEST__CALL_GET_POLICY), FAIRPAY__V1__CODE__OK);

	h_assert_code(h_revoke_api_key(admin, kid), FAIRPAY__V1__CODE__OK);
	int64_t t0 = h_now_ms();
	int64_t refused_after = -1;
	while (h_now_ms() - t0 < 2000) {
		int code = call(c, FAIRPAY__V1__REQUEST__CALL_GET_POLICY);
		if (code == FAIRPAY__V1__CODE__UNAUTHENTICATED) {
			refused_after = h_now_ms() - t0;
			break;
		}
		h_assert_code(code, FAIRPAY__V1__CODE__OK);
		h_sleep_ms(20);
	}
	if (refused_after < 0)
		fail_msg("the other server still served the revoked key after 2 s");
	if (refused_after >= 1500)
		fail_msg("the other server took %lld ms to refuse the revoked key",
			 (long long)refused_after);
	/* It stays refused. */
	h_assert_code(call(c, FAIRPAY__V1__REQUEST__CALL_GET_POLICY),
		      FAIRPAY__V1__CODE__UNAUTHENTICATED);
	print_message("revocation reached the second server after %lld ms\n",
		      (long long)refused_after);

	fp_client_free(c);
	fp_client_free(admin);
	free(key);
	free(kid);
	assert_int_equal(h_server_stop(srv2, SIGTERM), 0);
	h_server_free(srv2);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.srv));
	assert_int_equal(h_server_stop(T.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gate_before_authenticate),
		cmocka_unit_test(test_admin_role),
		cmocka_unit_test(test_vendor_role),
		cmocka_unit_test(test_three_failed_attempts_close),
		cmocka_unit_test(test_two_failures_then_success),
		cmocka_unit_test(test_failures_indistinguishable),
		cmocka_unit_test(test_failure_drops_identity),
		cmocka_unit_test(test_revocation_on_live_connection),
		cmocka_unit_test(test_revocation_across_servers),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
