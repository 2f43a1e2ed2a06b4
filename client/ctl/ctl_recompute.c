/* A customer's reputation recomputed from its history (see ctl_recompute.h). */
#include "ctl_recompute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const field_names[CTL_REP_FIELD_COUNT] = {
	[CTL_REP_SCORE_BP] = "score_bp",
	[CTL_REP_PAYMENTS] = "payments",
	[CTL_REP_DEFAULTS] = "defaults",
	[CTL_REP_OPEN_DEFAULTS] = "open_defaults",
	[CTL_REP_OFFERS_ACCEPTED] = "offers_accepted",
	[CTL_REP_TOTAL_PAID] = "total_paid_minor",
	[CTL_REP_TOTAL_SUGGESTED] = "total_suggested_minor",
	[CTL_REP_CREDIT_USED] = "credit_used_minor",
};

/* Return the column name of a field. */
const char *ctl_recompute_field_name(ctl_rep_field f)
{
	return (unsigned)f < CTL_REP_FIELD_COUNT ? field_names[f] : "";
}

/* Forget the history fed so far. */
void ctl_recompute_reset(ctl_recompute *r)
{
	r->n_cycles = 0;
	memset(r->value, 0, sizeof(r->value));
}

/* Release the memory. */
void ctl_recompute_free(ctl_recompute *r)
{
	if (r == NULL)
		return;
	free(r->cycles);
	r->cycles = NULL;
	r->n_cycles = r->cap = 0;
}

/* Add v to a counter; a sum beyond int64 sticks at the maximum, which no
 * bigint column can hold, so it shows up as a difference. */
static void add(ctl_recompute *r, ctl_rep_field f, int64_t v)
{
	if (__builtin_add_overflow(r->value[f], v, &r->value[f]))
		r->value[f] = v > 0 ? INT64_MAX : INT64_MIN;
}

static int add_cycle(ctl_recompute *r, int64_t at_us, const char *id, int32_t fairness_bp)
{
	if (r->n_cycles == r->cap) {
		size_t cap = r->cap == 0 ? 64 : r->cap * 2;
		ctl_cycle_entry *grown = realloc(r->cycles, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		r->cycles = grown;
		r->cap = cap;
	}
	ctl_cycle_entry *e = &r->cycles[r->n_cycles++];
	e->at_us = at_us;
	/* Ids are o_/p_ + 16 hex digits (a CHECK constraint), far below the
	 * buffer; a longer one could only change the order of a tie. */
	snprintf(e->id, sizeof(e->id), "%s", id != NULL ? id : "");
	e->fairness_bp = fairness_bp;
	return 0;
}

/* Add a payment. */
int ctl_recompute_payment(ctl_recompute *r, int64_t at_us, const char *id, int32_t fairness_bp,
			  int64_t amount_minor, int64_t suggested_price_minor)
{
	if (add_cycle(r, at_us, id, fairness_bp) != 0)
		return -1;
	add(r, CTL_REP_PAYMENTS, 1);
	add(r, CTL_REP_TOTAL_PAID, amount_minor);
	add(r, CTL_REP_TOTAL_SUGGESTED, suggested_price_minor);
	return 0;
}

/* Add an offer in status DEFAULTED. */
int ctl_recompute_defaulted_offer(ctl_recompute *r, int64_t at_us, const char *id)
{
	/* A default still open counts as fairness 0 at its default time
	 * (rule 7); a paid one left the history with its late payment. */
	if (add_cycle(r, at_us, id, 0) != 0)
		return -1;
	add(r, CTL_REP_OPEN_DEFAULTS, 1);
	return 0;
}

/* Add an offer in status ACCEPTED. */
void ctl_recompute_accepted_offer(ctl_recompute *r, fp_mode mode, int64_t suggested_price_minor)
{
	if (fp_mode_is_fairpay(mode))
		add(r, CTL_REP_CREDIT_USED, suggested_price_minor);
}

/* Add counts of OFFER_DEFAULTED and OFFER_ACCEPTED events. */
void ctl_recompute_events(ctl_recompute *r, int64_t defaulted, int64_t accepted)
{
	add(r, CTL_REP_DEFAULTS, defaulted);
	add(r, CTL_REP_OFFERS_ACCEPTED, accepted);
}

/* Tell whether anything a reputation row must reflect was fed. */
bool ctl_recompute_has_history(const ctl_recompute *r)
{
	if (r->n_cycles > 0)
		return true;
	for (int f = 0; f < CTL_REP_FIELD_COUNT; f++)
		if (r->value[f] != 0)
			return true;
	return false;
}

/* Time order; ties by id, bytewise. */
static int cycle_cmp(const void *pa, const void *pb)
{
	const ctl_cycle_entry *a = pa, *b = pb;
	if (a->at_us != b->at_us)
		return a->at_us < b->at_us ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* Compute the values of every field. */
void ctl_recompute_result(ctl_recompute *r, const fp_policy *p, int64_t out[CTL_REP_FIELD_COUNT])
{
	int32_t fairness[256];
	int32_t score = p->prior_score_bp;

	if (r->n_cycles > 1)
		qsort(r->cycles, r->n_cycles, sizeof(r->cycles[0]), cycle_cmp);
	/* fp_score_replay() over the whole history, a chunk at a time: a
	 * replay continues from the score the previous chunk reached. */
	fp_policy chunk = *p;
	for (size_t i = 0; i < r->n_cycles;) {
		size_t n = 0;
		while (i < r->n_cycles && n < sizeof(fairness) / sizeof(fairness[0]))
			fairness[n++] = r->cycles[i++].fairness_bp;
		chunk.prior_score_bp = score;
		score = fp_score_replay(&chunk, fairness, n);
	}
	memcpy(out, r->value, sizeof(r->value));
	out[CTL_REP_SCORE_BP] = score;
}
