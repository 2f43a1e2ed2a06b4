#!/usr/bin/env bash
# check-distribution.sh: check that the schema and the SQL of fairpay can be
# distributed by vendor (Citus shards each table by one column, vendor_id),
# from the catalog of a freshly migrated database (make check-distribution,
# part of make lint).
#
#   keys        every table not named `reference` in scripts/distribution.allow
#               has a vendor_id column, and its primary key, unique
#               constraints and unique indexes (partial ones too) include it
#   foreign     a foreign key between tenant tables pairs vendor_id with
#               vendor_id; a reference table references reference tables only
#   sequences   every column drawn from a sequence is named in the allow list
#               with the order PROTOCOL.md promises for it (per-vendor or
#               none, never global); the report lists them
#   joins       in the SQL of server/ and client/ctl/ (the C string
#               constants, macros expanded by the preprocessor) and of the
#               database's own functions, every join of a tenant table with a
#               tenant table, a subquery over one, or a WITH query over one
#               (JOIN ... ON/USING, a comma in FROM, UPDATE ... FROM,
#               DELETE ... USING, a LATERAL subquery's correlation) equates
#               vendor_id; joins with reference tables and joins of WITH
#               queries with each other (which Citus computes as
#               intermediate results) are not checked
#   allow list  every entry names a table or column that exists
#
# Usage: scripts/check-distribution.sh [--build DIR] [--self-test] [-- CPPFLAGS...]
#   --build DIR   the build directory (default build), with fairpayctl built
#                 (its embedded migrations are what gets checked)
#   --self-test   also add deliberate mistakes (tables, an index, a function
#                 and C constants that break each rule) to a second database
#                 and fail unless every one is reported
#   CPPFLAGS      what the C files are preprocessed with (the Makefile's)
# Exit status 0 when the schema is ready, 1 when not, 2 on usage or setup
# errors. A throwaway cluster (scripts/pg.sh, socket only) holds the databases.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
build=build
self_test=0
while [ $# -gt 0 ]; do
	case $1 in
	--build)
		[ $# -ge 2 ] || { echo "check-distribution: --build needs a directory" >&2; exit 2; }
		build=$2
		shift 2
		;;
	--self-test)
		self_test=1
		shift
		;;
	--)
		shift
		break
		;;
	*)
		echo "usage: scripts/check-distribution.sh [--build DIR] [--self-test] [-- CPPFLAGS...]" >&2
		exit 2
		;;
	esac
done
cd "$root"
[ -x "$build/fairpayctl" ] || {
	echo "check-distribution: $build/fairpayctl is not built (make BUILD=$build all)" >&2
	exit 2
}

dir=$(mktemp -d /tmp/fp-dist.XXXXXX)
chmod 755 "$dir"
cleanup() {
	scripts/pg.sh kill "$dir/pg" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
FP_PG_FAST=1 scripts/pg.sh start "$dir/pg" >/dev/null
conninfo=$(scripts/pg.sh conninfo "$dir/pg")
"$build/fairpayctl" db migrate --db "$conninfo" >"$dir/migrate.log" 2>&1 || {
	cat "$dir/migrate.log" >&2
	echo "check-distribution: the migrations failed" >&2
	exit 2
}
if [ "$self_test" = 1 ]; then
	scripts/pg.sh createdb "$dir/pg" selftest >/dev/null
	"$build/fairpayctl" db migrate --db "${conninfo/dbname=postgres/dbname=selftest}" \
		>"$dir/migrate.log" 2>&1 || {
		cat "$dir/migrate.log" >&2
		exit 2
	}
fi

# Not exec: the EXIT trap must still stop the cluster and remove $dir.
python3 - "$root" "$conninfo" "$self_test" "$dir" "$@" <<'PY'
import concurrent.futures
import json
import os
import re
import subprocess
import sys

root, conninfo, self_test, scratch = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
cppflags = sys.argv[5:]


def psql(conninfo, sql):
    out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", conninfo,
                          "-c", sql], check=True, capture_output=True, text=True).stdout
    return out


def query_json(conninfo, sql):
    out = psql(conninfo, "SELECT coalesce(json_agg(q), '[]') FROM (" + sql + ") q").strip()
    return json.loads(out)


