/* Unit tests of the SVG bar charts (client/ctl/ctl_chart.c): the structure
 * of the document (one rect per bar, one swatch per series, escaped text,
 * round ticks), that xmllint parses it and rsvg-convert renders it to a PNG,
 * and the refusals of bad input.
 *
 * As in test_ctl_args.c, the fairpayctl modules are compiled in by including
 * their sources (unit tests link the server's objects only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../client/ctl/ctl_chart.c"
#include "../../client/ctl/ctl_out.c"

/* Render c into a NUL-terminated string (the caller frees it). */
static char *render(const ctl_chart *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(ctl_chart_write(c, f), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Two panels: three grouped series over four groups, five stacked series
 * over ten groups. */
static ctl_chart *sample(void)
{
	static const char *const three[] = { "FairPay", "PWYW", "set <price>" };
	static const char *const five[] = { "fixed", "restricted", "probation", "standard",
					    "trusted" };
	ctl_chart *c = ctl_chart_new("Revenue & tiers", "seed 1, 50 cycles");
	assert_non_null(c);
	ctl_chart_panel_spec a = { "Revenue per type", "EUR", 2, false, 3, three };
	assert_int_equal(ctl_chart_panel(c, &a), 0);
	static const char *const labels[] = { "fair", "A&B <\"x\">", "free_rider", "gamer" };
	for (int g = 0; g < 4; g++) {
		double v[3] = { 1234.5 - g * 100, 500.25 + g, g == 3 ? -10 : 0 };
		assert_int_equal(ctl_chart_add(c, labels[g], v), 0);
	}
	ctl_chart_panel_spec b = { "Tier mix", "customers", 0, true, 5, five };
	assert_int_equal(ctl_chart_panel(c, &b), 0);
	for (int g = 0; g < 10; g++) {
		char l[16];
		snprintf(l, sizeof(l), "%d", g + 1);
		double v[5] = { 1, 2, 3, 40 - g, g };
		assert_int_equal(ctl_chart_add(c, l, v), 0);
	}
	return c;
}

static void test_chart_structure(void **state)
{
	(void)state;
	ctl_chart *c = sample();
	char *svg = render(c);
	assert_true(strncmp(svg, "<?xml version=\"1.0\"", 19) == 0);
	assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
				    "width=\"880\" height=\"750\" viewBox=\"0 0 880 750\""));
	/* one rect per value, one swatch per series, two panels */
	assert_int_equal(count(svg, "<rect class=\"bar\""), 4 * 3 + 10 * 5);
	assert_int_equal(count(svg, "<rect class=\"swatch\""), 3 + 5);
	assert_int_equal(count(svg, "<g class=\"panel\">"), 2);
	/* text escaped, never raw */
	assert_non_null(strstr(svg, ">Revenue &amp; tiers</text>"));
	assert_non_null(strstr(svg, ">A&amp;B &lt;&quot;x&quot;&gt;</text>"));
	assert_non_null(strstr(svg, ">set &lt;price&gt;</text>"));
	assert_null(strstr(svg, "A&B"));
	assert_null(strstr(svg, "<price>"));
	/* values with separators and the panel's decimals, in tooltips and on bars */
	assert_non_null(strstr(svg, "<title>fair, FairPay: 1,234.50</title>"));
	assert_non_null(strstr(svg, ">1,234.50</text>"));
	assert_non_null(strstr(svg, "<title>gamer, set &lt;price&gt;: -10.00</title>"));
	/* round ticks: 1234.5 over 5 intervals is 250 each, -10 needs one below 0 */
	assert_non_null(strstr(svg, ">1,250</text>"));
	assert_non_null(strstr(svg, ">-250</text>"));
	assert_null(strstr(svg, ">1,500</text>"));
	/* stacked totals: 1+2+3+40+0 on the first bar */
	assert_non_null(strstr(svg, ">46</text>"));
	assert_true(strcmp(svg + strlen(svg) - 7, "</svg>\n") == 0);
	free(svg);
	ctl_chart_free(c);
}

