/* Integration tests of the admin calls: field validation (code and
 * status.field), NOT_FOUND for unknown ids, ListVendors pagination, and that a
 * refused call stores nothing. */
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
	h_world w; /* db, admin_key, srv, admin */
} T;

static long long count_vendors(void)
{
	return h_sql_int(T.w.db, "SELECT count(*) FROM vendors");
}

static long long count_keys(void)
{
	return h_sql_int(T.w.db, "SELECT count(*) FROM api_keys");
}

static void assert_field(const char *want)
{
	if (strcmp(h_last_field(), want) != 0)
		fail_msg("status.field is '%s', want '%s' (message '%s')", h_last_field(), want,
			 h_last_message());
}

static int setup(void **state)
{
	h_world_start(&T.w, "fp_it_admin", NULL);
	return 0;
}

static int teardown(void **state)
{
	h_world_stop(&T.w);
	return 0;
}

static void test_create_vendor_validation(void **state)
{
	long long vendors = count_vendors(), keys = count_keys();
	char n201[202];
	memset(n201, 'x', 201);
	n201[201] = '\0';
	const char *bad[] = { "",         n201,           "bad \xff\xfe utf8",
			      "\xc0\xaf", "\xed\xa0\x80", "cut \xe2\x82" };
	const char *what[] = { "empty",    "201 bytes", "0xFF 0xFE",
			       "overlong", "surrogate", "truncated" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int code = h_create_vendor(T.w.admin, bad[i], NULL, NULL, NULL);
		if (code != FAIRPAY__V1__CODE__INVALID_ARGUMENT)
			fail_msg("name %s: got %s, want INVALID_ARGUMENT", what[i],
				 h_code_name(code));
		assert_field("name");
	}
	assert_int_equal(count_vendors(), vendors);
	assert_int_equal(count_keys(), keys);
	/* The connection is still usable after refused calls. */
	h_assert_code(h_ping(T.w.admin), FAIRPAY__V1__CODE__OK);
}

