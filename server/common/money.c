/* Amounts in major units for people (see money.h). */
#include "money.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

/* The currencies whose minor unit is not a hundredth, from ISO 4217's list
 * one (current currencies, "Minor unit" column), as published by its
 * maintenance agency (SIX Group). Codes whose minor unit is "N.A." (gold,
 * silver, SDR, ...) are left out and read as exponent 2, like any code not
 * listed. */
static const struct {
	char code[4];
	int exponent;
} money_exponents[] = {
	{ "BIF", 0 }, { "CLP", 0 }, { "DJF", 0 }, { "GNF", 0 }, { "ISK", 0 }, { "JPY", 0 },
	{ "KMF", 0 }, { "KRW", 0 }, { "PYG", 0 }, { "RWF", 0 }, { "UGX", 0 }, { "UYI", 0 },
	{ "VND", 0 }, { "VUV", 0 }, { "XAF", 0 }, { "XOF", 0 }, { "XPF", 0 }, { "BHD", 3 },
	{ "IQD", 3 }, { "JOD", 3 }, { "KWD", 3 }, { "LYD", 3 }, { "OMR", 3 }, { "TND", 3 },
	{ "CLF", 4 }, { "UYW", 4 },
};

/* The exponent of every code that is not in the table. */
#define MONEY_DEFAULT_EXPONENT 2

int money_exponent(const char *currency)
{
	if (currency == NULL)
		return MONEY_DEFAULT_EXPONENT;
	for (size_t i = 0; i < sizeof(money_exponents) / sizeof(money_exponents[0]); i++)
		if (strcmp(money_exponents[i].code, currency) == 0)
			return money_exponents[i].exponent;
	return MONEY_DEFAULT_EXPONENT;
}

const char *money_format(int64_t minor, const char *currency, char buf[MONEY_TEXT_LEN])
{
	if (currency == NULL || currency[0] == '\0') {
		snprintf(buf, MONEY_TEXT_LEN, "%" PRId64, minor);
		return buf;
	}
	bool known_shape = text_valid_currency(currency);
	int exp = known_shape ? money_exponent(currency) : MONEY_DEFAULT_EXPONENT;
	/* The magnitude as unsigned, so that INT64_MIN has one too. */
	uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
	uint64_t scale = 1;
	for (int i = 0; i < exp; i++)
		scale *= 10;
	const char *sign = minor < 0 ? "-" : "";
	const char *code = known_shape ? currency : "?";
	if (exp == 0)
		snprintf(buf, MONEY_TEXT_LEN, "%s%" PRIu64 " %s", sign, mag, code);
	else
		snprintf(buf, MONEY_TEXT_LEN, "%s%" PRIu64 ".%0*" PRIu64 " %s", sign, mag / scale,
			 exp, mag % scale, code);
	return buf;
}
