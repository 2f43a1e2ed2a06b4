/* Unit tests of the pure parts of webhooks: the URL check and the address
 * classes of the SSRF guard (hookurl), the backoff, the body and the
 * Standard Webhooks signature (deliver). */
/* cmocka needs these four headers first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "deliver.h"
#include "hookurl.h"
#include "limit.h"

static hookurl_result check(const char *url, bool http, bool priv)
{
	const char *why = NULL;
	hookurl_result r = hookurl_check(url, http, priv, &why);
	assert_non_null(why);
	if (r != HOOKURL_OK)
		assert_true(why[0] != '\0');
	return r;
}

static void test_url_schemes(void **state)
{
	assert_int_equal(check("https://example.com/hook", false, false), HOOKURL_OK);
	assert_int_equal(check("HTTPS://example.com:8443/a?b#c", false, false), HOOKURL_OK);
	assert_int_equal(check("http://example.com/", false, false), HOOKURL_HTTP);
	assert_int_equal(check("http://example.com/", true, false), HOOKURL_OK);
	assert_int_equal(check("ftp://example.com/", true, true), HOOKURL_SCHEME);
	assert_int_equal(check("example.com", true, true), HOOKURL_SCHEME);
	assert_int_equal(check("https://", false, false), HOOKURL_MALFORMED);
	assert_int_equal(check("https:///x", false, false), HOOKURL_MALFORMED);
	assert_int_equal(check("https://a b/", false, false), HOOKURL_MALFORMED);
	assert_int_equal(check("https://user:pw@example.com/", false, false), HOOKURL_MALFORMED);
	assert_int_equal(check("https://example.com:0/", false, false), HOOKURL_MALFORMED);
	assert_int_equal(check("https://example.com:65536/", false, false), HOOKURL_MALFORMED);
	assert_int_equal(check("https://example.com:/", false, false), HOOKURL_MALFORMED);
	assert_int_equal(check("https://[::1/", false, false), HOOKURL_MALFORMED);
	char *big = malloc(LIMIT_URL_BYTES + 2);
	memset(big, 'a', LIMIT_URL_BYTES + 1);
	memcpy(big, "https://x/", 10);
	big[LIMIT_URL_BYTES + 1] = '\0';
	assert_int_equal(check(big, false, false), HOOKURL_MALFORMED);
	big[LIMIT_URL_BYTES] = '\0';
	assert_int_equal(check(big, false, false), HOOKURL_OK);
	free(big);
}

static void test_url_literal_addresses(void **state)
{
	const char *blocked[] = {
		"https://127.0.0.1/",
		"https://127.1/",
		"https://2130706433/",
		"https://0x7f.0.0.1/",
		"https://10.0.0.1/",
		"https://172.16.0.1:8443/",
		"https://172.31.255.255/",
		"https://192.168.1.1/",
		"https://169.254.169.254/",
		"https://0.0.0.0/",
		"https://100.64.0.1/",
		"https://[::1]/",
		"https://[::]/",
		"https://[fe80::1%25eth0]/",
		"https://[fc00::1]/",
		"https://[fd12:3456::1]:8443/",
		"https://[::ffff:127.0.0.1]/",
		"https://[::ffff:10.1.2.3]/",
		"https://[::127.0.0.1]/",
		"https://[64:ff9b::a00:1]/",
	};
	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
		if (check(blocked[i], false, false) != HOOKURL_BLOCKED)
			fail_msg("%s was not refused", blocked[i]);
		assert_int_equal(check(blocked[i], false, true), HOOKURL_OK);
	}
	const char *fine[] = { "https://8.8.8.8/",       "https://172.32.0.1/",
			       "https://[2001:db8::1]/", "https://[::ffff:8.8.8.8]/",
			       "https://localhost/",     "https://192.169.0.1/" };
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		if (check(fine[i], false, false) != HOOKURL_OK)
			fail_msg("%s was refused", fine[i]);
}

static void test_addr_class(void **state)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &a4.sin_addr);
	assert_string_equal(hookurl_addr_class((struct sockaddr *)&a4), "loopback");
	inet_pton(AF_INET, "192.168.0.9", &a4.sin_addr);
	assert_string_equal(hookurl_addr_class((struct sockaddr *)&a4), "private");
	inet_pton(AF_INET, "93.184.216.34", &a4.sin_addr);
	assert_null(hookurl_addr_class((struct sockaddr *)&a4));
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "::ffff:169.254.1.1", &a6.sin6_addr);
	assert_string_equal(hookurl_addr_class((struct sockaddr *)&a6), "link-local");
	inet_pton(AF_INET6, "::", &a6.sin6_addr);
	assert_string_equal(hookurl_addr_class((struct sockaddr *)&a6), "unspecified");
	inet_pton(AF_INET6, "2606:4700::1111", &a6.sin6_addr);
	assert_null(hookurl_addr_class((struct sockaddr *)&a6));
}

static void test_backoff(void **state)
{
	assert_int_equal(deliver_backoff_ms(1, 1000, 3600000), 1000);
	assert_int_equal(deliver_backoff_ms(2, 1000, 3600000), 2000);
	assert_int_equal(deliver_backoff_ms(5, 1000, 3600000), 16000);
	assert_int_equal(deliver_backoff_ms(12, 1000, 3600000), 2048000);
	assert_int_equal(deliver_backoff_ms(13, 1000, 3600000), 3600000);
	assert_int_equal(deliver_backoff_ms(100000, 1000, 3600000), 3600000);
	assert_int_equal(deliver_backoff_ms(3, 100, 250), 250);
}

/* The example of the Standard Webhooks specification's reference
 * libraries. */
static void test_signature(void **state)
{
	char sig[128];
	assert_int_equal(deliver_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
				      "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
				      "{\"test\": 2432232314}", sig, sizeof(sig)),
			 0);
	assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	/* One byte of the body changed: another signature. */
	assert_int_equal(deliver_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
				      "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
				      "{\"test\": 2432232315}", sig, sizeof(sig)),
			 0);
	assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	assert_int_equal(deliver_sign("whsec_!!!", "m", 1, "b", sig, sizeof(sig)), -1);
	assert_int_equal(
		deliver_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, "b", sig, 10), -1);
}

static void test_body(void **state)
{
	deliver_event e = { 42, "PAYMENT_RECEIVED",  "alice",      "o_1",
			    "", "fairness \"9000\"", 1614265330123 };
	char *body = deliver_body(&e);
	assert_non_null(body);
	json_error_t err;
	json_t *j = json_loads(body, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "payment_received");
	assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
			    "2021-02-25T15:02:10.123Z");
	json_t *d = json_object_get(j, "data");
	assert_string_equal(json_string_value(json_object_get(d, "id")), "42");
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "PAYMENT_RECEIVED");
	assert_string_equal(json_string_value(json_object_get(d, "customer_id")), "alice");
	assert_string_equal(json_string_value(json_object_get(d, "offer_id")), "o_1");
	assert_string_equal(json_string_value(json_object_get(d, "payment_id")), "");
	assert_string_equal(json_string_value(json_object_get(d, "detail")), "fairness \"9000\"");
	assert_int_equal(json_integer_value(json_object_get(d, "at_unix_ms")), 1614265330123);
	json_decref(j);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_schemes), cmocka_unit_test(test_url_literal_addresses),
		cmocka_unit_test(test_addr_class),  cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_signature),   cmocka_unit_test(test_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
