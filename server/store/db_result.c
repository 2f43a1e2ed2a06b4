/* Reading PGresult values (see db.h). Apart from the pool so that code
 * built without a database (the fuzz targets) shares these. */
#include <stdlib.h>

#include "db.h"

const char *db_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

int64_t db_get_i64(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

const char *db_get_str(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
}

bool db_is_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) != 0;
}
