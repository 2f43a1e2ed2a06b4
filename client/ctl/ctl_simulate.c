/* `fairpayctl simulate` (see ctl_simulate.h and, for the model, ctl_sim.h).
 *
 * The policy overrides are the KEY=VALUE words of `policy set`, parsed by
 * the same code (ctl_args_parse_policy) and checked by fp_policy_validate(),
 * so that a policy that the simulator takes is one the server takes. */
#include "ctl_simulate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_args.h"
#include "ctl_chart.h"
#include "ctl_out.h"
#include "money.h"

const char ctl_simulate_usage[] =
	"Usage: fairpayctl simulate [--population TYPE=PCT,...] [--customers N]\n"
	"           [--cycles N] [--seed N] [--sp MINOR] [--list-price MINOR]\n"
	"           [--walkaway PCT] [--currency CUR] [--json] [--svg FILE] [KEY=VALUE...]\n"
	"\n"
	"Play a population of customers through many cycles against a FairPay policy,\n"
	"offline (no server, no database), with the rules fairpayd applies, and\n"
	"compare the revenue with plain pay-what-you-want (every offer FAIRPAY, no\n"
	"reputation) and with set prices (the list price; the walk-away share does\n"
	"not buy). Every cycle each customer gets an offer on the terms of its\n"
	"reputation, and pays within the payment window or defaults.\n"
	"\n"
	"Customer types (the amount paid on a FairPay offer, as a share of SP):\n"
	"  fair        85-115%            generous    110-150%\n"
	"  low         30-70%             excuser     0-40%, giving DID_NOT_USE\n"
	"  free_rider  pays 0             defaulter   accepts, never pays\n"
	"  gamer       pays 0; when restricted, registers again under a new id\n"
	"The vendor reviews every excused payment: an id's first claim is accepted,\n"
	"the later ones rejected. A set price (or a minimum, when it is more than\n"
	"they would pay) is paid by every type except the walk-away share.\n"
	"\n"
	"  --population LIST   TYPE=PCT,... summing to 100 (default fair=100)\n"
	"  --customers N       1-1000000 (default 100)\n"
	"  --cycles N          1-10000 (default 50)\n"
	"  --seed N            the random seed (default 1); the same seed, the same run\n"
	"  --sp MINOR          the product's suggested price in minor units (default 1000)\n"
	"  --list-price MINOR  the set price (default: the SP)\n"
	"  --walkaway PCT      customers who would not buy at the set price (default 0)\n"
	"  --currency CUR      the currency shown (default " CTL_SIMULATE_CURRENCY ")\n"
	"  --json              print JSON instead of tables\n"
	"  --svg FILE          also write a chart: revenue and loss per type under the\n"
	"                      three pricings, and the tiers of the offers per cycle\n"
	"  KEY=VALUE           policy fields as in 'fairpayctl policy set', applied to\n"
	"                      the default policy\n";

/* --------------------------------------------------------------- command line */

__attribute__((format(printf, 3, 4))) static int sim_err(char *err, size_t size, const char *fmt,
							 ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -1;
}

