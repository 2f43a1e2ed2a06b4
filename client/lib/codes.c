/* Names of the protocol's status codes, for messages meant for people. */
#include "fairpay/client.h"

#define FP_EXPORT __attribute__((visibility("default")))

/* Return the name of a status code, e.g. "NOT_FOUND". */
FP_EXPORT const char *fp_code_name(int code)
{
	switch (code) {
	case FAIRPAY__V1__CODE__OK:
		return "OK";
	case FAIRPAY__V1__CODE__INVALID_ARGUMENT:
		return "INVALID_ARGUMENT";
	case FAIRPAY__V1__CODE__NOT_FOUND:
		return "NOT_FOUND";
	case FAIRPAY__V1__CODE__ALREADY_EXISTS:
		return "ALREADY_EXISTS";
	case FAIRPAY__V1__CODE__PERMISSION_DENIED:
		return "PERMISSION_DENIED";
	case FAIRPAY__V1__CODE__RESOURCE_EXHAUSTED:
		return "RESOURCE_EXHAUSTED";
	case FAIRPAY__V1__CODE__FAILED_PRECONDITION:
		return "FAILED_PRECONDITION";
	case FAIRPAY__V1__CODE__ABORTED:
		return "ABORTED";
	case FAIRPAY__V1__CODE__INTERNAL:
		return "INTERNAL";
	case FAIRPAY__V1__CODE__UNAVAILABLE:
		return "UNAVAILABLE";
	case FAIRPAY__V1__CODE__UNAUTHENTICATED:
		return "UNAUTHENTICATED";
	default:
		/* A newer server may send codes this build does not know. */
		return "UNKNOWN_CODE";
	}
}
