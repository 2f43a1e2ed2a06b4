/* Vendor calls for the catalogue: products and the vendor's policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cache.h"
#include "conv.h"
#include "idem.h"
#include "limit.h"
#include "names.h"
#include "rpc.h"
#include "store.h"
#include "text.h"

#define POLICY_WRITE_TRIES 3

static bool money_ok(int64_t v)
{
	return v >= 0 && v <= LIMIT_MONEY_MAX;
}

/* ------------------------------------------------------------ products */

static int check_product(rpc_call *call, const Fairpay__V1__Product *p)
{
	const char *bad = NULL;
	const char *why = NULL;
	if (p == NULL) {
		bad = "product", why = "product is required";
	} else if (!text_valid_sku(p->sku)) {
		bad = "product.sku", why = "sku must be 1 to 64 bytes of A-Z a-z 0-9 . _ -";
	} else if (!text_valid_name(p->name, LIMIT_NAME_BYTES)) {
		bad = "product.name", why = "name must be 1 to 200 bytes of UTF-8";
	} else if (!text_valid_currency(p->currency)) {
		bad = "product.currency",
		why = "currency must be three upper-case letters (ISO 4217)";
	} else if (!money_ok(p->suggested_price_minor)) {
		bad = "product.suggested_price_minor", why = "must be 0 to 10^15 minor units";
	} else if (!money_ok(p->unit_price_minor)) {
		bad = "product.unit_price_minor", why = "must be 0 to 10^15 minor units";
	} else if (!money_ok(p->list_price_minor)) {
		bad = "product.list_price_minor", why = "must be 0 to 10^15 minor units";
	} else if (!money_ok(p->minimum_price_minor)) {
		bad = "product.minimum_price_minor", why = "must be 0 to 10^15 minor units";
	} else if (p->min_tier != 0 && names_known(NAMES_TIER, p->min_tier) == NULL) {
		bad = "product.min_tier", why = "min_tier is not a known Tier";
	} else if (p->period_days < 0 || p->period_days > LIMIT_PERIOD_DAYS_MAX) {
		bad = "product.period_days", why = "period_days must be 0 to 3660";
	}
	if (bad == NULL)
		return 0;
	rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, bad, "%s", why);
	return -1;
}

#define PRODUCT_WRITE_TRIES 10

static void put_product_read(rpc_call *call);

static void put_product_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	bool changed = st == DB_OK && PQntuples(res) == 1 && db_get_i64(res, 0, 0) == 1;
	if (idem_write_failed(call, st, res, changed))
		return;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (!changed) {
		/* Another writer changed the product since we read it. */
		int *tries = call->ctx;
		if (++*tries >= PRODUCT_WRITE_TRIES) {
			rpc_fail(call, FAIRPAY__V1__CODE__ABORTED, NULL,
				 "the product is being changed concurrently; try again");
			return;
		}
		call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT__NOT_SET;
		put_product_read(call);
		return;
	}
	char key[STORE_KEY_LEN];
	store_key_product(key, sizeof(key), call->vendor_id, call->resp.put_product->product->sku);
	cache_del(call->srv->cache, key);
	rpc_ok(call);
}

/* Write the product over the version read (0: none yet), with the reply
 * built first so that the write records it and announces the change. */
