/* SVG bar charts (see ctl_chart.h).
 *
 * Everything is laid out here with fixed sizes (an 880-pixel wide page,
 * panels of 340 pixels) and written with stdio: no library, no fonts beyond
 * the generic sans-serif, so that any browser or rsvg-convert shows the same
 * thing. Text widths are estimated (7 pixels per character at 12 px), which
 * is enough to decide whether a value fits on its bar and whether the group
 * labels must be slanted. Coordinates are printed in the C locale that
 * fairpayctl runs in (a decimal point, never a comma). */
#include "ctl_chart.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_out.h"

#define CHART_W 880.0
#define PANEL_H 340.0
#define HEAD_H 44.0    /* the chart title */
#define SUBHEAD_H 18.0 /* the subtitle, when there is one */
#define PLOT_LEFT 90.0
#define PLOT_RIGHT 24.0
#define LEGEND_ROW 18.0
#define LABEL_H 64.0 /* below the plot: group labels */
#define CHAR_W 7.0   /* estimated width of a character at 12 px */
#define TICKS 5      /* about this many intervals on the value axis */

/* Tableau 10: distinct, readable on white, and kind to colour blindness. */
static const char *const chart_palette[CTL_CHART_MAX_SERIES] = {
	"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
};

typedef struct chart_panel {
	char *title;
	char *unit;
	int decimals;
	bool stacked;
	size_t nseries;
	char *series[CTL_CHART_MAX_SERIES];
	size_t ngroups;
	size_t cap;
	char **labels;  /* ngroups */
	double *values; /* ngroups * nseries, group by group */
} chart_panel;

struct ctl_chart {
	char *title;
	char *subtitle;
	size_t npanels;
	chart_panel **panels;
};

static char *chart_strdup(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static void chart_panel_free(chart_panel *p)
{
	if (p == NULL)
		return;
	free(p->title);
	free(p->unit);
	for (size_t i = 0; i < p->nseries; i++)
		free(p->series[i]);
	for (size_t i = 0; i < p->ngroups; i++)
		free(p->labels[i]);
	free(p->labels);
	free(p->values);
	free(p);
}

/* Free a chart. Accepts NULL. */
void ctl_chart_free(ctl_chart *c)
{
	if (c == NULL)
		return;
	free(c->title);
	free(c->subtitle);
	for (size_t i = 0; i < c->npanels; i++)
		chart_panel_free(c->panels[i]);
	free(c->panels);
	free(c);
}

/* Start a chart with a title and an optional subtitle. */
ctl_chart *ctl_chart_new(const char *title, const char *subtitle)
{
	ctl_chart *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->title = chart_strdup(title);
	c->subtitle = subtitle != NULL ? strdup(subtitle) : NULL;
	if (c->title == NULL || (subtitle != NULL && c->subtitle == NULL)) {
		ctl_chart_free(c);
		return NULL;
	}
	return c;
}

/* Start a new panel. */
int ctl_chart_panel(ctl_chart *c, const ctl_chart_panel_spec *spec)
{
	int rc = -1;
	chart_panel *p = NULL;
	if (spec->nseries == 0 || spec->nseries > CTL_CHART_MAX_SERIES || spec->decimals < 0 ||
	    spec->decimals > 6)
		goto done;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto done;
	p->title = chart_strdup(spec->title);
	p->unit = chart_strdup(spec->unit);
	if (p->title == NULL || p->unit == NULL)
		goto done;
	p->decimals = spec->decimals;
	p->stacked = spec->stacked;
	for (size_t i = 0; i < spec->nseries; i++) {
		p->series[i] = chart_strdup(spec->series[i]);
		if (p->series[i] == NULL)
			goto done;
		p->nseries = i + 1;
	}
	chart_panel **grown = realloc(c->panels, (c->npanels + 1) * sizeof(*grown));
	if (grown == NULL)
		goto done;
	c->panels = grown;
	c->panels[c->npanels++] = p;
	p = NULL;
	rc = 0;
done:
	chart_panel_free(p);
	return rc;
}

/* Add a group of bars to the current panel. */
int ctl_chart_add(ctl_chart *c, const char *label, const double *values)
{
	if (c->npanels == 0)
		return -1;
	chart_panel *p = c->panels[c->npanels - 1];
	for (size_t i = 0; i < p->nseries; i++) {
		/* Neither NaN nor an infinity: both would make the SVG invalid. */
		if (!(values[i] == values[i]) || values[i] > 1e300 || values[i] < -1e300)
			return -1;
	}
	if (p->ngroups == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		char **labels = realloc(p->labels, cap * sizeof(*labels));
		if (labels == NULL)
			return -1;
		p->labels = labels;
		double *v = realloc(p->values, cap * p->nseries * sizeof(*v));
		if (v == NULL)
			return -1;
		p->values = v;
		p->cap = cap;
	}
	char *l = chart_strdup(label);
	if (l == NULL)
		return -1;
	p->labels[p->ngroups] = l;
	memcpy(p->values + p->ngroups * p->nseries, values, p->nseries * sizeof(*values));
	p->ngroups++;
	return 0;
}

/* ---------------------------------------------------------------- output */

/* Write s as XML character data: the five special characters escaped,
 * control characters and invalid UTF-8 as '?' (XML 1.0 allows neither). */
static void chart_text(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s);
	size_t i = 0;
	while (i < len) {
		unsigned char ch = u[i];
		switch (ch) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			if (ch < 0x20 || ch == 0x7f) {
				fputc('?', f);
			} else if (ch < 0x80) {
				fputc(ch, f);
			} else {
				size_t n = ctl_out_utf8_len(u + i, len - i);
				if (n == 0) {
					fputc('?', f);
				} else {
					fwrite(u + i, 1, n, f);
					i += n;
					continue;
				}
			}
		}
		i++;
	}
}