/* Parse a decimal integer in [min, max]: digits with an optional '-'. */
static int sim_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	const char *d = s[0] == '-' ? s + 1 : s;
	char *end = NULL;
	if (d[0] < '0' || d[0] > '9')
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Parse --population: TYPE=PCT,... (each type once, summing to 100). */
static int sim_population(const char *s, int32_t share[CTL_SIM_TYPES], char *err, size_t size)
{
	bool seen[CTL_SIM_TYPES] = { false };
	int32_t sum = 0;
	memset(share, 0, sizeof(share[0]) * CTL_SIM_TYPES);
	const char *p = s;
	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		if (eq == NULL)
			return sim_err(err, size, "--population needs TYPE=PCT items, not '%.*s'",
				       (int)len, p);
		int t = ctl_sim_type_find(p, (size_t)(eq - p));
		if (t < 0)
			return sim_err(err, size,
				       "--population: unknown customer type '%.*s' (types: fair, "
				       "generous, low, free_rider, excuser, defaulter, gamer)",
				       (int)(eq - p), p);
		if (seen[t])
			return sim_err(err, size, "--population: '%s' is given twice",
				       ctl_sim_type_name((ctl_sim_type)t));
		char num[16];
		size_t nlen = len - (size_t)(eq + 1 - p);
		int64_t v = -1;
		if (nlen >= sizeof(num))
			nlen = sizeof(num) - 1;
		memcpy(num, eq + 1, nlen);
		num[nlen] = '\0';
		if (sim_int(num, 0, 100, &v) != 0)
			return sim_err(err, size,
				       "--population: the share of '%s' must be a whole percentage "
				       "0-100, not '%s'",
				       ctl_sim_type_name((ctl_sim_type)t), num);
		seen[t] = true;
		share[t] = (int32_t)v;
		sum += (int32_t)v;
		p += len;
		if (*p == ',')
			p++;
	}
	if (sum != 100)
		return sim_err(err, size, "--population: the shares sum to %d%%, not 100%%",
			       (int)sum);
	return 0;
}

/* Apply `policy set` edits to a policy. */
static void sim_apply_policy(fp_policy *p, const ctl_policy_edit *pe)
{
	for (int k = 0; k < CTL_POLICY_KEY_COUNT; k++) {
		if (!pe->set[k])
			continue;
		int64_t v = pe->value[k];
		switch ((ctl_policy_key)k) {
#define APPLY_CASE(f, F, value) \
	case CTL_POLICY_##F:    \
		p->f = (value); \
		break;
#define APPLY_ENFORCEMENT(f, F) APPLY_CASE(f, F, (fp_enforcement)v)
#define APPLY_I32(f, F) APPLY_CASE(f, F, (int32_t)v)
#define APPLY_I64(f, F) APPLY_CASE(f, F, v)
#define APPLY_REASONS(f, F) /* below */
#define APPLY(f, F, KIND) APPLY_##KIND(f, F)
			FP_POLICY_FIELDS(APPLY)
		case CTL_POLICY_EXCUSING_REASONS:
			p->excusing_reasons = 0;
			for (size_t i = 0; i < pe->n_reasons; i++)
				p->excusing_reasons |= FP_REASON_BIT(pe->reasons[i]);
			break;
		case CTL_POLICY_KEY_COUNT:
			break;
		}
	}
}

/* The options that take a value, and where it goes. */
typedef enum sim_opt {
	SIM_OPT_POPULATION,
	SIM_OPT_CUSTOMERS,
	SIM_OPT_CYCLES,
	SIM_OPT_SEED,
	SIM_OPT_SP,
	SIM_OPT_LIST_PRICE,
	SIM_OPT_WALKAWAY,
	SIM_OPT_CURRENCY,
	SIM_OPT_SVG,
	SIM_OPT_COUNT
} sim_opt;

static const char *const sim_opt_names[SIM_OPT_COUNT] = {
	"population", "customers", "cycles",   "seed", "sp",
	"list-price", "walkaway",  "currency", "svg",
};