static void put_product_loaded(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	const Fairpay__V1__Product *p = call->req->put_product->product;
	int64_t read_version = PQntuples(res) == 1 ? db_get_i64(res, 0, 0) : 0;
	/* An unset min_tier is stored as the tier it stands for, so that a read
	 * gives it back set (and the rules never see it unset). */
	fp_tier min_tier = fp_product_min_tier((fp_tier)p->min_tier);
	Fairpay__V1__Product *out = rpc_alloc(call, sizeof(*out));
	*out = *p;
	out->min_tier = (Fairpay__V1__Tier)min_tier;
	out->version = read_version + 1;
	Fairpay__V1__PutProductResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__put_product_response__init(r);
	r->product = out;
	r->created = read_version == 0;
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_PUT_PRODUCT;
	call->resp.put_product = r;

	char sp[24], unit[24], list[24], min[24], period[16], version[24];
	snprintf(sp, sizeof(sp), "%lld", (long long)p->suggested_price_minor);
	snprintf(unit, sizeof(unit), "%lld", (long long)p->unit_price_minor);
	snprintf(list, sizeof(list), "%lld", (long long)p->list_price_minor);
	snprintf(min, sizeof(min), "%lld", (long long)p->minimum_price_minor);
	snprintf(period, sizeof(period), "%d", p->period_days);
	snprintf(version, sizeof(version), "%lld", (long long)read_version);
	/* Other servers' caches drop the product when this commits. */
	char key[STORE_KEY_LEN];
	store_key_product(key, sizeof(key), call->vendor_id, p->sku);
	json_t *keys = json_pack("[s]", key);
	char *notify = keys ? json_dumps(keys, JSON_COMPACT) : NULL;
	json_decref(keys);
	const char *params[] = { call->vendor_id,
				 p->sku,
				 p->name,
				 p->currency,
				 sp,
				 unit,
				 list,
				 min,
				 names_known(NAMES_TIER, (int)min_tier),
				 period,
				 version,
				 notify ? notify : "[]" };
	idem_write(call,
		   "WITH w AS (INSERT INTO products AS p (vendor_id, sku, name, currency,"
		   "  suggested_price_minor, unit_price_minor, list_price_minor,"
		   "  minimum_price_minor, min_tier, period_days, version)"
		   "  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::bigint + 1)"
		   "  ON CONFLICT (vendor_id, sku) DO UPDATE SET name = EXCLUDED.name,"
		   "  currency = EXCLUDED.currency,"
		   "  suggested_price_minor = EXCLUDED.suggested_price_minor,"
		   "  unit_price_minor = EXCLUDED.unit_price_minor,"
		   "  list_price_minor = EXCLUDED.list_price_minor,"
		   "  minimum_price_minor = EXCLUDED.minimum_price_minor,"
		   "  min_tier = EXCLUDED.min_tier, period_days = EXCLUDED.period_days,"
		   "  version = EXCLUDED.version, updated_at = now()"
		   "  WHERE p.version = $11::bigint RETURNING 1)," IDEM_RECORD_CTE(
			   "w", "$13", "$14", "$15", "$16",
			   "$17") " SELECT count(*), (SELECT count(pg_notify('" CACHE_CHANNEL
				  "', $12)) FROM w)"
				  " FROM w",
		   12, params, put_product_done);
	free(notify);
}

static void put_product_read(rpc_call *call)
{
	const char *params[] = { call->vendor_id, call->req->put_product->product->sku };
	rpc_query(call, "SELECT version FROM products WHERE vendor_id = $1 AND sku = $2", 2, params,
		  put_product_loaded);
}

void rpc_put_product(rpc_call *call)
{
	const Fairpay__V1__Product *p = call->req->put_product->product;
	if (check_product(call, p) != 0)
		return;
	call->ctx = rpc_alloc(call, sizeof(int));
	put_product_read(call);
}

static void get_product_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (PQntuples(res) != 1) {
		rpc_fail(call, FAIRPAY__V1__CODE__NOT_FOUND, "sku", "no product %s",
			 call->req->get_product->sku);
		return;
	}
	Fairpay__V1__GetProductResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__get_product_response__init(r);
	r->product = conv_product(call, res, 0, 0);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_GET_PRODUCT;
	call->resp.get_product = r;
	rpc_ok(call);
}

