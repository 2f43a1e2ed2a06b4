/* Page tokens of the offer and payment lists (see pagetoken.h). */
#include "pagetoken.h"

#include <stdio.h>
#include <string.h>

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int pagetoken_make(char kind, int64_t created_us, const char *id, char out[PAGETOKEN_SIZE])
{
	out[0] = '\0';
	if (created_us < 0 || created_us >= PAGETOKEN_MAX_US || id == NULL || id[0] != kind ||
	    id[1] != '_' || strlen(id) != 18 || !lower_hex(id + 2, 16))
		return -1;
	snprintf(out, PAGETOKEN_SIZE, "%c%016llx%s", kind, (unsigned long long)created_us, id + 2);
	return 0;
}

int pagetoken_parse(char kind, const char *token, pagetoken *out)
{
	if (token == NULL || strlen(token) != PAGETOKEN_LEN || token[0] != kind ||
	    !lower_hex(token + 1, 32))
		return -1;
	uint64_t us = 0;
	for (size_t i = 1; i <= 16; i++) {
		char c = token[i];
		us = us << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	if (us >= (uint64_t)PAGETOKEN_MAX_US)
		return -1;
	out->created_us = (int64_t)us;
	memcpy(out->hex, token + 17, 16);
	out->hex[16] = '\0';
	return 0;
}

void pagetoken_id(char kind, const pagetoken *t, char *out, size_t size)
{
	snprintf(out, size, "%c_%s", kind, t->hex);
}