# ------------------------------------------------------------------ allow list

def read_allow(path):
    reference, sequences, problems = {}, {}, []
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 3)
        where = "%s:%d" % (os.path.relpath(path, root), n)
        if parts[0] == "reference" and len(parts) >= 3:
            reference[parts[1]] = " ".join(parts[2:])
        elif parts[0] == "sequence" and len(parts) == 4:
            if parts[2] not in ("per-vendor", "none"):
                problems.append("%s: sequence %s promises a %s order: no promise may need one "
                                "order across vendors" % (where, parts[1], parts[2]))
            sequences[parts[1]] = (parts[2], parts[3])
        else:
            problems.append("%s: cannot read this entry" % where)
    return reference, sequences, problems


# ------------------------------------------------------------------ catalog

TABLES = """
SELECT c.relname AS name,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'vendor_id'
               AND NOT a.attisdropped) AS has_vendor
FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
"""
UNIQUES = """
SELECT c.relname AS tab, i.relname AS name, pg_get_indexdef(x.indexrelid) AS def,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'vendor_id'
               AND a.attnum = ANY (x.indkey::int2[])) AS has_vendor,
       (SELECT contype FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.contype IN ('p', 'u')
        LIMIT 1) AS contype
FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
WHERE c.relnamespace = 'public'::regnamespace AND x.indisunique
"""
FOREIGN = """
SELECT k.conname AS name, c.relname AS tab, r.relname AS ref, pg_get_constraintdef(k.oid) AS def,
       (SELECT array_agg(a.attname ORDER BY u.n) FROM unnest(k.conkey) WITH ORDINALITY u (att, n)
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.att) AS cols,
       (SELECT array_agg(a.attname ORDER BY u.n) FROM unnest(k.confkey) WITH ORDINALITY u (att, n)
        JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.att) AS refcols
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
WHERE k.contype = 'f' AND c.relnamespace = 'public'::regnamespace
"""
# Columns drawn from a sequence: identity, serial (an owned sequence) or a
# default calling nextval; and sequences that no column owns.
SEQUENCES = """
SELECT s.relname AS seq, c.relname AS tab, a.attname AS col,
       CASE WHEN a.attidentity <> '' THEN 'identity' ELSE 'default nextval' END AS how
FROM pg_class s
LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class c ON c.oid = d.refobjid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace
UNION
SELECT NULL, c.relname, a.attname, 'default nextval'
FROM pg_attrdef ad JOIN pg_class c ON c.oid = ad.adrelid
JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
WHERE c.relnamespace = 'public'::regnamespace AND pg_get_expr(ad.adbin, ad.adrelid) LIKE '%nextval(%'
"""
FUNCTIONS = """
SELECT p.proname AS name, p.prosrc AS src FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'public'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
"""


def check_catalog(conninfo, reference, sequences):
    problems, report = [], []
    tables = {t["name"]: t["has_vendor"] for t in query_json(conninfo, TABLES)}
    tenant = {t for t in tables if t not in reference}
    for name in sorted(reference):
        if name not in tables:
            problems.append("allow list: reference table %s does not exist" % name)
    for name in sorted(tenant):
        if not tables[name]:
            problems.append("table %s has no vendor_id column and is not a reference table "
                            "in scripts/distribution.allow" % name)
    for u in query_json(conninfo, UNIQUES):
        if u["tab"] in tenant and tables[u["tab"]] and not u["has_vendor"]:
            what = {"p": "primary key", "u": "unique constraint"}.get(u["contype"], "unique index")
            problems.append("table %s: %s %s lacks vendor_id (%s)" % (u["tab"], what, u["name"],
                                                                     u["def"]))
    for f in query_json(conninfo, FOREIGN):
        if f["tab"] in reference:
            if f["ref"] not in reference:
                problems.append("reference table %s: foreign key %s references the tenant table "
                                "%s" % (f["tab"], f["name"], f["ref"]))
            continue
        if f["ref"] in reference:
            continue
        pairs = list(zip(f["cols"], f["refcols"]))
        if ("vendor_id", "vendor_id") not in pairs:
            problems.append("table %s: foreign key %s does not pair vendor_id with vendor_id (%s)"
                            % (f["tab"], f["name"], f["def"]))
    seen = set()
    for s in query_json(conninfo, SEQUENCES):
        if s["tab"] is None:
            problems.append("sequence %s belongs to no column: give it to one and list it in "
                            "scripts/distribution.allow" % s["seq"])
            continue
        key = "%s.%s" % (s["tab"], s["col"])
        if key in seen:
            continue
        seen.add(key)
        if key not in sequences:
            problems.append("column %s is drawn from a sequence (%s) and is not listed in "
                            "scripts/distribution.allow with the order PROTOCOL.md promises"
                            % (key, s["how"]))
            continue
        order, why = sequences[key]
        shared = "shared by every vendor" if s["tab"] in tenant else "of a reference table"
        report.append("  %-24s %-16s one sequence %s; order promised: %s (%s)"
                      % (key, s["how"], shared, order, why))
    for key in sorted(set(sequences) - seen):
        problems.append("allow list: sequence %s does not exist" % key)
    functions = [("function %s()" % f["name"], f["src"]) for f in query_json(conninfo, FUNCTIONS)]
    return problems, report, tenant, functions


