#!/usr/bin/env bash
# check-includes.sh: enforce the direction of #include (after Tor's
# .may_include files and `make check-includes`) and find include cycles.
#
#   scripts/check-includes.sh [-I DIR]... [--gen DIR] [--allow FILE] [ROOT]...
#
# Every directory under the ROOTs (default: server client) that holds .c or .h
# files has a .may_include listing the project headers its files may include.
# One pattern a line; `#` starts a comment. A pattern names a header by its
# path from the repository root (server/common/key.h, server/rules/*.h); gen/NAME is
# a header the build generates (--gen, the build's gen/ directory). `*` and `?`
# stay within one directory, `**` crosses directories. A pattern in angle
# brackets (<stdint.h>, <event2/*.h>) names a system header: system headers
# are not checked unless the list names some, and then only those are allowed.
#
# A line `[GLOB]` starts rules for the modules of this directory whose name
# matches GLOB (a module is a file name without .c or .h, so x.c and x.h are
# one module); those files follow that section instead of the directory's
# list. A section that matches no file is an error, so that it moves with
# its module.
#
# Includes are resolved as the compiler does: "x.h" in the including file's
# directory, then in each -I DIR in order; <x.h> in each -I DIR. A quoted
# include must name a project (or generated) header. -I directories outside
# the repository (PostgreSQL's) hold system headers.
#
# Cycles: each include of a project header is an edge between modules; a set
# of modules that all reach each other (a strongly connected component) is
# printed, with one cycle through it and the includes that tie it, and fails
# the check unless the allow-list (--allow, default
# scripts/include-cycles.allow) names exactly that set. An allow-list line
# whose cycle shrank or went away is an error too, so that the list only
# shrinks: the message says what to write instead, or to delete the line.
#
# Exit status: 0 clean, 1 violations, 2 usage or setup error.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

incdirs=()
gendir=
allow=scripts/include-cycles.allow
roots=()
while [ $# -gt 0 ]; do
	case $1 in
	-I) incdirs+=("${2:?-I needs a directory}"); shift 2 ;;
	-I*) incdirs+=("${1#-I}"); shift ;;
	--gen) gendir=${2:?--gen needs a directory}; shift 2 ;;
	--allow) allow=${2:?--allow needs a file}; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "check-includes: unknown option $1" >&2; exit 2 ;;
	*) roots+=("$1"); shift ;;
	esac