/* How many characters s shows (UTF-8 continuation bytes not counted). */
static size_t chart_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		n += (*u & 0xc0) != 0x80;
	return n;
}

/* Format v with decimals digits and thousands separators: 1,234,567.50. */
static const char *chart_number(double v, int decimals, char buf[64])
{
	char raw[48];
	snprintf(raw, sizeof(raw), "%.*f", decimals, v);
	const char *digits = raw[0] == '-' ? raw + 1 : raw;
	size_t intlen = strcspn(digits, ".");
	size_t o = 0;
	if (raw[0] == '-' && strspn(digits, "0.") != strlen(digits))
		buf[o++] = '-'; /* no "-0" */
	for (size_t i = 0; i < intlen; i++) {
		if (i > 0 && (intlen - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	snprintf(buf + o, 64 - o, "%s", digits + intlen);
	return buf;
}

/* A round tick interval for a range: 1, 2, 2.5 or 5 times a power of ten,
 * about range / TICKS; *decimals gets the digits its labels need. */
static double chart_step(double range, int *decimals)
{
	double raw = range / TICKS;
	double mag = 1;
	int d = 0;
	while (mag * 10 <= raw)
		mag *= 10;
	while (mag > raw && d < 12) {
		mag /= 10;
		d++;
	}
	static const double mult[] = { 1, 2, 2.5, 5, 10 };
	double step = mag * 10;
	for (size_t i = 0; i < sizeof(mult) / sizeof(mult[0]); i++) {
		if (mag * mult[i] >= raw) {
			step = mag * mult[i];
			if (mult[i] == 2.5 && mag < 10)
				d++; /* 0.25, 2.5: one digit more */
			if (mult[i] == 10 && d > 0)
				d--;
			break;
		}
	}
	*decimals = d;
	return step;
}

/* The value range of a panel, 0 included (bars grow from 0). */
static void chart_range(const chart_panel *p, double *lo, double *hi)
{
	*lo = 0;
	*hi = 0;
	for (size_t g = 0; g < p->ngroups; g++) {
		const double *v = p->values + g * p->nseries;
		double pos = 0, neg = 0;
		for (size_t s = 0; s < p->nseries; s++) {
			if (p->stacked) {
				if (v[s] >= 0)
					pos += v[s];
				else
					neg += v[s];
			} else {
				if (v[s] > pos)
					pos = v[s];
				if (v[s] < neg)
					neg = v[s];
			}
		}
		if (pos > *hi)
			*hi = pos;
		if (neg < *lo)
			*lo = neg;
	}
	if (*hi == *lo)
		*hi = *lo + 1;
}

/* Rows the legend takes: names laid out left to right, wrapping. */
static size_t chart_legend_rows(const chart_panel *p)
{
	if (p->nseries < 2)
		return 0;
	size_t rows = 1;
	double x = PLOT_LEFT;
	for (size_t s = 0; s < p->nseries; s++) {
		double w = 18 + CHAR_W * (double)chart_chars(p->series[s]) + 16;
		if (x + w > CHART_W - PLOT_RIGHT && x > PLOT_LEFT) {
			rows++;
			x = PLOT_LEFT;
		}
		x += w;
	}
	return rows;
}

static void chart_legend(FILE *f, const chart_panel *p, double y)
{
	double x = PLOT_LEFT;
	for (size_t s = 0; s < p->nseries; s++) {
		double w = 18 + CHAR_W * (double)chart_chars(p->series[s]) + 16;
		if (x + w > CHART_W - PLOT_RIGHT && x > PLOT_LEFT) {
			y += LEGEND_ROW;
			x = PLOT_LEFT;
		}
		fprintf(f,
			"<rect class=\"swatch\" x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" "
			"fill=\"%s\"/>\n",
			x, y - 10, chart_palette[s]);
		fprintf(f, "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">", x + 18, y);
		chart_text(f, p->series[s]);
		fputs("</text>\n", f);
		x += w;
	}
}

/* One bar: a rectangle with a tooltip naming the group, series and value. */
static void chart_bar(FILE *f, const chart_panel *p, size_t g, size_t s, double x, double y,
		      double w, double h)
{
	char num[64];
	fprintf(f,
		"<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		"fill=\"%s\"><title>",
		x, y, w, h, chart_palette[s]);
	chart_text(f, p->labels[g]);
	if (p->nseries > 1) {
		fputs(", ", f);
		chart_text(f, p->series[s]);
	}
	fprintf(f, ": %s</title></rect>\n",
		chart_number(p->values[g * p->nseries + s], p->decimals, num));
}

/* Estimated width of a printed value at 10 px: digits and signs 5.6
 * pixels, separators half that. */
static double chart_value_width(const char *num)
{
	double w = 0;
	for (const char *c = num; *c; c++)
		w += (*c == ',' || *c == '.') ? 2.8 : 5.6;
	return w;
}

static void chart_value(FILE *f, double x, double y, const char *cls, const char *num)
{
	fprintf(f, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
		cls, x, y, num);
}

/* Draw one panel whose top edge is at y0. */
static void chart_panel_write(FILE *f, const chart_panel *p, double y0)
{
	char num[64];
	double legend_h = (double)chart_legend_rows(p) * LEGEND_ROW;
	double top = y0 + 34 + legend_h;
	double bottom = y0 + PANEL_H - LABEL_H;
	double left = PLOT_LEFT, right = CHART_W - PLOT_RIGHT;

	fprintf(f, "<g class=\"panel\">\n<text class=\"ptitle\" x=\"%.1f\" y=\"%.1f\">", left,
		y0 + 16);
	chart_text(f, p->title);
	fputs("</text>\n", f);
	chart_legend(f, p, y0 + 34);

	double lo, hi;
	chart_range(p, &lo, &hi);
	int tick_dec;
	double step = chart_step(hi - lo, &tick_dec);
	/* Whole steps of the interval, counted as integers to avoid drift. */
	long k_lo = 0, k_hi = 0;
	while ((double)k_lo * step > lo)
		k_lo--;
	while ((double)k_hi * step < hi)
		k_hi++;
	double a_lo = (double)k_lo * step, a_hi = (double)k_hi * step;
	double scale = (bottom - top) / (a_hi - a_lo);
#define Y_OF(v) (bottom - ((v)-a_lo) * scale)

	for (long k = k_lo; k <= k_hi; k++) {
		double v = (double)k * step, y = Y_OF(v);
		fprintf(f,
			"<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n"
			"<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
			"text-anchor=\"end\">%s</text>\n",
			left, y, right, y, left - 6, y + 4, chart_number(v, tick_dec, num));
	}
	if (p->unit[0] != '\0') {
		double cy = (top + bottom) / 2;
		fprintf(f,
			"<text class=\"unit\" x=\"18\" y=\"%.1f\" text-anchor=\"middle\" "
			"transform=\"rotate(-90 18 %.1f)\">",
			cy, cy);
		chart_text(f, p->unit);
		fputs("</text>\n", f);
	}

	size_t ng = p->ngroups ? p->ngroups : 1;
	double gw = (right - left) / (double)ng;
	double inner = gw * 0.8;
	size_t per_group = p->stacked ? 1 : p->nseries;
	double bw = inner / (double)per_group;

	/* Short labels (cycle numbers) stay level and, when they do not fit
	 * their group, only every 2nd, 5th, 10th... is written; longer ones are
	 * slanted, thinned out the same way when the groups are too narrow. */
	size_t longest = 0;
	for (size_t g = 0; g < p->ngroups; g++) {
		size_t n = chart_chars(p->labels[g]);
		if (n > longest)
			longest = n;
	}
	double need = CHAR_W * (double)longest + 6;
	bool slant = need > gw && longest > 4;
	if (slant)
		need = 16;
	size_t every = 1;
	for (size_t m = 1; gw * (double)every < need; m *= 10) {
		static const size_t nice[] = { 1, 2, 5, 10 };
		for (size_t i = 0; i < 4 && gw * (double)every < need; i++)
			every = nice[i] * m;
	}

	for (size_t g = 0; g < p->ngroups; g++) {
		const double *v = p->values + g * p->nseries;
		double gx = left + gw * (double)g + (gw - inner) / 2;
		double pos = 0, neg = 0;
		for (size_t s = 0; s < p->nseries; s++) {
			double y1, y2, x = gx;
			if (p->stacked) {
				double base = v[s] >= 0 ? pos : neg;
				y1 = Y_OF(base);
				y2 = Y_OF(base + v[s]);
				if (v[s] >= 0)
					pos += v[s];
				else
					neg += v[s];
			} else {
				x = gx + bw * (double)s;
				y1 = Y_OF(0.0);
				y2 = Y_OF(v[s]);
			}
			double yt = y1 < y2 ? y1 : y2, h = y1 < y2 ? y2 - y1 : y1 - y2;
			chart_bar(f, p, g, s, x, yt, bw, h);
			chart_number(v[s], p->decimals, num);
			double tw = chart_value_width(num);
			if (!p->stacked && tw <= bw + 2)
				chart_value(f, x + bw / 2, v[s] >= 0 ? yt - 4 : yt + h + 12,
					    "value", num);
			else if (p->stacked && tw <= bw - 2 && h >= 14 && v[s] != 0)
				chart_value(f, x + bw / 2, yt + h / 2 + 4, "inside", num);
		}
		if (p->stacked && p->nseries > 1) {
			chart_number(pos + neg, p->decimals, num);
			if (chart_value_width(num) <= bw)
				chart_value(f, gx + bw / 2, Y_OF(pos) - 4, "value", num);
		}
		if (g % every != 0)
			continue;
		double lx = left + gw * ((double)g + 0.5), ly = bottom + 16;
		if (slant)
			fprintf(f,
				"<text class=\"label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
				"transform=\"rotate(-35 %.1f %.1f)\">",
				lx, ly, lx, ly);
		else
			fprintf(f,
				"<text class=\"label\" x=\"%.1f\" y=\"%.1f\" "
				"text-anchor=\"middle\">",
				lx, ly);
		chart_text(f, p->labels[g]);
		fputs("</text>\n", f);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left,
		Y_OF(0.0), right, Y_OF(0.0));
#undef Y_OF
	fputs("</g>\n", f);
}

/* Write the chart as SVG. */
int ctl_chart_write(const ctl_chart *c, FILE *f)
{
	double head = HEAD_H + (c->subtitle != NULL ? SUBHEAD_H : 0);
	double h = head + PANEL_H * (double)(c->npanels ? c->npanels : 1) + 8;
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
		"height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n",
		CHART_W, h, CHART_W, h);
	fputs("<style type=\"text/css\">\n"
	      ".ctitle{font-size:18px;font-weight:bold;fill:#222}\n"
	      ".csub{font-size:12px;fill:#666}\n"
	      ".ptitle{font-size:14px;font-weight:bold;fill:#333}\n"
	      ".legend,.label,.unit{font-size:12px;fill:#333}\n"
	      ".tick{font-size:11px;fill:#666}\n"
	      ".value{font-size:10px;fill:#222}\n"
	      ".inside{font-size:10px;fill:#fff}\n"
	      ".grid{stroke:#e4e4e4;stroke-width:1}\n"
	      ".axis{stroke:#444;stroke-width:1}\n"
	      "</style>\n",
	      f);
	fputs("<title>", f);
	chart_text(f, c->title);
	fputs("</title>\n", f);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
		CHART_W, h);
	fputs("<text class=\"ctitle\" x=\"24\" y=\"30\">", f);
	chart_text(f, c->title);
	fputs("</text>\n", f);
	if (c->subtitle != NULL) {
		fputs("<text class=\"csub\" x=\"24\" y=\"50\">", f);
		chart_text(f, c->subtitle);
		fputs("</text>\n", f);
	}
	for (size_t i = 0; i < c->npanels; i++)
		chart_panel_write(f, c->panels[i], head + PANEL_H * (double)i);
	fputs("</svg>\n", f);
	return ferror(f) ? -1 : 0;
}

/* Write the chart to a file. */
int ctl_chart_save(const ctl_chart *c, const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int rc = ctl_chart_write(c, f);
	int saved = errno;
	if (fclose(f) != 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	errno = saved;
	return rc;
}
