/* ctl_chart_: bar charts written as standalone SVG 1.1 files, for the
 * figures fairpayctl computes (the simulator, insights) to be looked at
 * rather than read.
 *
 * A chart is a title and panels stacked vertically; a panel is a set of
 * labelled groups of bars, one bar per series (side by side, or stacked into
 * one bar), with a legend when there is more than one series, a value axis
 * with round ticks, and each value printed on its bar where it fits. Text is
 * escaped for XML; the file needs no fonts, scripts or styles from outside. */
#ifndef FP_CTL_CHART_H
#define FP_CTL_CHART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Series per panel: one colour each from a fixed palette. */
#define CTL_CHART_MAX_SERIES 10

typedef struct ctl_chart ctl_chart;

/* How a panel is drawn. */
typedef struct ctl_chart_panel_spec {
	const char *title;         /* above the panel; NULL for none */
	const char *unit;          /* the value axis' caption, e.g. "EUR"; may be NULL */
	int decimals;              /* digits after the point in printed values, 0-6 */
	bool stacked;              /* one bar per group, the series on top of each other */
	size_t nseries;            /* 1 to CTL_CHART_MAX_SERIES */
	const char *const *series; /* nseries names (the legend) */
} ctl_chart_panel_spec;

/* Start a chart titled title, with an optional subtitle (NULL for none).
 * NULL when out of memory. */
ctl_chart *ctl_chart_new(const char *title, const char *subtitle);

/* Start a new panel (strings are copied); later groups go into it. */
int ctl_chart_panel(ctl_chart *c, const ctl_chart_panel_spec *spec)
	__attribute__((warn_unused_result));

/* Add a group labelled label with one value per series of the current
 * panel; -1 without a panel, for a value that is not finite, or out of
 * memory. */
int ctl_chart_add(ctl_chart *c, const char *label, const double *values)
	__attribute__((warn_unused_result));

/* Write the chart as an SVG document to f; -1 when writing fails. */
int ctl_chart_write(const ctl_chart *c, FILE *f) __attribute__((warn_unused_result));

/* Write the chart to the file at path (created or truncated); -1 with errno
 * set when it cannot be written. */
int ctl_chart_save(const ctl_chart *c, const char *path) __attribute__((warn_unused_result));

/* Free a chart. Accepts NULL. */
void ctl_chart_free(ctl_chart *c);

#endif
