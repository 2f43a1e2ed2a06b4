/* money_: amounts for people. The wire carries integer minor units; a person
 * reads the currency's major unit, scaled by its ISO 4217 exponent
 * ("10.00 EUR", "1000 JPY", "1.000 BHD"). The table of exponents lives here
 * and nowhere else. */
#ifndef FP_MONEY_H
#define FP_MONEY_H

#include <stdint.h>

/* Longest text money_format() writes, NUL included: a sign, 19 digits, a
 * point, a leading "0" when the exponent is 4, a space and a 3-letter code. */
#define MONEY_TEXT_LEN 32

/* Return the ISO 4217 exponent of currency (0, 2, 3 or 4); 2 when unknown. */
int money_exponent(const char *currency);

/* Format minor units of currency for a person and return buf: the major unit
 * with the currency's exponent, then the code ("-0.05 EUR"). With no currency
 * (NULL or "") the minor units are written as they are ("1000"); a currency
 * that is not three upper-case letters is written as "?" after the amount
 * (at exponent 2). */
const char *money_format(int64_t minor, const char *currency, char buf[MONEY_TEXT_LEN]);

#endif