# ------------------------------------------------------------------ C strings

C_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|^#[^\n]*$|\s+|[A-Za-z_]\w*|.',
                     re.M)
ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "r": "\r", "0": "\0"}


def unescape(body):
    return re.sub(r"\\(x[0-9a-fA-F]+|.)",
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "x"
                  else ESCAPES.get(m.group(1), m.group(1)), body)


def c_strings(text):
    """Each run of adjacent string literals of the preprocessed text, joined,
    with the file and line the run starts at (from the line markers)."""
    out, run, start = [], None, None
    fname, line = "?", 1
    for m in C_TOKEN.finditer(text):
        tok = m.group(0)
        if tok.startswith("#"):
            mk = re.match(r'#\s*(\d+)\s+"([^"]*)"', tok)
            if mk:
                fname, line = mk.group(2), int(mk.group(1)) - 1
            continue
        if tok.isspace():
            line += tok.count("\n")
            continue
        if tok.startswith('"'):
            if run is None:
                run, start = [], (fname, line)
            run.append(unescape(tok[1:-1]))
            continue
        if run is not None:
            out.append((start, "".join(run)))
            run = None
    if run is not None:
        out.append((start, "".join(run)))
    return out


SQL_START = re.compile(r"^\s*(SELECT|WITH|INSERT|UPDATE|DELETE)\b", re.I)


def preprocess(f, flags):
    return f, subprocess.run(["cc", "-E", "-std=c11"] + flags + [f], capture_output=True,
                             text=True)


def c_sql(files, extra_flags):
    found = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = list(pool.map(lambda f: preprocess(f, extra_flags), files))
    for f, p in done:
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            raise SystemExit("check-distribution: cannot preprocess %s" % f)
        for (fname, line), s in c_strings(p.stdout):
            full = os.path.normpath(os.path.join(root, fname))
            if not SQL_START.match(s):
                continue
            if full.startswith(root + os.sep):
                path = os.path.relpath(full, root)
            elif full == os.path.normpath(f):
                path = os.path.basename(f)
            else:
                continue  # a system header's
            found.append(("%s:%d" % (path, line), s))
    return found


# ------------------------------------------------------------------ SQL joins

SQL_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$\d+|"
                       r"\$[A-Za-z_]*\$|[A-Za-z_][\w]*|\d+(?:\.\d+)?|::|<>|!=|<=|>=|\s+|.", re.S)
STOP = {"WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "UNION", "EXCEPT", "INTERSECT", "RETURNING",
        "FOR", "HAVING", "WINDOW", "SET", "ON", "USING", "VALUES", "SELECT", "INTO", "RETURN",
        "LOOP", "THEN", "END", "AND", "OR", "WHEN", "ELSE", "FETCH"}
JOIN_WORDS = {"JOIN", "LEFT", "RIGHT", "FULL", "INNER", "CROSS", "NATURAL", "OUTER"}
NOT_ALIAS = STOP | JOIN_WORDS | {"AS", "LATERAL", "TABLESAMPLE", "WITH", "FROM"}