done
[ ${#roots[@]} -gt 0 ] || roots=(server client)
[ ${#incdirs[@]} -gt 0 ] || incdirs=(server client/include)
[ -n "$gendir" ] || gendir=build/gen

# A path relative to the repository, or "" when it lies outside it.
repo_rel() {
	local p=$1
	while [ "${p%/}" != "$p" ] && [ "$p" != / ]; do p=${p%/}; done
	case /$p/ in
	*/./* | */../* | //*) p=$(realpath -m -- "$p") ;; # rare: ask realpath
	*) p=$top/$p ;;
	esac
	case $p in
	"$top") echo . ;;
	"$top"/*) echo "${p#"$top"/}" ;;
	*) echo "" ;;
	esac
}

genrel=$(repo_rel "$gendir")
searchdirs=() # -I directories inside the repository, repository-relative
for d in "${incdirs[@]}"; do
	r=$(repo_rel "$d")
	[ -n "$r" ] && searchdirs+=("$r")
done
# The generated headers are found as the compiler finds them, even when the
# caller's -I list does not name the directory.
found_gen=false
for d in "${searchdirs[@]}"; do [ "$d" = "$genrel" ] && found_gen=true; done
$found_gen || searchdirs+=("$genrel")

# Glob to anchored extended regular expression.
glob_re() {
	local g=$1 re= c i
	for ((i = 0; i < ${#g}; i++)); do
		c=${g:i:1}
		case $c in
		'*')
			if [ "${g:i+1:1}" = '*' ]; then
				re+='.*'
				i=$((i + 1))
			else
				re+='[^/]*'
			fi
			;;
		'?') re+='[^/]' ;;
		'.' | '^' | '$' | '+' | '(' | ')' | '{' | '}' | '|' | '[' | ']' | '\') re+="\\$c" ;;
		*) re+=$c ;;
		esac
	done
	printf '^%s$' "$re"
}

# The name a rule sees for a header: repository path, gen/NAME or <NAME>.
# Sets hname and hkind (project, gen, system, missing).
resolve() {
	local from=$1 kind=$2 spelled=$3 d r
	local dirs=()
	[ "$kind" = quote ] && dirs+=("${from%/*}")
	dirs+=("${searchdirs[@]}")
	for d in "${dirs[@]}"; do
		if [ -f "$d/$spelled" ]; then
			r=$(repo_rel "$d/$spelled")
			case $r in
			"$genrel"/*)
				hname=gen/${r#"$genrel"/}
				hkind=gen
				;;
			'') # a symbolic link out of the repository
				hname="<$spelled>"
				hkind=system
				;;
			*)
				hname=$r
				hkind=project
				;;
			esac
			return
		fi
	done
	if [ "$kind" = quote ]; then
		hname=$spelled
		hkind=missing
	else
		hname="<$spelled>"
		hkind=system
	fi
}

errors=0
fail() {
	echo "$*" >&2
	errors=$((errors + 1))
}

# ---------------------------------------------------------------- rules
files=()
for root in "${roots[@]}"; do
	[ -d "$root" ] || { echo "check-includes: no directory $root" >&2; exit 2; }
	while IFS= read -r f; do files+=("${f#./}"); done < <(
		find "$root" -name '.*' -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print | LC_ALL=C sort)
done
[ ${#files[@]} -gt 0 ] || { echo "check-includes: no sources under ${roots[*]}" >&2; exit 2; }

declare -A rules=()    # "dir|section" -> newline-separated regexes (angle ones start with <)
declare -A sections=() # dir -> newline-separated section globs
declare -A used=()     # "dir|section" -> 1 once a file follows it
declare -A loaded=()
declare -A secre=()    # section glob -> regex

load_rules() {
	local dir=$1 file=$1/.may_include sec= line n=0 pat
	loaded[$dir]=1
	if [ ! -f "$file" ]; then
		fail "$dir/: no .may_include (list the headers its files may include)"
		return
	fi
	rules["$dir|"]=""
	sections[$dir]=""
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%%#*}
		line=${line#"${line%%[![:space:]]*}"}
		line=${line%"${line##*[![:space:]]}"}
		[ -n "$line" ] || continue
		if [[ $line =~ ^\[(.+)\]$ ]]; then
			sec=${BASH_REMATCH[1]}
			sections[$dir]+="$sec"$'\n'
			rules["$dir|$sec"]=""
			continue
		fi
		case $line in
		*' '* | /* | *..*)
			fail "$file:$n: bad pattern '$line' (one path from the repository root per line)"
			continue
			;;
		'<'*'>') pat="<$(glob_re "${line:1:${#line}-2}")" ;;
		*) pat=$(glob_re "$line") ;;
		esac
		rules["$dir|$sec"]+="$pat"$'\n'
	done <"$file"
}

# Set sec to the section (or "") that a module's files follow.
section_of() {
	local dir=$1 mod=$2 s re
	sec=
	while IFS= read -r s; do
		[ -n "$s" ] || continue
		[ -n "${secre[$s]:-}" ] || secre[$s]=$(glob_re "$s")
		re=${secre[$s]}
		if [[ $mod =~ $re ]]; then
			if [ -n "$sec" ]; then
				fail "$dir/.may_include: module $mod matches both [$sec] and [$s]"
			else
				sec=$s
			fi
		fi
	done <<<"${sections[$dir]}"
}

# 0 when the list allows the header name.
allowed() {
	local list=$1 name=$2 kind=$3 re any_sys=false
	while IFS= read -r re; do
		[ -n "$re" ] || continue
		if [ "${re:0:1}" = '<' ]; then
			any_sys=true
			[ "$kind" = system ] && [[ ${name:1:${#name}-2} =~ ${re:1} ]] && return 0
		elif [ "$kind" != system ] && [[ $name =~ $re ]]; then
			return 0
		fi
	done <<<"$list"
	[ "$kind" = system ] && ! $any_sys
}

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT

for f in "${files[@]}"; do
	dir=${f%/*}
	[ -n "${loaded[$dir]:-}" ] || load_rules "$dir"
	[ -n "${rules["$dir|"]+x}" ] || continue # no .may_include: reported once
	base=${f##*/}
	mod=${base%.*}
	section_of "$dir" "$mod"
	used["$dir|$sec"]=1
	list=${rules["$dir|$sec"]}
	where="$dir/.may_include${sec:+ [$sec]}"
	while IFS=: read -r ln text; do
		[ -n "$ln" ] || continue
		if [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
			kind=quote
		elif [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
			kind=angle
		else
			continue
		fi
		spelled=${BASH_REMATCH[1]}
		resolve "$f" "$kind" "$spelled"
		if [ "$hkind" = missing ]; then
			fail "$f:$ln: \"$spelled\" is no project header (system headers take <>; generated ones: build them first)"
			continue
		fi
		allowed "$list" "$hname" "$hkind" ||
			fail "$f:$ln: includes $hname, which $where does not allow"
		if [ "$hkind" = project ]; then
			hbase=${hname##*/}
			to=${hbase%.*}
			[ "$to" = "$mod" ] || printf '%s %s %s:%s\n' "$mod" "$to" "$f" "$ln" >>"$edges"
		fi
	done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include' "$f" || true)
done

for dir in "${!sections[@]}"; do
	while IFS= read -r sec; do
		[ -n "$sec" ] || continue
		[ -n "${used["$dir|$sec"]:-}" ] ||
			fail "$dir/.may_include: section [$sec] matches no file in $dir/ (did the module move?)"
	done <<<"${sections[$dir]}"
done

# ---------------------------------------------------------------- cycles
# Tarjan's strongly connected components over the module graph; each
# component of two or more modules is a cycle. For each, print one shortest
# cycle through its first module and every include that ties the component.
allow_lines=
if [ -f "$allow" ]; then
	allow_lines=$(awk '{ sub(/#.*/, "") } NF { printf "%d", NR; for (i = 1; i <= NF; i++) printf " %s", $i; print "" }' "$allow")
fi

cycle_out=$(
	awk -v allow_lines="$allow_lines" -v allow_file="$allow" '
	function strong(v,    i, w, n, members, m) {
		idx[v] = low[v] = ++counter
		stack[++sp] = v; on[v] = 1
		for (i = 1; i <= nout[v]; i++) {
			w = out[v, i]
			if (!(w in idx)) {
				strong(w)
				if (low[w] < low[v]) low[v] = low[w]
			} else if (on[w] && idx[w] < low[v]) {
				low[v] = idx[w]
			}
		}
		if (low[v] == idx[v]) {
			n = 0
			do { w = stack[sp--]; on[w] = 0; members[++n] = w; comp[w] = ncomp + 1 } while (w != v)
			ncomp++
			csize[ncomp] = n
			for (m = 1; m <= n; m++) cmem[ncomp, m] = members[m]
		}
	}
	function sortset(arr, n,    i, j, t, s) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && arr[j - 1] > arr[j]; j--) { t = arr[j]; arr[j] = arr[j - 1]; arr[j - 1] = t }
		s = arr[1]
		for (i = 2; i <= n; i++) s = s " " arr[i]
		return s
	}
	# Shortest path from s back to s inside component c (breadth first).
	function loop(s, c,    q, head, tail, v, i, w, prev, seen, path) {
		head = 1; tail = 0
		q[++tail] = s
		while (head <= tail) {
			v = q[head++]
			for (i = 1; i <= nout[v]; i++) {
				w = out[v, i]
				if (comp[w] != c) continue
				if (w == s) {
					path = s
					while (v != s) { path = v " -> " path; v = prev[v] }
					return s " -> " path
				}
				if (!(w in seen)) { seen[w] = 1; prev[w] = v; q[++tail] = w }
			}
		}
		return s
	}
	{
		if (!(($1, $2) in edge)) { edge[$1, $2] = 1; out[$1, ++nout[$1]] = $2 }
		ev[$1, $2] = ev[$1, $2] (ev[$1, $2] == "" ? "" : ", ") $3
		node[$1] = node[$2] = 1
	}
	END {
		nallow = split(allow_lines, al, "\n")
		for (i = 1; i <= nallow; i++) {
			k = split(al[i], f, " ")
			for (j = 2; j <= k; j++) g[j - 1] = f[j]
			akey[i] = sortset(g, k - 1); aline[i] = f[1]
			delete g
		}
		# Visit modules in name order so that the report is stable.
		nn = 0
		for (v in node) names[++nn] = v
		sortset(names, nn)
		for (i = 1; i <= nn; i++) if (!(names[i] in idx)) strong(names[i])
		bad = 0
		for (c = 1; c <= ncomp; c++) {
			if (csize[c] < 2) continue
			delete set
			for (m = 1; m <= csize[c]; m++) set[m] = cmem[c, m]
			key = sortset(set, csize[c])
			ok = 0
			for (i = 1; i <= nallow; i++) if (akey[i] == key) { ok = i; matched[i] = 1 }
			if (ok) {
				printf "known include cycle (%s:%d): %s\n", allow_file, aline[ok], key
				continue
			}
			bad++
			printf "include cycle between %d modules: %s\n", csize[c], key
			printf "  for one: %s\n", loop(set[1], c)
			for (m = 1; m <= csize[c]; m++)
				for (i = 1; i <= nout[set[m]]; i++) {
					w = out[set[m], i]
					if (comp[w] == c) printf "  %s -> %s: %s\n", set[m], w, ev[set[m], w]
				}
		}
		for (i = 1; i <= nallow; i++) {
			if (i in matched) continue
			bad++
			k = split(akey[i], f, " ")
			c = comp[f[1]]
			for (j = 2; j <= k; j++) if (comp[f[j]] != c) c = 0
			if (c && csize[c] > 1) {
				printf "%s:%d: \"%s\" is now part of a larger cycle (above)\n", allow_file, aline[i], akey[i]
				continue
			}
			# Smaller cycles left among the modules of the line: progress.
			delete inline
			for (j = 1; j <= k; j++) inline[f[j]] = 1
			left = ""
			for (c = 1; c <= ncomp; c++) {
				if (csize[c] < 2) continue
				inside = 1
				for (m = 1; m <= csize[c]; m++) if (!(cmem[c, m] in inline)) inside = 0
				if (!inside) continue
				delete set
				for (m = 1; m <= csize[c]; m++) set[m] = cmem[c, m]
				left = left (left == "" ? "" : "\" and \"") sortset(set, csize[c])
			}
			if (left != "")
				printf "%s:%d: the cycle \"%s\" is down to \"%s\": write that instead\n", allow_file, aline[i], akey[i], left
			else
				printf "%s:%d: no cycle is \"%s\" any more: delete the line\n", allow_file, aline[i], akey[i]
		}
		exit (bad > 0 ? 1 : 0)
	}' "$edges"
) && cycles_ok=true || cycles_ok=false
if $cycles_ok; then
	[ -z "$cycle_out" ] || echo "$cycle_out"
else
	echo "$cycle_out" >&2
	errors=$((errors + 1))
fi

if [ "$errors" -gt 0 ]; then
	echo "check-includes: failed (include rules: .may_include files; cycles: $allow)" >&2
	exit 1
fi
echo "check-includes: ${#files[@]} files follow their .may_include; no new include cycle"