/* Parse the words after `simulate`. */
int ctl_simulate_parse(int argc, char *const argv[], ctl_simulate_opts *o, char *err,
		       size_t err_size)
{
	const char *val[SIM_OPT_COUNT] = { NULL };
	const char *words[64];
	int nwords = 0;
	memset(o, 0, sizeof(*o));
	ctl_sim_defaults(&o->sim);
	o->currency = CTL_SIMULATE_CURRENCY;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			o->help = true;
			return 0;
		}
		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (strchr(a, '=') == NULL)
				return sim_err(err, err_size,
					       "unexpected '%s' (policy overrides are KEY=VALUE)",
					       a);
			if (nwords == (int)(sizeof(words) / sizeof(words[0])))
				return sim_err(err, err_size, "too many policy overrides");
			words[nwords++] = a;
			continue;
		}
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		int id = -1;
		for (int k = 0; k < SIM_OPT_COUNT && id < 0; k++)
			if (strlen(sim_opt_names[k]) == nlen &&
			    strncmp(sim_opt_names[k], name, nlen) == 0)
				id = k;
		if (id < 0)
			return sim_err(err, err_size, "unknown option '%s'", a);
		if (eq != NULL) {
			val[id] = eq + 1;
		} else if (i + 1 < argc) {
			val[id] = argv[++i];
		} else {
			return sim_err(err, err_size, "--%s needs a value", sim_opt_names[id]);
		}
	}

	static const struct {
		sim_opt id;
		int64_t min, max;
	} ints[] = {
		{ SIM_OPT_CUSTOMERS, 1, CTL_SIM_MAX_CUSTOMERS },
		{ SIM_OPT_CYCLES, 1, CTL_SIM_MAX_CYCLES },
		{ SIM_OPT_SEED, 0, INT64_MAX },
		{ SIM_OPT_SP, 0, 1000000000000LL },
		{ SIM_OPT_LIST_PRICE, 0, 1000000000000LL },
		{ SIM_OPT_WALKAWAY, 0, 100 },
	};
	int64_t v[SIM_OPT_COUNT] = { 0 };
	for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) {
		const char *s = val[ints[k].id];
		if (s != NULL && sim_int(s, ints[k].min, ints[k].max, &v[ints[k].id]) != 0)
			return sim_err(err, err_size,
				       "--%s needs a whole number between %" PRId64 " and %" PRId64
				       ", not '%s'",
				       sim_opt_names[ints[k].id], ints[k].min, ints[k].max, s);
	}
	ctl_sim_config *c = &o->sim;
	if (val[SIM_OPT_POPULATION] != NULL &&
	    sim_population(val[SIM_OPT_POPULATION], c->share, err, err_size) != 0)
		return -1;
	if (val[SIM_OPT_CUSTOMERS] != NULL)
		c->customers = v[SIM_OPT_CUSTOMERS];
	if (val[SIM_OPT_CYCLES] != NULL)
		c->cycles = (int32_t)v[SIM_OPT_CYCLES];
	if (val[SIM_OPT_SEED] != NULL)
		c->seed = (uint64_t)v[SIM_OPT_SEED];
	if (val[SIM_OPT_SP] != NULL) {
		c->product.suggested_price_minor = v[SIM_OPT_SP];
		c->product.list_price_minor = v[SIM_OPT_SP];
	}
	if (val[SIM_OPT_LIST_PRICE] != NULL)
		c->product.list_price_minor = v[SIM_OPT_LIST_PRICE];
	if (val[SIM_OPT_WALKAWAY] != NULL)
		c->walkaway_pct = (int32_t)v[SIM_OPT_WALKAWAY];
	if (c->customers * c->cycles > CTL_SIM_MAX_WORK)
		return sim_err(err, err_size, "--customers times --cycles is at most %lld",
			       (long long)CTL_SIM_MAX_WORK);
	if (val[SIM_OPT_CURRENCY] != NULL) {
		const char *cur = val[SIM_OPT_CURRENCY];
		size_t n = strlen(cur);
		if (n != 3 || strspn(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
			return sim_err(err, err_size,
				       "--currency needs three capital letters (ISO 4217), not "
				       "'%s'",
				       cur);
		o->currency = cur;
	}
	if (val[SIM_OPT_SVG] != NULL) {
		if (val[SIM_OPT_SVG][0] == '\0')
			return sim_err(err, err_size, "--svg needs a file name");
		o->svg = val[SIM_OPT_SVG];
	}
	ctl_policy_edit pe;
	if (ctl_args_parse_policy(words, nwords, &pe, err, err_size) != 0)
		return -1;
	sim_apply_policy(&c->policy, &pe);
	const char *field = NULL;
	if (fp_policy_validate(&c->policy, &field) != 0)
		return sim_err(err, err_size,
			       "the policy is out of range at '%s' (see 'fairpayctl policy set "
			       "--help')",
			       field != NULL ? field : "?");
	return 0;
}

/* ---------------------------------------------------------------- output */

/* Format minor units as major units (server/common/money.c: the
 * currency's ISO 4217 exponent). */
const char *ctl_simulate_money(int64_t minor, const char *currency, char buf[MONEY_TEXT_LEN])
{
	return money_format(minor, currency, buf);
}

/* Minor units as a number of major units, for the chart's axis. */
static double sim_major(int64_t minor, const char *currency)
{
	double d = (double)minor;
	for (int e = money_exponent(currency); e > 0; e--)
		d /= 10;
	return d;
}

static const char *const sim_pricing_names[CTL_SIM_PRICINGS] = { "fairpay", "pwyw", "set_price" };
static const char *const sim_pricing_titles[CTL_SIM_PRICINGS] = { "FairPay", "pay what you want",
								  "set price" };
/* Tier names in the chart and the JSON, by fp_tier value. */
static const char *const sim_tier_names[CTL_SIM_TIERS] = {
	"unspecified", "fixed_price", "restricted", "probation", "standard", "trusted",
};

static int64_t sim_per(int64_t v, int64_t n)
{
	return n > 0 ? v / n : 0;
}

static int sim_row_cells(ctl_table *t, const char *name, const ctl_sim_row *r, const char *cur)
{
	char b[7][MONEY_TEXT_LEN], c[2][24];
	snprintf(c[0], sizeof(c[0]), "%" PRId64, r->customers);
	snprintf(c[1], sizeof(c[1]), "%" PRId64, r->identities);
	const char *cells[9] = { name, c[0], c[1] };
	for (int k = 0; k < CTL_SIM_PRICINGS; k++) {
		cells[3 + 2 * k] = ctl_simulate_money(r->by[k].revenue_minor, cur, b[2 * k]);
		cells[4 + 2 * k] = ctl_simulate_money(sim_per(r->by[k].revenue_minor, r->customers),
						      cur, b[2 * k + 1]);
	}
	return ctl_table_add(t, cells);
}

static int sim_loss_cells(ctl_table *t, const char *name, const ctl_sim_row *r, const char *cur)
{
	char b[3][MONEY_TEXT_LEN];
	const char *cells[4] = {
		name,
		ctl_simulate_money(r->by[CTL_SIM_FAIRPAY].loss_minor, cur, b[0]),
		ctl_simulate_money(r->by[CTL_SIM_PWYW].loss_minor, cur, b[1]),
		ctl_simulate_money(r->max_identity_loss_minor, cur, b[2]),
	};
	return ctl_table_add(t, cells);
}

/* Print a result as tables. */
void ctl_simulate_print(FILE *f, const ctl_simulate_opts *o, const ctl_sim_result *r)
{
	const ctl_sim_config *c = &o->sim;
	const char *cur = o->currency;
	char m1[MONEY_TEXT_LEN], m2[MONEY_TEXT_LEN], m3[MONEY_TEXT_LEN];
	fprintf(f,
		"%" PRId64 " customers, %d cycles, seed %" PRIu64 "; SP %s, set price %s, "
		"walk-away %d%%\n\n",
		c->customers, (int)c->cycles, c->seed,
		ctl_simulate_money(c->product.suggested_price_minor, cur, m1),
		ctl_simulate_money(c->product.list_price_minor, cur, m2), (int)c->walkaway_pct);
	static const char *const h1[] = { "TYPE", "CUSTOMERS", "IDS",       "FAIRPAY", "PER CUST",
					  "PWYW", "PER CUST",  "SET PRICE", "PER CUST" };
	static const char *const h2[] = { "TYPE", "LOSS FAIRPAY", "LOSS PWYW", "MAX FREE PER ID" };
	ctl_table *t1 = ctl_table_new(9, h1), *t2 = ctl_table_new(4, h2);
	bool ok = t1 != NULL && t2 != NULL;
	for (int ty = 0; ok && ty < CTL_SIM_TYPES; ty++) {
		if (r->type[ty].customers == 0)
			continue;
		const char *name = ctl_sim_type_name((ctl_sim_type)ty);
		ok = sim_row_cells(t1, name, &r->type[ty], cur) == 0 &&
		     sim_loss_cells(t2, name, &r->type[ty], cur) == 0;
	}
	ok = ok && sim_row_cells(t1, "total", &r->total, cur) == 0 &&
	     sim_loss_cells(t2, "total", &r->total, cur) == 0;
	if (ok) {
		fputs("Revenue (FairPay, pay what you want, set price; per customer):\n", f);
		ctl_table_print(t1, f);
		fputs("\nLoss: SP minus the amount paid, over the cycles the product was taken;\n"
		      "MAX FREE PER ID: the most one customer id took for nothing (paid 0 or\n"
		      "defaulted) under FairPay:\n",
		      f);
		ctl_table_print(t2, f);
	} else {
		fputs("(out of memory for the tables)\n", f);
	}
	ctl_table_free(t1);
	ctl_table_free(t2);

	const ctl_sim_row *fr = &r->type[CTL_SIM_FREE_RIDER];
	fputs("\nFree riders under FairPay:\n", f);
	if (r->bounded)
		fprintf(f,
			"  loss bound per id: %s (the policy gives a customer who never pays %d "
			"FairPay offer%s of SP %s)\n",
			ctl_simulate_money(r->bound_minor, cur, m1), (int)r->bound_cycles,
			r->bound_cycles == 1 ? "" : "s",
			ctl_simulate_money(c->product.suggested_price_minor, cur, m2));
	else
		fprintf(f,
			"  loss bound per id: none (a zero payer keeps FairPay terms for all %d "
			"cycles)\n",
			(int)c->cycles);
	fprintf(f, "  probation credit: %s\n",
		ctl_simulate_money(c->policy.probation_credit_minor, cur, m3));
	if (fr->customers > 0) {
		fprintf(f, "  observed max loss per free-rider id: %s\n",
			ctl_simulate_money(fr->max_identity_loss_minor, cur, m1));
		if (r->bounded && fr->max_identity_loss_minor > r->bound_minor)
			fputs("  above the bound: free riders who paid a set price or a minimum\n"
			      "  earned FairPay terms back (see docs/fairpay.md, Tuning)\n",
			      f);
	}
	if (r->type[CTL_SIM_GAMER].customers > 0)
		fprintf(f, "  gamers: %" PRId64 " ids for %" PRId64 " people, max loss per id %s\n",
			r->type[CTL_SIM_GAMER].identities, r->type[CTL_SIM_GAMER].customers,
			ctl_simulate_money(r->type[CTL_SIM_GAMER].max_identity_loss_minor, cur,
					   m1));
	fprintf(f, "Reviews: %" PRId64 " accepted, %" PRId64 " rejected; defaults: %" PRId64 "\n",
		r->reviews_accepted, r->reviews_rejected, r->defaults);
}

static void sim_json_row(FILE *f, const ctl_sim_row *r)
{
	fprintf(f, "\"customers\":%" PRId64 ",\"identities\":%" PRId64 ",\"walkaway\":%" PRId64,
		r->customers, r->identities, r->walkaway);
	for (int k = 0; k < CTL_SIM_PRICINGS; k++)
		fprintf(f,
			",\"%s\":{\"revenue_minor\":%" PRId64 ",\"per_customer_minor\":%" PRId64
			",\"purchases\":%" PRId64 ",\"loss_minor\":%" PRId64 "}",
			sim_pricing_names[k], r->by[k].revenue_minor,
			sim_per(r->by[k].revenue_minor, r->customers), r->by[k].purchases,
			r->by[k].loss_minor);
	fprintf(f, ",\"max_identity_loss_minor\":%" PRId64, r->max_identity_loss_minor);
}

/* Print a result as JSON. */
void ctl_simulate_json(FILE *f, const ctl_simulate_opts *o, const ctl_sim_result *r)
{
	const ctl_sim_config *c = &o->sim;
	fprintf(f,
		"{\"customers\":%" PRId64 ",\"cycles\":%d,\"seed\":%" PRIu64
		",\"currency\":\"%s\",\"suggested_price_minor\":%" PRId64
		",\"list_price_minor\":%" PRId64 ",\"walkaway_pct\":%d,\"population\":{",
		c->customers, (int)c->cycles, c->seed, o->currency,
		c->product.suggested_price_minor, c->product.list_price_minor,
		(int)c->walkaway_pct);
	for (int ty = 0, first = 1; ty < CTL_SIM_TYPES; ty++) {
		if (c->share[ty] == 0)
			continue;
		fprintf(f, "%s\"%s\":%d", first ? "" : ",", ctl_sim_type_name((ctl_sim_type)ty),
			(int)c->share[ty]);
		first = 0;
	}
	fputs("},\"types\":[", f);
	for (int ty = 0, first = 1; ty < CTL_SIM_TYPES; ty++) {
		if (r->type[ty].customers == 0)
			continue;
		fprintf(f, "%s{\"type\":\"%s\",", first ? "" : ",",
			ctl_sim_type_name((ctl_sim_type)ty));
		sim_json_row(f, &r->type[ty]);
		fputc('}', f);
		first = 0;
	}
	fputs("],\"total\":{", f);
	sim_json_row(f, &r->total);
	fprintf(f,
		"},\"free_rider_bound\":{\"bounded\":%s,\"zero_payment_offers\":%d,"
		"\"loss_bound_minor\":%" PRId64 ",\"probation_credit_minor\":%" PRId64
		",\"observed_max_loss_minor\":%" PRId64 "}",
		r->bounded ? "true" : "false", (int)r->bound_cycles, r->bound_minor,
		c->policy.probation_credit_minor,
		r->type[CTL_SIM_FREE_RIDER].max_identity_loss_minor);
	fprintf(f,
		",\"reviews_accepted\":%" PRId64 ",\"reviews_rejected\":%" PRId64
		",\"defaults\":%" PRId64 ",\"tiers\":[",
		r->reviews_accepted, r->reviews_rejected, r->defaults);
	for (int32_t cyc = 0; cyc < r->cycles; cyc++) {
		fprintf(f, "%s{\"cycle\":%d", cyc ? "," : "", (int)cyc + 1);
		for (int t = FP_TIER_FIXED_PRICE; t < CTL_SIM_TIERS; t++)
			fprintf(f, ",\"%s\":%" PRId64, sim_tier_names[t],
				r->tiers[(size_t)cyc * CTL_SIM_TIERS + (size_t)t]);
		fputc('}', f);
	}
	fputs("]}\n", f);
}

/* Write a result's chart. */
int ctl_simulate_svg(const char *path, const ctl_simulate_opts *o, const ctl_sim_result *r)
{
	int rc = -1;
	char sub[160];
	const ctl_sim_config *c = &o->sim;
	snprintf(sub, sizeof(sub),
		 "%" PRId64 " customers, %d cycles, seed %" PRIu64 ", walk-away %d%%", c->customers,
		 (int)c->cycles, c->seed, (int)c->walkaway_pct);
	ctl_chart *ch = ctl_chart_new("FairPay simulation", sub);
	if (ch == NULL)
		goto done;
	/* Whole units once the figures reach 100: they fit on the bars, and
	 * the cents say nothing at that scale. */
	int64_t top = 0;
	for (int k = 0; k < CTL_SIM_PRICINGS; k++) {
		int64_t per = sim_per(r->total.by[k].revenue_minor, r->total.customers);
		if (per > top)
			top = per;
	}
	int dec = sim_major(top, o->currency) >= 100 ? 0 : money_exponent(o->currency);
	const ctl_chart_panel_spec rev = { "Revenue per customer, by type",
					   o->currency,
					   dec,
					   false,
					   CTL_SIM_PRICINGS,
					   sim_pricing_titles };
	if (ctl_chart_panel(ch, &rev) != 0)
		goto done;
	for (int ty = 0; ty <= CTL_SIM_TYPES; ty++) {
		const ctl_sim_row *row = ty < CTL_SIM_TYPES ? &r->type[ty] : &r->total;
		if (row->customers == 0)
			continue;
		double v[CTL_SIM_PRICINGS];
		for (int k = 0; k < CTL_SIM_PRICINGS; k++)
			v[k] = sim_major(sim_per(row->by[k].revenue_minor, row->customers),
					 o->currency);
		if (ctl_chart_add(ch,
				  ty < CTL_SIM_TYPES ? ctl_sim_type_name((ctl_sim_type)ty) : "all",
				  v) != 0)
			goto done;
	}
	const ctl_chart_panel_spec loss = { "Loss per customer (SP minus paid), by type",
					    o->currency,
					    dec,
					    false,
					    2,
					    sim_pricing_titles };
	if (ctl_chart_panel(ch, &loss) != 0)
		goto done;
	for (int ty = 0; ty <= CTL_SIM_TYPES; ty++) {
		const ctl_sim_row *row = ty < CTL_SIM_TYPES ? &r->type[ty] : &r->total;
		if (row->customers == 0)
			continue;
		double v[2];
		for (int k = 0; k < 2; k++)
			v[k] = sim_major(sim_per(row->by[k].loss_minor, row->customers),
					 o->currency);
		if (ctl_chart_add(ch,
				  ty < CTL_SIM_TYPES ? ctl_sim_type_name((ctl_sim_type)ty) : "all",
				  v) != 0)
			goto done;
	}
	const ctl_chart_panel_spec tiers = { "Offers by tier, per cycle (FairPay)",
					     "offers",
					     0,
					     true,
					     CTL_SIM_TIERS - 1,
					     sim_tier_names + 1 };
	if (ctl_chart_panel(ch, &tiers) != 0)
		goto done;
	for (int32_t cyc = 0; cyc < r->cycles; cyc++) {
		double v[CTL_SIM_TIERS - 1];
		char label[16];
		for (int t = 1; t < CTL_SIM_TIERS; t++)
			v[t - 1] = (double)r->tiers[(size_t)cyc * CTL_SIM_TIERS + (size_t)t];
		snprintf(label, sizeof(label), "%d", (int)cyc + 1);
		if (ctl_chart_add(ch, label, v) != 0)
			goto done;
	}
	rc = ctl_chart_save(ch, path);
done:
	ctl_chart_free(ch);
	return rc;
}

/* Run `fairpayctl simulate`. */
int ctl_simulate_main(int argc, char *const argv[])
{
	ctl_simulate_opts o;
	ctl_sim_result r;
	char err[512];
	if (ctl_simulate_parse(argc, argv, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "fairpayctl: %s\nTry 'fairpayctl simulate --help'.\n", err);
		return CTL_EXIT_USAGE;
	}
	if (o.help) {
		fputs(ctl_simulate_usage, stdout);
		return CTL_EXIT_OK;
	}
	if (ctl_sim_run(&o.sim, &r) != 0) {
		fprintf(stderr, "fairpayctl: simulate: out of memory\n");
		return CTL_EXIT_REFUSED;
	}
	int rc = CTL_EXIT_OK;
	if (o.json)
		ctl_simulate_json(stdout, &o, &r);
	else
		ctl_simulate_print(stdout, &o, &r);
	if (o.svg != NULL && ctl_simulate_svg(o.svg, &o, &r) != 0) {
		fprintf(stderr, "fairpayctl: cannot write %s: %s\n", o.svg, strerror(errno));
		rc = CTL_EXIT_REFUSED;
	}
	ctl_sim_result_free(&r);
	return rc;
}
