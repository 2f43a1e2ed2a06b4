/* Vendor calls: the FairPay cycle. Each answers FAILED_PRECONDITION until it
 * is built, so that a client can tell a missing call from a refused one. */
#include "rpc.h"

void rpc_not_implemented(rpc_call *call)
{
	rpc_fail(call, FAIRPAY__V1__CODE__FAILED_PRECONDITION, NULL,
		 "%s is not implemented by this server version", call->route->name);
}