void rpc_get_product(rpc_call *call)
{
	const char *sku = call->req->get_product->sku;
	if (!text_valid_sku(sku)) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "sku",
			 "sku must be 1 to 64 bytes of A-Z a-z 0-9 . _ -");
		return;
	}
	const char *params[] = { call->vendor_id, sku };
	rpc_query(call,
		  "SELECT " CONV_PRODUCT_COLS " FROM products WHERE vendor_id = $1 AND sku = $2", 2,
		  params, get_product_done);
}

static void list_products_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	bool more = false;
	unsigned n = rpc_page_size(call->req->list_products->limit, PQntuples(res), &more);
	Fairpay__V1__ListProductsResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__list_products_response__init(r);
	r->products = rpc_alloc(call, (n ? n : 1) * sizeof(*r->products));
	size_t used = 0;
	for (unsigned i = 0; i < n; i++) {
		r->products[i] = conv_product(call, res, (int)i, 0);
		if (!rpc_page_fits(call, &used,
				   fairpay__v1__product__get_packed_size(r->products[i]))) {
			n = i; /* the rest on the next page */
			more = true;
		}
	}
	r->n_products = n;
	/* One row past the page says there is another page. */
	r->next_page_token = more ? r->products[n - 1]->sku : "";
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_LIST_PRODUCTS;
	call->resp.list_products = r;
	rpc_ok(call);
}

void rpc_list_products(rpc_call *call)
{
	const Fairpay__V1__ListProductsRequest *in = call->req->list_products;
	if (in->page_token[0] != '\0' && !text_valid_sku(in->page_token)) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "page_token",
			 "page_token is not one this server returned");
		return;
	}
	char limit[16];
	rpc_page_query_limit(in->limit, limit, sizeof(limit));
	rpc_reserve_page(call, in->limit);
	const char *params[] = { call->vendor_id, in->page_token, limit };
	rpc_query(call,
		  "SELECT " CONV_PRODUCT_COLS " FROM products WHERE vendor_id = $1 AND sku > $2"
		  " ORDER BY sku LIMIT $3",
		  3, params, list_products_done);
}

/* ------------------------------------------------------------ policy */

/* The stored policy; no row means the defaults (fp_policy_defaults(), version 0). */
#define POLICY_READ "SELECT " STORE_POLICY_COLS " FROM policies WHERE vendor_id = $1"

static void policy_from_result(const PGresult *res, fp_policy *p)
{
	if (PQntuples(res) == 0)
		fp_policy_defaults(p);
	else
		store_policy_from_row(res, 0, 0, p);
}

static void policy_reply(rpc_call *call, const fp_policy *p)
{
	Fairpay__V1__GetPolicyResponse *r = rpc_alloc(call, sizeof(*r));
	fairpay__v1__get_policy_response__init(r);
	r->policy = conv_policy_to_pb(call, p);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_GET_POLICY;
	call->resp.get_policy = r;
	rpc_ok(call);
}

static void get_policy_done(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	if (st != DB_OK || PQntuples(res) > 1) {
		rpc_fail_db(call, st == DB_OK ? DB_ERROR : st, res);
		return;
	}
	store_policy pol = { PQntuples(res) == 1, { 0 } };
	policy_from_result(res, &pol.policy);
	/* Kept unless a change of it was heard while reading. */
	char key[STORE_KEY_LEN];
	store_key_policy(key, sizeof(key), call->vendor_id);
	cache_fill(call->srv->cache, *(unsigned long long *)call->ctx, key, &pol, sizeof(pol));
	policy_reply(call, &pol.policy);
}

void rpc_get_policy(rpc_call *call)
{
	char key[STORE_KEY_LEN];
	store_policy pol;
	store_key_policy(key, sizeof(key), call->vendor_id);
	if (cache_get(call->srv->cache, key, &pol, sizeof(pol))) {
		policy_reply(call, &pol.policy);
		return;
	}
	unsigned long long *gen = rpc_alloc(call, sizeof(*gen));
	*gen = cache_mark(call->srv->cache);
	call->ctx = gen;
	const char *params[] = { call->vendor_id };
	rpc_query(call, POLICY_READ, 1, params, get_policy_done);
}