static void test_create_vendor_limits(void **state)
{
	/* 200 bytes is the limit, counted in bytes: 100 two-byte characters. */
	char n200[201];
	memset(n200, 'y', 200);
	n200[200] = '\0';
	char *vid = NULL, *key = NULL, *kid = NULL;
	h_assert_code(h_create_vendor(T.w.admin, n200, &vid, &key, &kid), FAIRPAY__V1__CODE__OK);
	char *sql = h_fmt("SELECT name FROM vendors WHERE id = '%s'", vid);
	char *stored = h_sql(T.w.db, sql);
	assert_non_null(stored);
	assert_string_equal(stored, n200);
	free(stored);
	free(sql);
	free(vid);
	free(key);
	free(kid);

	char e100[201];
	for (int i = 0; i < 100; i++)
		memcpy(e100 + 2 * i, "\xc3\xa9", 2);
	e100[200] = '\0';
	h_assert_code(h_create_vendor(T.w.admin, e100, &vid, NULL, NULL), FAIRPAY__V1__CODE__OK);
	sql = h_fmt("SELECT octet_length(name) FROM vendors WHERE id = '%s'", vid);
	assert_int_equal(h_sql_int(T.w.db, sql), 200);
	free(sql);
	free(vid);

	char e101[203];
	for (int i = 0; i < 101; i++)
		memcpy(e101 + 2 * i, "\xc3\xa9", 2);
	e101[202] = '\0';
	h_assert_code(h_create_vendor(T.w.admin, e101, NULL, NULL, NULL),
		      FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	assert_field("name");
}

static void test_create_vendor_result(void **state)
{
	char *vid = NULL, *key = NULL, *kid = NULL;
	Fairpay__V1__CreateVendorRequest cv = FAIRPAY__V1__CREATE_VENDOR_REQUEST__INIT;
	cv.name = "Acme \xe2\x82\xac Widgets";
	Fairpay__V1__Request req = FAIRPAY__V1__REQUEST__INIT;
	req.call_case = FAIRPAY__V1__REQUEST__CALL_CREATE_VENDOR;
	req.create_vendor = &cv;
	Fairpay__V1__Response *resp = NULL;
	h_assert_code(h_call(T.w.admin, &req, &resp), FAIRPAY__V1__CODE__OK);
	assert_int_equal(resp->result_case, FAIRPAY__V1__RESPONSE__RESULT_CREATE_VENDOR);
	Fairpay__V1__CreateVendorResponse *r = resp->create_vendor;
	assert_non_null(r->vendor);
	assert_string_equal(r->vendor->name, "Acme \xe2\x82\xac Widgets");
	assert_int_equal(strlen(r->vendor->id), 18);
	assert_memory_equal(r->vendor->id, "v_", 2);
	assert_true(r->vendor->created_at_unix_ms > 1600000000000LL);
	assert_int_equal(strlen(r->api_key), 84);
	assert_memory_equal(r->api_key, "fp_", 3);
	assert_int_equal(strlen(r->key_id), 16);
	assert_memory_equal(r->api_key + 3, r->key_id, 16);
	vid = strdup(r->vendor->id);
	key = strdup(r->api_key);
	kid = strdup(r->key_id);
	fp_response_free(resp);

	/* Stored as a VENDOR key of that vendor, with only a hash of the secret. */
	char *sql = h_fmt("SELECT role || ' ' || vendor_id || ' ' || (revoked_at IS NULL) "
			  "FROM api_keys WHERE id = '%s'",
			  kid);
	char *row = h_sql(T.w.db, sql);
	char *want = h_fmt("VENDOR %s true", vid);
	assert_non_null(row);
	assert_string_equal(row, want);
	free(sql);
	free(row);
	free(want);
	sql = h_fmt("SELECT count(*) FROM api_keys WHERE strpos(secret_hash, '%s') > 0", key + 20);
	assert_int_equal(h_sql_int(T.w.db, sql), 0);
	free(sql);

	/* The key authenticates as that vendor. */
	fp_client *c = h_connect(T.w.srv);
	Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;
	char *got = NULL;
	h_assert_code(h_auth(c, key, &role, &got), FAIRPAY__V1__CODE__OK);
	assert_int_equal(role, FAIRPAY__V1__ROLE__ROLE_VENDOR);
	assert_string_equal(got, vid);
	fp_client_free(c);
	free(got);
	free(vid);
	free(key);
	free(kid);
}

static void test_create_api_key_validation(void **state)
{
	char *vid = NULL;
	h_assert_code(h_create_vendor(T.w.admin, "key validation", &vid, NULL, NULL),
		      FAIRPAY__V1__CODE__OK);
	long long vendors = count_vendors(), keys = count_keys();

	h_assert_code(
		h_create_api_key(T.w.admin, vid, FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED, NULL, NULL),
		FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	assert_field("role");
	h_assert_code(h_create_api_key(T.w.admin, vid, 99, NULL, NULL),
		      FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	assert_field("role");
	h_assert_code(h_create_api_key(T.w.admin, vid, -1, NULL, NULL),
		      FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	assert_field("role");
	h_assert_code(h_create_api_key(T.w.admin, NULL, FAIRPAY__V1__ROLE__ROLE_VENDOR, NULL, NULL),
		      FAIRPAY__V1__CODE__INVALID_ARGUMENT);
	assert_field("vendor_id");

	const char *malformed[] = { "nope",
				    "v_0123",
				    "V_0123456789ABCDEF",
				    "v_0123456789abcdeg",
				    "0123456789abcdef",
				    "v_0123456789abcdef0" };
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		int code = h_create_api_key(T.w.admin, malformed[i], FAIRPAY__V1__ROLE__ROLE_VENDOR,
					    NULL, NULL);
		if (code != FAIRPAY__V1__CODE__INVALID_ARGUMENT)
			fail_msg("vendor_id '%s': got %s, want INVALID_ARGUMENT", malformed[i],
				 h_code_name(code));
		assert_field("vendor_id");
	}
	h_assert_code(h_create_api_key(T.w.admin, "v_0123456789abcdef",
				       FAIRPAY__V1__ROLE__ROLE_VENDOR, NULL, NULL),
		      FAIRPAY__V1__CODE__NOT_FOUND);

	assert_int_equal(count_vendors(), vendors);
	assert_int_equal(count_keys(), keys);
	free(vid);
}

static void test_create_api_key_roles(void **state)
{
	char *vid = NULL;
	h_assert_code(h_create_vendor(T.w.admin, "second key vendor", &vid, NULL, NULL),
		      FAIRPAY__V1__CODE__OK);
	char *kid = NULL, *key = NULL;
	h_assert_code(h_create_api_key(T.w.admin, vid, FAIRPAY__V1__ROLE__ROLE_VENDOR, &kid, &key),
		      FAIRPAY__V1__CODE__OK);
	assert_int_equal(strlen(kid), 16);
	assert_memory_equal(key + 3, kid, 16);
	fp_client *c = h_connect(T.w.srv);
	Fairpay__V1__Role role = FAIRPAY__V1__ROLE__ROLE_UNSPECIFIED;
	char *got = NULL;
	h_assert_code(h_auth(c, key, &role, &got), FAIRPAY__V1__CODE__OK);
	assert_int_equal(role, FAIRPAY__V1__ROLE__ROLE_VENDOR);
	assert_string_equal(got, vid);
	fp_client_free(c);
	free(got);
	free(kid);
	free(key);

	h_assert_code(h_create_api_key(T.w.admin, NULL, FAIRPAY__V1__ROLE__ROLE_ADMIN, &kid, &key),
		      FAIRPAY__V1__CODE__OK);
	c = h_connect(T.w.srv);
	h_assert_code(h_auth(c, key, &role, &got), FAIRPAY__V1__CODE__OK);
	assert_int_equal(role, FAIRPAY__V1__ROLE__ROLE_ADMIN);
	assert_string_equal(got, "");
	h_assert_code(h_list_vendors(c, NULL, 1, NULL), FAIRPAY__V1__CODE__OK);
	fp_client_free(c);
	free(got);
	free(kid);
	free(key);
	free(vid);
}

static void test_revoke_validation(void **state)
{
	long long revoked_before =
		h_sql_int(T.w.db, "SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL");
	const char *malformed[] = { "",
				    "xyz",
				    "0123456789ABCDEF",
				    "0123456789abcde",
				    "0123456789abcdef0",
				    "fp_0123456789abcdef" };
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		int code = h_revoke_api_key(T.w.admin, malformed[i]);
		if (code != FAIRPAY__V1__CODE__INVALID_ARGUMENT)
			fail_msg("key_id '%s': got %s, want INVALID_ARGUMENT", malformed[i],
				 h_code_name(code));
		assert_field("key_id");
	}
	h_assert_code(h_revoke_api_key(T.w.admin, "fedcba9876543210"),
		      FAIRPAY__V1__CODE__NOT_FOUND);
	assert_int_equal(
		h_sql_int(T.w.db, "SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL"),
		revoked_before);

	char *kid = NULL;
	h_assert_code(h_create_vendor(T.w.admin, "to revoke", NULL, NULL, &kid),
		      FAIRPAY__V1__CODE__OK);
	h_assert_code(h_revoke_api_key(T.w.admin, kid), FAIRPAY__V1__CODE__OK);
	assert_int_equal(
		h_sql_int(T.w.db, "SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL"),
		revoked_before + 1);
	free(kid);
}

/* Page through every vendor with limit; returns how many, checking pages. */
static size_t list_all(uint32_t limit, char ***ids_out)
{
	char **ids = NULL;
	size_t n = 0;
	char *token = strdup("");
	int pages = 0;
	for (;;) {
		Fairpay__V1__Response *resp = NULL;
		h_assert_code(h_list_vendors(T.w.admin, token, limit, &resp),
			      FAIRPAY__V1__CODE__OK);
		Fairpay__V1__ListVendorsResponse *lv = resp->list_vendors;
		if (lv->n_vendors > limit)
			fail_msg("page of %zu vendors with limit %u", lv->n_vendors, limit);
		bool last = lv->next_page_token[0] == '\0';
		if (!last && lv->n_vendors != limit)
			fail_msg("non-last page of %zu vendors with limit %u", lv->n_vendors,
				 limit);
		for (size_t i = 0; i < lv->n_vendors; i++) {
			ids = realloc(ids, (n + 1) * sizeof(*ids));
			assert_non_null(ids);
			ids[n++] = strdup(lv->vendors[i]->id);
		}
		free(token);
		token = strdup(lv->next_page_token);
		fp_response_free(resp);
		if (++pages > 1000)
			fail_msg("pagination does not end");
		if (last)
			break;
	}
	free(token);
	*ids_out = ids;
	return n;
}

static void free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

static void test_list_vendors_pagination(void **state)
{
	char *created[5];
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "page vendor %d", i);
		h_assert_code(h_create_vendor(T.w.admin, name, &created[i], NULL, NULL),
			      FAIRPAY__V1__CODE__OK);
	}
	long long total = count_vendors();
	assert_true(total >= 5);

	char **ids = NULL;
	size_t n = list_all(2, &ids);
	assert_int_equal(n, total);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(ids[i], ids[j]) == 0)
				fail_msg("vendor %s listed twice", ids[i]);
	for (int k = 0; k < 5; k++) {
		bool found = false;
		for (size_t i = 0; i < n; i++)
			found = found || strcmp(ids[i], created[k]) == 0;
		if (!found)
			fail_msg("created vendor %s not listed", created[k]);
	}
	free_ids(ids, n);

	/* Limit 1 and the default limit agree with limit 2. */
	n = list_all(1, &ids);
	assert_int_equal(n, total);
	free_ids(ids, n);

	Fairpay__V1__Response *resp = NULL;
	h_assert_code(h_list_vendors(T.w.admin, NULL, 0, &resp), FAIRPAY__V1__CODE__OK);
	assert_true(total <= 100);
	assert_int_equal(resp->list_vendors->n_vendors, total);
	assert_string_equal(resp->list_vendors->next_page_token, "");
	/* Every listed vendor has its id, name and creation time. */
	for (size_t i = 0; i < resp->list_vendors->n_vendors; i++) {
		Fairpay__V1__Vendor *v = resp->list_vendors->vendors[i];
		assert_int_equal(strlen(v->id), 18);
		assert_true(strlen(v->name) >= 1);
		assert_true(v->created_at_unix_ms > 1600000000000LL);
	}
	fp_response_free(resp);
	for (int i = 0; i < 5; i++)
		free(created[i]);
}

static void test_list_vendors_bad_token(void **state)
{
	const char *bad[] = { "!!!garbage", "\xff\xfe" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int code = h_list_vendors(T.w.admin, bad[i], 2, NULL);
		if (code != FAIRPAY__V1__CODE__INVALID_ARGUMENT)
			fail_msg("page_token #%zu: got %s, want INVALID_ARGUMENT", i,
				 h_code_name(code));
		assert_field("page_token");
	}
	h_assert_code(h_ping(T.w.admin), FAIRPAY__V1__CODE__OK);
}

static void test_clean_shutdown(void **state)
{
	assert_true(h_server_alive(T.w.srv));
	assert_int_equal(h_server_stop(T.w.srv, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_vendor_validation),
		cmocka_unit_test(test_create_vendor_limits),
		cmocka_unit_test(test_create_vendor_result),
		cmocka_unit_test(test_create_api_key_validation),
		cmocka_unit_test(test_create_api_key_roles),
		cmocka_unit_test(test_revoke_validation),
		cmocka_unit_test(test_list_vendors_pagination),
		cmocka_unit_test(test_list_vendors_bad_token),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