static void test_chart_renders(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_chart.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char svg[128], png[128], cmd[512];
	snprintf(svg, sizeof(svg), "%s/c.svg", dir);
	snprintf(png, sizeof(png), "%s/c.png", dir);
	ctl_chart *c = sample();
	assert_int_equal(ctl_chart_save(c, svg), 0);
	ctl_chart_free(c);
	snprintf(cmd, sizeof(cmd), "xmllint --noout '%s'", svg);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rsvg-convert -o '%s' '%s'", png, svg);
	assert_int_equal(system(cmd), 0);
	struct stat st;
	assert_int_equal(stat(png, &st), 0);
	assert_true(st.st_size > 1000);
	FILE *f = fopen(png, "rb");
	assert_non_null(f);
	unsigned char magic[8];
	assert_int_equal(fread(magic, 1, 8, f), 8);
	fclose(f);
	assert_memory_equal(magic, "\x89PNG\r\n\x1a\n", 8);
	/* a chart with no panel at all is still a document */
	c = ctl_chart_new("empty", NULL);
	assert_non_null(c);
	assert_int_equal(ctl_chart_save(c, svg), 0);
	ctl_chart_free(c);
	snprintf(cmd, sizeof(cmd), "xmllint --noout '%s' && rsvg-convert -o '%s' '%s'", svg, png,
		 svg);
	assert_int_equal(system(cmd), 0);
	unlink(svg);
	unlink(png);
	rmdir(dir);
	assert_int_equal(ctl_chart_save(c = ctl_chart_new("x", NULL), "/nonexistent/dir/c.svg"),
			 -1);
	ctl_chart_free(c);
}

static void test_chart_refuses(void **state)
{
	(void)state;
	static const char *const names[CTL_CHART_MAX_SERIES + 1] = { "a", "b", "c", "d", "e", "f",
								     "g", "h", "i", "j", "k" };
	ctl_chart *c = ctl_chart_new("t", NULL);
	assert_non_null(c);
	double v[2] = { 1, 2 };
	assert_int_equal(ctl_chart_add(c, "no panel", v), -1);
	ctl_chart_panel_spec s = { "p", NULL, 0, false, 0, names };
	assert_int_equal(ctl_chart_panel(c, &s), -1);
	s.nseries = CTL_CHART_MAX_SERIES + 1;
	assert_int_equal(ctl_chart_panel(c, &s), -1);
	s.nseries = 2;
	s.decimals = 7;
	assert_int_equal(ctl_chart_panel(c, &s), -1);
	s.decimals = 0;
	assert_int_equal(ctl_chart_panel(c, &s), 0);
	double nan[2] = { 0.0 / 0.0, 1 }, inf[2] = { 1, 1e308 * 10 };
	assert_int_equal(ctl_chart_add(c, "nan", nan), -1);
	assert_int_equal(ctl_chart_add(c, "inf", inf), -1);
	/* control characters and invalid UTF-8 become '?', valid UTF-8 stays */
	assert_int_equal(ctl_chart_add(c, "a\nb\x01\xff\xc3\xa9", v), 0);
	char *svg = render(c);
	assert_non_null(strstr(svg, ">a?b??\xc3\xa9</text>"));
	assert_int_equal(count(svg, "<rect class=\"bar\""), 2);
	free(svg);
	ctl_chart_free(c);
}

static void test_chart_numbers(void **state)
{
	(void)state;
	char b[64];
	assert_string_equal(chart_number(1234567.5, 1, b), "1,234,567.5");
	assert_string_equal(chart_number(-1234, 0, b), "-1,234");
	assert_string_equal(chart_number(999, 0, b), "999");
	assert_string_equal(chart_number(-0.001, 2, b), "0.00");
	assert_string_equal(chart_number(100000, 2, b), "100,000.00");
	int d;
	assert_true(chart_step(1234.5, &d) == 250 && d == 0);
	assert_true(chart_step(50, &d) == 10 && d == 0);
	assert_true(chart_step(7, &d) == 2 && d == 0);
	double s = chart_step(12, &d);
	assert_true(s == 2.5 && d == 1);
	s = chart_step(1, &d);
	assert_true(s > 0.199 && s < 0.201 && d == 1);
	s = chart_step(0.05, &d);
	assert_true(s > 0.00999 && s < 0.01001 && d == 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chart_structure),
		cmocka_unit_test(test_chart_renders),
		cmocka_unit_test(test_chart_refuses),
		cmocka_unit_test(test_chart_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