/* What rpc_policy_load() continues with. */
typedef struct policy_load {
	unsigned long long generation;
	rpc_policy_cb then;
} policy_load;

static void policy_loaded(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	policy_load *pl = call->ctx;
	if (st != DB_OK || PQntuples(res) > 1) {
		rpc_fail_db(call, st == DB_OK ? DB_ERROR : st, res);
		return;
	}
	store_policy pol = { PQntuples(res) == 1, { 0 } };
	policy_from_result(res, &pol.policy);
	char key[STORE_KEY_LEN];
	store_key_policy(key, sizeof(key), call->vendor_id);
	cache_fill(call->srv->cache, pl->generation, key, &pol, sizeof(pol));
	call->ctx = NULL;
	pl->then(call, &pol.policy);
}

void rpc_policy_load(rpc_call *call, rpc_policy_cb then)
{
	char key[STORE_KEY_LEN];
	store_policy pol;
	store_key_policy(key, sizeof(key), call->vendor_id);
	if (cache_get(call->srv->cache, key, &pol, sizeof(pol))) {
		then(call, &pol.policy);
		return;
	}
	policy_load *pl = rpc_alloc(call, sizeof(*pl));
	pl->generation = cache_mark(call->srv->cache);
	pl->then = then;
	call->ctx = pl;
	const char *params[] = { call->vendor_id };
	rpc_query(call, POLICY_READ, 1, params, policy_loaded);
}

typedef struct policy_ctx {
	fp_policy merged;
	int tries;
} policy_ctx;

static void put_policy_read(rpc_call *call);

#define MERGE(field, FIELD)                                                               \
	do {                                                                              \
		if (in->opt_##field##_case == FAIRPAY__V1__POLICY__OPT_##FIELD##_##FIELD) \
			p->field = in->field;                                             \
	} while (0)

int rpc_policy_merge(rpc_call *call, const Fairpay__V1__Policy *in, bool set_excusing_reasons,
		     fp_policy *p)
{
	if (in->opt_enforcement_case == FAIRPAY__V1__POLICY__OPT_ENFORCEMENT_ENFORCEMENT) {
		if (names_known(NAMES_ENFORCEMENT, in->enforcement) == NULL) {
			rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "policy.enforcement",
				 "enforcement must be ENFORCE or VOLUNTARY");
			return -1;
		}
		p->enforcement = (fp_enforcement)in->enforcement;
	}
#define MERGE_ENFORCEMENT(f, F) /* checked: above */
#define MERGE_I32(f, F) MERGE(f, F);
#define MERGE_I64(f, F) MERGE(f, F);
#define MERGE_REASONS(f, F) /* a repeated field: below */
#define MERGE_FIELD(f, F, KIND) MERGE_##KIND(f, F)
	FP_POLICY_FIELDS(MERGE_FIELD)
	if (set_excusing_reasons) {
		uint32_t mask = 0;
		for (size_t i = 0; i < in->n_excusing_reasons; i++) {
			if (!fp_payment_reason_valid((int)in->excusing_reasons[i])) {
				rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT,
					 "policy.excusing_reasons",
					 "excusing_reasons holds an unknown PaymentReason");
				return -1;
			}
			mask |= FP_REASON_BIT(in->excusing_reasons[i]);
		}
		p->excusing_reasons = mask;
	}
	const char *field = NULL;
	if (fp_policy_validate(p, &field) != 0) {
		char name[64];
		snprintf(name, sizeof(name), "policy.%s", field ? field : "");
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, name,
			 "%s is out of range or out of order with the other thresholds",
			 field ? field : "a field");
		return -1;
	}
	return 0;
}