def sql_tokens(s):
    toks = []
    for m in SQL_TOKEN.finditer(s):
        t = m.group(0)
        if t.isspace() or t.startswith("--") or t.startswith("/*") or re.match(r"\$[A-Za-z_]*\$$", t):
            continue
        toks.append(t)
    return toks


def up(t):
    return t.upper()


def match_paren(toks, i):
    """Index of the ')' closing the '(' at i."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j] == "(":
            depth += 1
        elif toks[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def names_tables(toks, tables):
    """True when toks read one of tables (after FROM, JOIN, UPDATE, INTO or
    in a FROM list)."""
    for i, t in enumerate(toks):
        if t in tables and i > 0 and up(toks[i - 1]) in ("FROM", "JOIN", "UPDATE", "INTO", "ONLY"):
            return True
    return False


def vendor_equality(toks):
    """True when toks equate one side's vendor_id with the other's."""
    for i, t in enumerate(toks):
        if t != "=" or i == 0:
            continue
        left = toks[i - 1]
        right = toks[i + 3] if i + 3 < len(toks) and toks[i + 2] == "." else \
            (toks[i + 1] if i + 1 < len(toks) else "")
        if left.lower() == "vendor_id" and right.lower() == "vendor_id":
            return True
    return False


class Analysis:
    def __init__(self, tenant):
        self.tenant = tenant
        self.checked = 0  # joins that had to equate vendor_id

    def run(self, toks):
        self.toks = toks
        self.ctes = self.find_ctes()
        found = []
        for i, t in enumerate(toks):
            if up(t) == "USING" and i + 1 < len(toks) and toks[i + 1] == "(":
                continue  # JOIN ... USING (columns)
            if up(t) in ("FROM", "USING") and not self.in_call(i):
                found.extend(self.from_clause(i))
        return found

    def find_ctes(self):
        """WITH query names -> whether the query reads a tenant table."""
        toks, ctes = self.toks, {}
        for i in range(1, len(toks) - 2):
            if up(toks[i + 1]) != "AS" or toks[i - 1] not in (",",) and up(toks[i - 1]) not in (
                    "WITH", "RECURSIVE"):
                continue
            j = i + 2
            while j < len(toks) and up(toks[j]) in ("NOT", "MATERIALIZED"):
                j += 1
            if j < len(toks) and toks[j] == "(":
                ctes[toks[i]] = names_tables(toks[j:match_paren(toks, j) + 1], self.tenant)
        return ctes

    def in_call(self, i):
        """True for the FROM of extract(x FROM y), substring(x FROM n) and
        the like: inside parentheses that a function name opens."""
        depth, j = 0, i - 1
        while j >= 0:
            if self.toks[j] == ")":
                depth += 1
            elif self.toks[j] == "(":
                if depth == 0:
                    return j > 0 and re.match(r"[A-Za-z_]", self.toks[j - 1]) is not None and \
                        up(self.toks[j - 1]) not in ("IN", "EXISTS", "AS", "FROM", "JOIN",
                                                      "LATERAL", "ANY", "ALL", "SOME")
                depth -= 1
            elif depth == 0 and up(self.toks[j]) in ("SELECT", "DELETE", "UPDATE"):
                return False
            j -= 1
        return False

    def item(self, j):
        """Parse one FROM item at j: (end index, kind, tokens of a subquery)."""
        toks = self.toks
        lateral = False
        if j < len(toks) and up(toks[j]) == "LATERAL":
            lateral, j = True, j + 1
        if j < len(toks) and up(toks[j]) == "ONLY":
            j += 1
        if j >= len(toks):
            return j, "other", [], lateral
        sub = []
        if toks[j] == "(":
            k = match_paren(toks, j)
            sub = toks[j + 1:k]
            kind = "tenant" if names_tables(sub, self.tenant) else "other"
            j = k + 1
        else:
            name = toks[j]
            j += 1
            while j + 1 < len(toks) and toks[j] == ".":
                name = toks[j + 1]
                j += 2
            if j < len(toks) and toks[j] == "(":
                kind = "other"  # a function
                j = match_paren(toks, j) + 1
            elif name in self.tenant:
                kind = "tenant"
            elif self.ctes.get(name):
                kind = "derived"
            else:
                kind = "other"
        if j < len(toks) and up(toks[j]) == "AS":
            j += 1
        if j < len(toks) and re.match(r"[A-Za-z_]", toks[j]) and up(toks[j]) not in NOT_ALIAS:
            j += 1
            if j < len(toks) and toks[j] == "(":  # column aliases
                j = match_paren(toks, j) + 1
        return j, kind, sub, lateral

    @staticmethod
    def needs(left, right):
        return (right == "tenant" and left in ("tenant", "derived")) or \
            (right == "derived" and left == "tenant")

    def from_clause(self, i):
        toks, found = self.toks, []
        sides = []
        # UPDATE t ... FROM and DELETE FROM t USING: the target is a side.
        target = self.statement_target(i)
        if target:
            sides.append(target)
        comma = [] if not target else [target]
        j = i + 1
        first = True
        while j < len(toks):
            t = up(toks[j])
            if t == "," or first:
                if t == ",":
                    j += 1
                first = False
                j, kind, sub, lateral = self.item(j)
                needed = lateral and sides and self.needs(max(sides, key=rank), kind)
                self.checked += 1 if needed else 0
                if needed and not vendor_equality(sub):
                    found.append("a LATERAL subquery over a tenant table without vendor_id in "
                                 "its correlation")
                elif not lateral:
                    comma.append(kind)
                sides.append(kind)
                continue
            if t in JOIN_WORDS:
                while j < len(toks) and up(toks[j]) in JOIN_WORDS:
                    j += 1
                j, kind, sub, lateral = self.item(j)
                left = max(sides, key=rank) if sides else "other"
                cond = []
                if j < len(toks) and up(toks[j]) == "ON":
                    k = j + 1
                    depth = 0
                    while k < len(toks):
                        if toks[k] == "(":
                            depth += 1
                        elif toks[k] == ")":
                            if depth == 0:
                                break
                            depth -= 1
                        elif depth == 0 and (up(toks[k]) in JOIN_WORDS or toks[k] in (",", ";") or
                                             up(toks[k]) in STOP - {"AND", "OR", "THEN", "ELSE",
                                                                    "WHEN", "END"}):
                            break
                        k += 1
                    cond = toks[j + 1:k]
                    j = k
                elif j < len(toks) and up(toks[j]) == "USING" and j + 1 < len(toks) and \
                        toks[j + 1] == "(":
                    k = match_paren(toks, j + 1)
                    cond = ["vendor_id", "="] if "vendor_id" in [x.lower() for x in
                                                                   toks[j + 2:k]] else []
                    j = k + 1
                if self.needs(left, kind):
                    self.checked += 1
                    ok = vendor_equality(cond) or (lateral and vendor_equality(sub))
                    if not ok and lateral:
                        found.append("a LATERAL subquery over a tenant table without vendor_id "
                                     "in its correlation")
                    elif not ok:
                        found.append("a JOIN of %s data without vendor_id = vendor_id in its "
                                     "condition (%s)" % (kind, " ".join(cond) or "none"))
                sides.append(kind)
                continue
            break
        # Items joined by commas (and an UPDATE's or DELETE's target): the
        # statement's WHERE must equate vendor_id.
        if sum(1 for k in comma if k == "tenant") >= 1 and \
                sum(1 for k in comma if k in ("tenant", "derived")) >= 2:
            self.checked += 1
            where = self.where_after(j)
            if not vendor_equality(where):
                found.append("tables joined in FROM/USING without vendor_id = vendor_id in the "
                         "WHERE (%s)"
                             % " ".join(where or ["none"]))
        return found

    def statement_target(self, i):
        """The kind of the target of the UPDATE or DELETE this FROM/USING
        belongs to, or None."""
        toks, depth, j = self.toks, 0, i - 1
        word = up(toks[i])
        while j >= 0:
            if toks[j] == ")":
                depth += 1
            elif toks[j] == "(":
                if depth == 0:
                    return None
                depth -= 1
            elif depth == 0 and (toks[j] == ";" or up(toks[j]) == "DELETE" and word == "FROM"):
                return None
            elif depth == 0 and up(toks[j]) in ("SELECT", "INSERT", "FROM", "JOIN") and \
                    not (word == "USING" and up(toks[j]) == "FROM" and j > 0 and
                         up(toks[j - 1]) == "DELETE"):
                return None
            elif depth == 0 and (up(toks[j]) == "UPDATE" and word == "FROM" or
                                 up(toks[j]) == "DELETE" and word == "USING"):
                k = j + 1
                if up(toks[k]) == "FROM":
                    k += 1
                if up(toks[k]) == "ONLY":
                    k += 1
                name = toks[k]
                if name in self.tenant:
                    return "tenant"
                return "derived" if self.ctes.get(name) else "other"
            j -= 1
        return None

    def where_after(self, j):
        toks, depth = self.toks, 0
        while j < len(toks):
            if toks[j] == "(":
                depth += 1
            elif toks[j] == ")":
                if depth == 0:
                    return []
                depth -= 1
            elif depth == 0 and up(toks[j]) == "WHERE":
                k, d = j + 1, 0
                while k < len(toks):
                    if toks[k] == "(":
                        d += 1
                    elif toks[k] == ")":
                        if d == 0:
                            break
                        d -= 1
                    elif d == 0 and up(toks[k]) in ("GROUP", "ORDER", "LIMIT", "RETURNING",
                                                     "UNION", "FOR", "HAVING") or toks[k] == ";":
                        break
                    k += 1
                return toks[j + 1:k]
            elif depth == 0 and (toks[j] == ";" or up(toks[j]) in ("GROUP", "ORDER", "LIMIT",
                                                                  "RETURNING", "UNION")):
                return []
            j += 1
        return []


def rank(kind):
    return {"other": 0, "derived": 1, "tenant": 2}[kind]


def check_joins(sources, tenant):
    problems = []
    a = Analysis(tenant)
    for where, sql in sources:
        for f in a.run(sql_tokens(sql)):
            problems.append("%s: %s" % (where, f))
    return problems, a.checked


def sources_of_tree(extra_files=()):
    files = []
    for top in ("server", "client/ctl"):
        for d, _, names in os.walk(os.path.join(root, top)):
            files += [os.path.join(d, n) for n in sorted(names) if n.endswith(".c")]
    flags = cppflags + ["-I" + os.path.join(root, "client/ctl")]
    return c_sql(sorted(files) + list(extra_files), flags)


def check(conninfo, extra_files=()):
    reference, sequences, problems = read_allow(os.path.join(root, "scripts/distribution.allow"))
    p, report, tenant, functions = check_catalog(conninfo, reference, sequences)
    problems += p
    c = sources_of_tree(extra_files)
    p, joins = check_joins(c + functions, tenant)
    problems += p
    return problems, report, tenant, (len(c), len(functions), joins)


# ------------------------------------------------------------------ self-test

BAD_DDL = """
CREATE TABLE bad_pk (vendor_id text NOT NULL, id bigint PRIMARY KEY);
CREATE TABLE bad_unique (vendor_id text NOT NULL, id text, code text UNIQUE,
	PRIMARY KEY (vendor_id, id));
