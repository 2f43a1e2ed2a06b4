/* Enum value names from the protobuf-c descriptors (see names.h). */
#include "names.h"

#include <string.h>

/* The length of the enum's prefix: its zero value's name less UNSPECIFIED. */
size_t names_prefix_len(const ProtobufCEnumDescriptor *d)
{
	const ProtobufCEnumValue *zero = protobuf_c_enum_descriptor_get_value(d, 0);
	static const char tail[] = "UNSPECIFIED";
	if (zero == NULL)
		return 0;
	size_t len = strlen(zero->name);
	return len >= sizeof(tail) - 1 ? len - (sizeof(tail) - 1) : 0;
}

int names_max(const ProtobufCEnumDescriptor *d)
{
	int max = 0;
	for (unsigned i = 0; i < d->n_values; i++)
		if (d->values[i].value > max)
			max = d->values[i].value;
	return max;
}

const char *names_known(const ProtobufCEnumDescriptor *d, int v)
{
	if (v == 0)
		return NULL;
	const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
	return e ? e->name + names_prefix_len(d) : NULL;
}

const char *names_of(const ProtobufCEnumDescriptor *d, int v)
{
	const char *name = names_known(d, v);
	return name ? name : "";
}

int names_value_n(const ProtobufCEnumDescriptor *d, const char *name, size_t len)
{
	size_t skip = names_prefix_len(d);
	for (unsigned i = 0; i < d->n_values; i++) {
		const char *n = d->values[i].name + skip;
		if (d->values[i].value != 0 && strlen(n) == len && memcmp(n, name, len) == 0)
			return d->values[i].value;
	}
	return 0;
}

int names_value(const ProtobufCEnumDescriptor *d, const char *name)
{
	return names_value_n(d, name, strlen(name));
}