static void reasons_text(uint32_t mask, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (int r = 1; r <= FP_PAYMENT_REASON_MAX; r++) {
		if (!(mask & FP_REASON_BIT(r)))
			continue;
		int n = snprintf(out + used, len - used, "%s%s", used ? "," : "",
				 names_of(NAMES_PAYMENT_REASON, r));
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

static void put_policy_written(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	policy_ctx *ctx = call->ctx;
	if (idem_write_failed(call, st, res, st == DB_OK && PQntuples(res) == 1))
		return;
	if (st != DB_OK) {
		rpc_fail_db(call, st, res);
		return;
	}
	if (PQntuples(res) != 1) {
		/* Another writer changed the policy since we read it: merge
		 * again over its version. */
		call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT__NOT_SET;
		if (++ctx->tries >= POLICY_WRITE_TRIES) {
			rpc_fail(call, FAIRPAY__V1__CODE__ABORTED, NULL,
				 "the policy is being changed concurrently; try again");
			return;
		}
		put_policy_read(call);
		return;
	}
	/* This server's cache takes the new policy at once. */
	char key[STORE_KEY_LEN];
	store_policy pol = { true, ctx->merged };
	store_key_policy(key, sizeof(key), call->vendor_id);
	cache_put(call->srv->cache, key, &pol, sizeof(pol));
	rpc_ok(call);
}

static void put_policy_loaded(void *arg, db_status st, PGresult *res)
{
	rpc_call *call = arg;
	policy_ctx *ctx = call->ctx;
	if (st != DB_OK || PQntuples(res) > 1) {
		rpc_fail_db(call, st == DB_OK ? DB_ERROR : st, res);
		return;
	}
	fp_policy *p = &ctx->merged;
	policy_from_result(res, p);
	int64_t read_version = p->version;
	const Fairpay__V1__PutPolicyRequest *req = call->req->put_policy;
	if (rpc_policy_merge(call, req->policy, req->set_excusing_reasons, p) != 0)
		return;
	char v[20][32];
	char reasons[160];
	reasons_text(p->excusing_reasons, reasons, sizeof(reasons));
	snprintf(v[0], 32, "%d", p->prior_score_bp);
	snprintf(v[1], 32, "%d", p->alpha_bp);
	snprintf(v[2], 32, "%d", p->probation_payments);
	snprintf(v[3], 32, "%d", p->trusted_score_bp);
	snprintf(v[4], 32, "%d", p->fair_score_bp);
	snprintf(v[5], 32, "%d", p->low_score_bp);
	snprintf(v[6], 32, "%d", p->generous_bp);
	snprintf(v[7], 32, "%d", p->max_open_defaults);
	snprintf(v[8], 32, "%d", p->restricted_minimum_bp);
	snprintf(v[9], 32, "%lld", (long long)p->probation_credit_minor);
	snprintf(v[10], 32, "%lld", (long long)p->standard_credit_minor);
	snprintf(v[11], 32, "%lld", (long long)p->trusted_credit_minor);
	snprintf(v[12], 32, "%d", p->excused_floor_bp);
	snprintf(v[13], 32, "%d", p->late_penalty_bp);
	snprintf(v[14], 32, "%lld", (long long)p->offer_ttl_seconds);
	snprintf(v[15], 32, "%lld", (long long)p->payment_window_seconds);
	snprintf(v[16], 32, "%lld", (long long)read_version);
	snprintf(v[17], 32, "%d", p->attestation_cap_bp);
	const char *params[] = { call->vendor_id,
				 names_of(NAMES_ENFORCEMENT, p->enforcement),
				 v[0],
				 v[1],
				 v[2],
				 v[3],
				 v[4],
				 v[5],
				 v[6],
				 v[7],
				 v[8],
				 v[9],
				 v[10],
				 v[11],
				 reasons,
				 v[12],
				 v[13],
				 v[14],
				 v[15],
				 v[16] };
	/* The reply is known before the write (the version read, plus one),
	 * so the write records it under an idempotency key, and announces the
	 * change to the other servers' caches, in the same statement. */
	p->version = read_version + 1;
	Fairpay__V1__PutPolicyResponse *resp = rpc_alloc(call, sizeof(*resp));
	fairpay__v1__put_policy_response__init(resp);
	resp->policy = conv_policy_to_pb(call, p);
	call->resp.result_case = FAIRPAY__V1__RESPONSE__RESULT_PUT_POLICY;
	call->resp.put_policy = resp;
	char key[STORE_KEY_LEN];
	store_key_policy(key, sizeof(key), call->vendor_id);
	json_t *keys = json_pack("[s]", key);
	char *notify = keys ? json_dumps(keys, JSON_COMPACT) : NULL;
	json_decref(keys);
	const char *all[22];
	memcpy(all, params, sizeof(params));
	all[20] = notify ? notify : "[]";
	all[21] = v[17];
	/* Written whole, and only over the version that was read: a
	 * concurrent PutPolicy makes this one merge again rather than lose
	 * the other's fields. */
	idem_write(
		call,
		"WITH w AS (INSERT INTO policies AS p (vendor_id, enforcement, prior_score_bp, "
		"alpha_bp,"
		" probation_payments, trusted_score_bp, fair_score_bp, low_score_bp, generous_bp,"
		" max_open_defaults, restricted_minimum_bp, probation_credit_minor,"
		" standard_credit_minor, trusted_credit_minor, excusing_reasons, excused_floor_bp,"
		" late_penalty_bp, offer_ttl_seconds, payment_window_seconds, version,"
		" attestation_cap_bp)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
		" string_to_array($15, ',')::text[], $16, $17, $18, $19, $20::bigint + 1, $22)"
		" ON CONFLICT (vendor_id) DO UPDATE SET enforcement = EXCLUDED.enforcement,"
		" prior_score_bp = EXCLUDED.prior_score_bp, alpha_bp = EXCLUDED.alpha_bp,"
		" probation_payments = EXCLUDED.probation_payments,"
		" trusted_score_bp = EXCLUDED.trusted_score_bp,"
		" fair_score_bp = EXCLUDED.fair_score_bp, low_score_bp = EXCLUDED.low_score_bp,"
		" generous_bp = EXCLUDED.generous_bp,"
		" max_open_defaults = EXCLUDED.max_open_defaults,"
		" restricted_minimum_bp = EXCLUDED.restricted_minimum_bp,"
		" probation_credit_minor = EXCLUDED.probation_credit_minor,"
		" standard_credit_minor = EXCLUDED.standard_credit_minor,"
		" trusted_credit_minor = EXCLUDED.trusted_credit_minor,"
		" excusing_reasons = EXCLUDED.excusing_reasons,"
		" excused_floor_bp = EXCLUDED.excused_floor_bp,"
		" late_penalty_bp = EXCLUDED.late_penalty_bp,"
		" offer_ttl_seconds = EXCLUDED.offer_ttl_seconds,"
		" payment_window_seconds = EXCLUDED.payment_window_seconds,"
		" attestation_cap_bp = EXCLUDED.attestation_cap_bp,"
		" version = EXCLUDED.version, updated_at = now()"
		" WHERE p.version = $20::bigint"
		" RETURNING version)," IDEM_RECORD_CTE(
			"w", "$23", "$24", "$25", "$26",
			"$27") " SELECT w.version, pg_notify('" CACHE_CHANNEL "', $21) FROM w",
		22, all, put_policy_written);
	free(notify);
}

static void put_policy_read(rpc_call *call)
{
	const char *params[] = { call->vendor_id };
	rpc_query(call, POLICY_READ, 1, params, put_policy_loaded);
}

void rpc_put_policy(rpc_call *call)
{
	if (call->req->put_policy->policy == NULL) {
		rpc_fail(call, FAIRPAY__V1__CODE__INVALID_ARGUMENT, "policy", "policy is required");
		return;
	}
	call->ctx = rpc_alloc(call, sizeof(policy_ctx));
	put_policy_read(call);
}