CREATE TABLE bad_fk (vendor_id text NOT NULL, id text, other_vendor text, offer_id text,
	PRIMARY KEY (vendor_id, id),
	FOREIGN KEY (other_vendor, offer_id) REFERENCES offers (vendor_id, id));
CREATE TABLE bad_global (id text PRIMARY KEY);
CREATE TABLE bad_serial (vendor_id text NOT NULL, n bigserial, PRIMARY KEY (vendor_id, n));
CREATE UNIQUE INDEX bad_partial_idx ON payments (id) WHERE review = 'PENDING';
CREATE TABLE api_keys_audit (vendor_id text NOT NULL, offer_id text, PRIMARY KEY (vendor_id, offer_id));
ALTER TABLE api_keys ADD COLUMN last_offer text, ADD COLUMN last_offer_vendor text,
	ADD FOREIGN KEY (last_offer_vendor, last_offer) REFERENCES offers (vendor_id, id);
CREATE FUNCTION bad_join_fn(p_vendor text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM payments p JOIN offers o ON o.id = p.offer_id WHERE p.vendor_id = p_vendor
$$;
"""
BAD_C = r"""
#define OFFER(a) a ".id"
static const char bad_join_on[] =
	"SELECT p.id FROM payments p JOIN offers o ON " OFFER("o") " = p.offer_id";
static const char bad_join_comma[] =
	"SELECT p.id FROM payments p, offers o WHERE o.id = p.offer_id AND p.vendor_id = $1";
static const char bad_update_from[] =
	"WITH c AS (SELECT id FROM webhook_outbox LIMIT 1)"
	" UPDATE webhook_outbox o SET attempts = 1 FROM c WHERE o.id = c.id";
static const char bad_lateral[] =
	"SELECT x.id FROM webhook_endpoints w CROSS JOIN LATERAL"
	" (SELECT y.id FROM webhook_outbox y WHERE y.endpoint_id = w.id LIMIT 1) x";
static const char bad_delete_using[] =
	"DELETE FROM offers o USING payments p WHERE p.offer_id = o.id";
static const char good_join[] =
	"SELECT p.id FROM payments p JOIN offers o ON o.vendor_id = p.vendor_id AND o.id = p.offer_id"
	" LEFT JOIN vendors v ON v.id = p.vendor_id, LATERAL (SELECT 1) one"
	" WHERE p.vendor_id = $1 AND extract(epoch FROM p.created_at) > 0";
"""
EXPECT = [
    "table bad_pk: primary key bad_pk_pkey lacks vendor_id",
    "table bad_unique: unique constraint bad_unique_code_key lacks vendor_id",
    "table bad_fk: foreign key bad_fk_other_vendor_offer_id_fkey does not pair vendor_id",
    "table bad_global has no vendor_id column",
    "column bad_serial.n is drawn from a sequence",
    "table payments: unique index bad_partial_idx lacks vendor_id",
    "reference table api_keys: foreign key api_keys_last_offer_vendor_last_offer_fkey "
    "references the tenant table offers",
    "function bad_join_fn(): a JOIN of tenant data without vendor_id",
    "bad.c:4: a JOIN of tenant data without vendor_id",
    "bad.c:6: tables joined in FROM/USING without vendor_id",
    "bad.c:8: tables joined in FROM/USING without vendor_id",
    "bad.c:11: a LATERAL subquery over a tenant table without vendor_id",
    "bad.c:14: tables joined in FROM/USING without vendor_id",
]


def self_check():
    db = conninfo.replace("dbname=postgres", "dbname=selftest")
    psql(db, BAD_DDL)
    bad_c = os.path.join(scratch, "bad.c")
    with open(bad_c, "w") as f:
        f.write(BAD_C)
    problems = check(db, [bad_c])[0]
    problems = [p.replace(os.path.relpath(scratch, root) + "/", "") for p in problems]
    missed = [e for e in EXPECT if not any(p.startswith(e) for p in problems)]
    extra = [p for p in problems if not any(p.startswith(e) for e in EXPECT)]
    for m in missed:
        print("check-distribution self-test: not reported: " + m)
    for e in extra:
        print("check-distribution self-test: reported wrongly: " + e)
    if missed or extra:
        return False
    print("check-distribution self-test: all %d deliberate mistakes reported, nothing else"
          % len(EXPECT))
    return True


ok = True
if self_test:
    ok = self_check()
problems, report, tenant, counts = check(conninfo)
print("check-distribution: %d tenant tables sharded by vendor_id; %d SQL statements in C and %d "
      "SQL functions read, %d joins between tenant data checked" % ((len(tenant),) + counts))
print("check-distribution: columns drawn from sequences:")
for line in report:
    print(line)
print("  (a per-vendor order drawn from one sequence holds as long as one node draws it: "
      "distributed, nextval runs on the coordinator; see docs/deploy.md)")
for p in problems:
    print("check-distribution: " + p)
if problems or not ok:
    sys.exit(1)
print("check-distribution: the schema can be distributed by vendor")
PY
