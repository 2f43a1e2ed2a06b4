#!/usr/bin/env bash
# check-docker.sh: check docker/Dockerfile and docker/compose.yaml against the
# Makefile, the programs and the repository, since no Docker engine runs where
# the tests do (make check-docker, part of make lint).
#
#   flags     every --flag given to fairpayd or fairpayctl (Dockerfile CMD,
#             compose command) is one that program's --help (for fairpayctl,
#             also its command's --help) names
#   paths     every COPY source exists in the repository (and is not left out
#             of the build context by .dockerignore) or is made by the Makefile:
#             a build/ file, or a file of `make install`'s layout, checked by
#             running that very install into a scratch directory; programs
#             copied into bin/ are executable; the Makefile targets a RUN
#             makes exist; every host path compose mounts exists, or is made
#             by the documented setup (certificates by scripts/gencerts.sh,
#             secrets by the README's loop) and kept out of git and of the
#             build context
#   packages  the image installs nothing by name: scripts/deps.sh --build
#             covers the Makefile's pkg-config modules and the tools its
#             recipes run, --runtime the programs' NEEDED libraries
#   ports     --listen and --admin-listen ports are EXPOSEd, compose publishes
#             only ports fairpayd listens on
#   health    every health check asks GET /readyz of the admin listener, on
#             the port --admin-listen gives, with a tool the image has
#   roles     fairpayd logs in as neither the superuser nor the owner
#   secrets   no password, conninfo password, API key or PGPASSWORD on a
#             command line, and no secret-named environment variable but a
#             *FILE one
#
# Usage: scripts/check-docker.sh [--build DIR] [--self-test]
#   --build DIR   the build directory (default build), with fairpayd and
#                 fairpayctl built
#   --self-test   instead of checking the files, check copies of them with one
#                 deliberate mistake each, and fail unless every mistake is
#                 reported (so that the check itself can fail)
# Exit status 0 when everything agrees, 1 when something does not, 2 on usage
# or setup errors.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
build=build
self_test=0
while [ $# -gt 0 ]; do
	case $1 in
	--build)
		[ $# -ge 2 ] || { echo "check-docker: --build needs a directory" >&2; exit 2; }
		build=$2
		shift 2
		;;
	--self-test)
		self_test=1
		shift
		;;
	*)
		echo "usage: scripts/check-docker.sh [--build DIR] [--self-test]" >&2
		exit 2
		;;
	esac
done
cd "$root"
for b in fairpayd fairpayctl; do
	[ -x "$build/$b" ] || {
		echo "check-docker: $build/$b is not built (make BUILD=$build all)" >&2
		exit 2
	}
done
python3 -c 'import yaml' 2>/dev/null || {
	echo "check-docker: python3 with the yaml module is needed (make deps: python3-yaml)" >&2
	exit 2
}

exec python3 - "$root" "$build" "$self_test" <<'PY'
import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT, BUILD, SELF_TEST = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
BUILD_ABS = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
DOCKERFILE = "docker/Dockerfile"
COMPOSE = "docker/compose.yaml"
PROGRAMS = ("fairpayd", "fairpayctl")
# In every Debian image, whatever the package lists say.
BASE_PACKAGES = {"libc6"}
# The tools the Makefile's recipes for `all` and `install` run.
BUILD_TOOLS = ("protoc-c", "help2man", "pkg-config")
SECRET_RES = [
    (re.compile(r"password\s*=", re.I), "a password= in a connection string"),
    (re.compile(r"PGPASSWORD"), "PGPASSWORD"),
    (re.compile(r"--api-key\b|--password\b"), "a secret-taking flag"),
    (re.compile(r"\bfp_[0-9a-f]{16}_[0-9a-f]{8,}"), "an API key"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "a password in a URI"),
]
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|API_?KEY|PRIVATE", re.I)


def run(args, **kw):
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


class Context:
    """What the files are checked against, gathered once."""

    def __init__(self):
        self.help = {}
        self.installs = {}
        self.tmp = tempfile.mkdtemp(prefix="check-docker.")
        self.makefile = read("Makefile")
        self.lists = {}
        for name in ("build", "runtime"):
            r = run([os.path.join(ROOT, "scripts/deps.sh"), "--list", name])
            if r.returncode != 0:
                sys.exit("check-docker: scripts/deps.sh --list %s failed: %s" % (name, r.stderr))
            self.lists[name] = set(r.stdout.split())
        self.dockerignore = [l.strip() for l in read(".dockerignore").splitlines()
                             if l.strip() and not l.startswith("#")]
        self.gitignore = [l.strip() for l in read(".gitignore").splitlines()
                          if l.strip() and not l.startswith("#")]
        self.readme = read("README.md")
        self.gencerts = read("scripts/gencerts.sh")
        self.owners = None

    def flags(self, prog, words):
        """The --flags prog's --help (and its command's) names."""
        key = (prog, tuple(words))
        if key not in self.help:
            text = ""
            for topic in ([], list(words)):
                r = run([os.path.join(BUILD_ABS, prog)] + topic + ["--help"])
                text += r.stdout + r.stderr
            self.help[key] = set(re.findall(r"--[a-z][a-z0-9-]*", text))
        return self.help[key]

    def install(self, destdir, prefix):
        """A scratch copy of `make install DESTDIR=destdir PREFIX=prefix`."""
        key = (destdir, prefix)
        if key not in self.installs:
            dest = os.path.join(self.tmp, "install%d" % len(self.installs))
            env = {k: v for k, v in os.environ.items()
                   if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
            r = run(["make", "-C", ROOT, "--no-print-directory", "BUILD=" + BUILD, "install",
                     "DESTDIR=" + dest + destdir, "PREFIX=" + prefix] + build_flags(), env=env)
            if r.returncode != 0:
                sys.exit("check-docker: make install failed:\n" + r.stdout + r.stderr)
            self.installs[key] = dest
        return self.installs[key]

    def make_target(self, target):
        pat = r"^(?:[^\s:=#]+[ \t]+)*" + re.escape(target) + r"(?:[ \t]+[^\s:=#]+)*[ \t]*:(?!=)"
        return re.search(pat, self.makefile, re.M) is not None

    def package_of(self, path):
        """The packages that own path, or a file of that name ("*/NAME")."""
        if self.owners is None:
            # dpkg's file lists, read once (dpkg -S takes a second a query).
            self.owners, self.owners_by_name = {}, {}
            for lst in glob.glob("/var/lib/dpkg/info/*.list"):
                pkg = os.path.basename(lst)[:-5].split(":")[0]
                if pkg.endswith("-i386") or pkg.startswith("lib32"):
                    continue
                with open(lst, errors="replace") as f:
                    for line in f:
                        line = line.rstrip("\n")
                        self.owners.setdefault(line, set()).add(pkg)
                        self.owners_by_name.setdefault(os.path.basename(line), set()).add(pkg)
        if path.startswith("*/"):
            return self.owners_by_name.get(path[2:], set())
        # Debian 12 merges /lib into /usr/lib; a package may name either.
        alt = path[4:] if path.startswith("/usr/") else "/usr" + path
        return self.owners.get(path, set()) | self.owners.get(alt, set())

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def build_flags():
    """CC and SAN as BUILD was built with (its .flags), so that make rebuilds nothing."""
    try:
        with open(os.path.join(BUILD_ABS, ".flags")) as f:
            flags = f.read().split()
    except OSError:
        return []
    out = ["CC=" + flags[0]] if flags else []
    if "-fsanitize=fuzzer-no-link,address,undefined" in flags:
        out.append("SAN=fuzz")
    elif "-fsanitize=address,undefined" in flags:
        out.append("SAN=1")
    return out


def ignored(patterns, rel):
    """True when rel (or a directory above it) matches one of the patterns."""
    parts = rel.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        for p in patterns:
            p = p.rstrip("/").lstrip("/")
            if p.startswith("!"):
                continue
            if fnmatch.fnmatch(sub, p) or fnmatch.fnmatch(sub, p.replace("**/", "")):
                return True
    return False


def dockerfile_instructions(text):
    """(line, KEYWORD, arguments) with continuations joined, comments dropped."""
    out, buf, start = [], "", 0
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("#") or (not s and not buf):
            continue
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        kw, _, rest = buf.partition(" ")
        out.append((start, kw.upper(), rest.strip()))
        buf = ""
    return out


def exec_form(rest):
    if rest.startswith("["):
        try:
            return json.loads(rest)
        except ValueError:
            return None
    return shlex.split(rest)


def port_of(addr):
    m = re.search(r":(\d+)$", str(addr))
    return int(m.group(1)) if m else None


def secrets_in(text):
    return [what for rx, what in SECRET_RES if rx.search(text)]


class Checker:
    def __init__(self, ctx, dockerfile, compose):
        self.ctx = ctx
        self.df_text = dockerfile
        self.compose_text = compose
        self.problems = []

    def bad(self, where, msg):
        self.problems.append("%s: %s" % (where, msg))

    # ------------------------------------------------------------ arguments
    def check_args(self, where, prog, args):
        """Flags known to prog; returns {flag: value} of the flags given."""
        words = []
        for a in args:
            if a.startswith("-"):
                break
            words.append(a)
        known = self.ctx.flags(prog, words[:2])
        given = {}
        for i, a in enumerate(args):
            if not a.startswith("--"):
                continue
            name, eq, val = a.partition("=")
            if name not in known:
                self.bad(where, "unknown flag %s (not in %s --help)" % (name, prog))
            if not eq and i + 1 < len(args) and not args[i + 1].startswith("--"):
                val = args[i + 1]
            given[name] = val
        for a in args:
            for what in secrets_in(a):
                self.bad(where, "%s on the command line: %r" % (what, a))
        return given

    def check_health(self, where, cmd, admin_port, tools):
        """A health check: GET /readyz on the admin port with a tool the image has."""
        if not cmd:
            self.bad(where, "no health check command")
            return
        if cmd[0] in ("CMD-SHELL",):
            cmd = shlex.split(" ".join(cmd[1:]))
        elif cmd[0] == "CMD":
            cmd = cmd[1:]
        if not cmd:
            self.bad(where, "an empty health check")
            return
        if os.path.basename(cmd[0]) not in tools:
            self.bad(where, "health check runs %s, which the image does not have" % cmd[0])
        urls = [a for a in cmd if re.match(r"https?://", a)]
        if len(urls) != 1:
            self.bad(where, "health check names no single URL: %s" % " ".join(cmd))
            return
        m = re.match(r"(https?)://([^/:]+)(?::(\d+))?(/[^?#]*)?", urls[0])
        scheme, port, path = m.group(1), m.group(3), m.group(4) or "/"
        if path != "/readyz":
            self.bad(where, "health check asks %s, not /readyz" % path)
        if scheme != "http":
            self.bad(where, "health check uses %s; the admin listener speaks plain HTTP" % scheme)
        if admin_port is None:
            self.bad(where, "health check, but fairpayd gets no --admin-listen")
        elif port is None or int(port) != admin_port:
            self.bad(where, "health check asks port %s, the admin listener (--admin-listen) "
                     "is on %s" % (port, admin_port))
        for a in cmd:
            for what in secrets_in(a):
                self.bad(where, "%s in the health check" % what)

    # ------------------------------------------------------------ Dockerfile
    def check_dockerfile(self):
        ctx = self.ctx
        stages = []  # dicts: name, workdir, staged (destdir, prefix), instructions
        for line, kw, rest in dockerfile_instructions(self.df_text):
            where = "%s:%d" % (DOCKERFILE, line)
            if kw == "FROM":
                m = re.search(r"\bAS\s+(\S+)", rest, re.I)
                stages.append({"name": m.group(1) if m else str(len(stages)), "workdir": "/",
                               "staged": None, "ins": []})
                continue
            if not stages:
                continue
            stages[-1]["ins"].append((where, kw, rest))
            if kw == "WORKDIR":
                stages[-1]["workdir"] = rest
        if not stages:
            self.bad(DOCKERFILE, "no FROM")
            return
        final = stages[-1]
        self.bin_programs = set()
        self.expose = set()
        self.entrypoint = None
        self.cmd = None
        self.healthcheck = None
        by_name = {s["name"]: s for s in stages}
        for st in stages:
            for where, kw, rest in st["ins"]:
                if kw == "RUN":
                    self.check_run(where, st, rest)
                elif kw in ("COPY", "ADD"):
                    self.check_copy(where, st, by_name, rest, st is final)
                elif kw in ("ENV", "ARG"):
                    for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest) or rest.split()[:1]:
                        if SECRET_NAME.search(name) and not name.endswith("FILE"):
                            self.bad(where, "%s %s holds a secret; give a *_FILE instead" % (kw, name))
                elif st is final and kw == "EXPOSE":
                    self.expose |= {int(p.split("/")[0]) for p in rest.split()}
                elif st is final and kw == "ENTRYPOINT":
                    self.entrypoint = exec_form(rest)
                elif st is final and kw == "CMD":
                    self.cmd = exec_form(rest)
                    self.cmd_where = where
                elif st is final and kw == "HEALTHCHECK":
                    self.healthcheck = (where, rest)
        tools = self.bin_programs | ctx.lists["runtime"]
        self.tools = tools
        if not self.entrypoint or os.path.basename(self.entrypoint[0]) not in PROGRAMS:
            self.bad(DOCKERFILE, "the ENTRYPOINT is not fairpayd or fairpayctl")
            return
        prog = os.path.basename(self.entrypoint[0])
        self.image_prog = prog
        if prog not in self.bin_programs:
            self.bad(DOCKERFILE, "the ENTRYPOINT %s is not copied into the image" % prog)
        given = self.check_args(self.cmd_where, prog, (self.entrypoint[1:] + (self.cmd or [])))
        self.image_admin = port_of(given.get("--admin-listen"))
        self.check_ports(self.cmd_where, given, None)
        if self.healthcheck is None:
            self.bad(DOCKERFILE, "no HEALTHCHECK")
        else:
            where, rest = self.healthcheck
            if rest.strip().upper() != "NONE":
                m = re.search(r"\bCMD\b\s*(.*)$", rest)
                cmd = exec_form(m.group(1)) if m else None
                self.check_health(where, cmd, self.image_admin, tools)

    def check_run(self, where, st, rest):
        ctx = self.ctx
        for what in secrets_in(rest):
            self.bad(where, "%s in a RUN line" % what)
        if re.search(r"\bapt(-get)?\s+(-\S+\s+)*install\b", rest):
            self.bad(where, "installs packages by name; take them from scripts/deps.sh "
                     "(--build, --runtime)")
        for opt in re.findall(r"deps\.sh\s+--(\S+)", rest):
            if opt not in ctx.lists:
                self.bad(where, "scripts/deps.sh has no --%s list" % opt)
        for cmd in re.split(r"&&|\|\||;", rest):
            words = shlex.split(cmd)
            if not words or os.path.basename(words[0]) != "make":
                continue
            assigns = dict(w.split("=", 1) for w in words[1:] if "=" in w and not w.startswith("-"))
            targets = [w for w in words[1:] if "=" not in w and not w.startswith("-")]
            for t in targets:
                if not ctx.make_target(t):
                    self.bad(where, "make %s: no Makefile target %s" % (t, t))
            if "install" in targets:
                st["staged"] = (assigns.get("DESTDIR", ""), assigns.get("PREFIX", "/usr/local"))

    def check_copy(self, where, st, by_name, rest, final):
        ctx = self.ctx
        words = exec_form(rest) or []
        opts = [w for w in words if w.startswith("--")]
        args = [w for w in words if not w.startswith("--")]
        if len(args) < 2:
            self.bad(where, "COPY without a source and a destination")
            return
        srcs, dest = args[:-1], args[-1]
        frm = next((o.split("=", 1)[1] for o in opts if o.startswith("--from=")), None)
        for src in srcs:
            if frm is None:
                local = os.path.join(ROOT, src.lstrip("/"))
                if src in (".", "./"):
                    continue
                if not glob.glob(local):
                    self.bad(where, "%s does not exist in the repository" % src)
                elif ignored(ctx.dockerignore, src):
                    self.bad(where, "%s is left out of the build context by .dockerignore" % src)
            else:
                local = self.produced(where, by_name.get(frm), src)
            into_dir = dest.endswith("/")
            bindir = dest if into_dir else os.path.dirname(dest)
            if final and local is not None and re.match(r"/usr(/local)?/bin/?$", bindir):
                name = os.path.basename(src) if into_dir else os.path.basename(dest)
                self.bin_programs.add(name)
                for path in glob.glob(local):
                    if not os.access(path, os.X_OK):
                        self.bad(where, "%s goes into %s but is not executable" % (src, dest))

    def produced(self, where, st, src):
        """The local file that stands for src of stage st; None (reported) when nothing makes it."""
        if st is None:
            self.bad(where, "COPY --from a stage that does not exist")
            return None
        if st["staged"] is not None:
            destdir, prefix = st["staged"]
            if destdir and src.startswith(destdir.rstrip("/") + "/"):
                tree = self.ctx.install(destdir, prefix)
                path = tree + src
                if not os.path.exists(path):
                    self.bad(where, "%s is not in make install's layout (DESTDIR=%s PREFIX=%s)"
                             % (src, destdir, prefix))
                    return None
                return path
        wd = st["workdir"].rstrip("/") + "/"
        if src.startswith(wd):
            rel = src[len(wd):]
            build_rel = os.path.normpath(rel).split("/")[0]
            if build_rel == "build":
                path = os.path.join(BUILD_ABS, os.path.relpath(rel, "build"))
            else:
                path = os.path.join(ROOT, rel)
            if not os.path.exists(path):
                self.bad(where, "%s is neither in the repository nor made by the Makefile" % src)
                return None
            return path
        self.bad(where, "%s of stage %s is made by nothing the repository knows" % (src, st["name"]))
        return None

    def check_ports(self, where, given, published):
        listen = port_of(given.get("--listen"))
        admin = port_of(given.get("--admin-listen"))
        for flag, port in (("--listen", listen), ("--admin-listen", admin)):
            if port is not None and port not in self.expose:
                self.bad(where, "%s port %d is not EXPOSEd by the Dockerfile" % (flag, port))
        for p in published or []:
            if p not in (listen, admin):
                self.bad(where, "publishes container port %d, where fairpayd does not listen" % p)
        return admin

    # ------------------------------------------------------------ compose
    def check_compose(self):
        ctx = self.ctx
        try:
            doc = yaml.safe_load(self.compose_text)
        except yaml.YAMLError as e:
            self.bad(COMPOSE, "does not parse: %s" % e)
            return
        services = doc.get("services") or {}
        image_names = set()
        for svc in services.values():
            b = svc.get("build")
            if isinstance(b, dict) and b.get("dockerfile") and \
               os.path.normpath(os.path.join("docker", b.get("context", "."), b["dockerfile"])) == DOCKERFILE:
                if svc.get("image"):
                    image_names.add(svc["image"])
        for name, svc in services.items():
            where = "%s: service %s" % (COMPOSE, name)
            ours = svc.get("image") in image_names or "build" in svc
            self.check_env(where, svc.get("environment"))
            for v in svc.get("volumes") or []:
                self.check_host_path(where, v.split(":")[0] if isinstance(v, str) else v.get("source", ""))
            if not ours:
                for key in ("command", "entrypoint"):
                    for what in secrets_in(json.dumps(svc.get(key) or "")):
                        self.bad(where, "%s in its %s" % (what, key))
                continue
            self.check_our_service(where, svc)
        self.check_logins(services)
        for sname, sec in (doc.get("secrets") or {}).items():
            if isinstance(sec, dict) and sec.get("file"):
                self.check_host_path("%s: secret %s" % (COMPOSE, sname), sec["file"], secret=True)

    def check_logins(self, services):
        """fairpayd logs in as neither the superuser nor the owner who migrates."""
        def user_of(conninfo):
            m = re.search(r"\buser=(\S+)", conninfo or "") or \
                re.search(r"^postgres(?:ql)?://([^@:/]+)[@:]", conninfo or "")
            return m.group(1) if m else None

        others = {}
        for name, svc in services.items():
            env = svc.get("environment") or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
            if str(svc.get("image", "")).startswith("postgres"):
                others[env.get("POSTGRES_USER", "postgres")] = "the superuser"
            if user_of(env.get("FAIRPAY_DB")):
                others.setdefault(user_of(env.get("FAIRPAY_DB")), "the role service %s uses" % name)
        for name, svc in services.items():
            cmd = svc.get("command") or []
            if isinstance(cmd, str):
                cmd = shlex.split(cmd)
            for i, a in enumerate(cmd[:-1]):
                if a == "--db" and user_of(cmd[i + 1]) in others:
                    u = user_of(cmd[i + 1])
                    self.bad("%s: service %s" % (COMPOSE, name),
                             "fairpayd logs in as %s, %s; give it its own login role" % (u, others[u]))

    def check_our_service(self, where, svc):
        ep = svc.get("entrypoint")
        if isinstance(ep, str):
            ep = shlex.split(ep)
        overridden = ep is not None
        if not overridden:
            ep = self.entrypoint or []
        cmd = svc.get("command")
        if isinstance(cmd, str):
            cmd = shlex.split(cmd)
        if cmd is None:
            cmd = [] if overridden else (self.cmd or [])
        for a in ep:
            for what in secrets_in(a):
                self.bad(where, "%s in its entrypoint" % what)
        idx = next((i for i, a in enumerate(ep) if os.path.basename(a) in PROGRAMS), None)
        if idx is None:
            self.bad(where, "its entrypoint runs neither fairpayd nor fairpayctl")
            return
        if ep and os.path.basename(ep[0]) not in self.tools:
            self.bad(where, "its entrypoint %s is not in the image" % ep[0])
        prog = os.path.basename(ep[idx])
        given = self.check_args(where, prog, ep[idx + 1:] + cmd)
        hc = svc.get("healthcheck")
        disabled = isinstance(hc, dict) and hc.get("disable")
        if prog != "fairpayd":
            return
        published = []
        for p in svc.get("ports") or []:
            spec = str(p.get("target")) if isinstance(p, dict) else str(p)
            published.append(int(spec.split("/")[0].rsplit(":", 1)[-1]))
        listen = port_of(given.get("--listen"))
        if listen is not None and published and listen not in published:
            self.bad(where, "fairpayd listens on %d, which it does not publish" % listen)
        admin = self.check_ports(where, given, published)
        if disabled:
            self.bad(where, "runs fairpayd without a health check")
        elif isinstance(hc, dict) and hc.get("test"):
            test = hc["test"]
            if isinstance(test, str):
                test = ["CMD-SHELL", test]
            self.check_health(where, test, admin, self.tools)
        elif self.healthcheck is not None and admin != self.image_admin:
            self.bad(where, "the image's health check asks port %s, fairpayd's admin listener is "
                     "on %s here" % (self.image_admin, admin))

    def check_env(self, where, env):
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        for k, v in (env or {}).items():
            if SECRET_NAME.search(k) and not k.endswith("FILE"):
                self.bad(where, "environment %s holds a secret; give a *_FILE or a password "
                         "file instead" % k)
            for what in secrets_in(str(v)):
                self.bad(where, "%s in environment %s" % (what, k))

    def check_host_path(self, where, src, secret=False):
        if not src or not (src.startswith(".") or src.startswith("/")):
            return  # a named volume
        rel = os.path.relpath(os.path.normpath(os.path.join(ROOT, "docker", src)), ROOT)
        if rel.startswith(".."):
            self.bad(where, "%s is outside the repository" % src)
            return
        if os.path.exists(os.path.join(ROOT, rel)) and not ignored(self.ctx.gitignore, rel):
            return
        # Made by the operator: kept out of git and of the build context, and
        # made by the documented setup.
        if not ignored(self.ctx.gitignore, rel):
            self.bad(where, "%s does not exist in the repository" % src)
            return
        if not ignored(self.ctx.dockerignore, rel):
            self.bad(where, "%s is not left out of the build context (.dockerignore)" % rel)
        base = os.path.basename(rel)
        if rel.startswith("docker/certs/"):
            if base not in self.ctx.gencerts:
                self.bad(where, "%s: scripts/gencerts.sh makes no %s" % (src, base))
        elif rel.startswith("docker/secrets/") and secret:
            for doc, text in (("README.md", self.ctx.readme), (COMPOSE, self.compose_text)):
                made = set()
                for names in re.findall(r"for n in ([^;]*); do [^\n]*docker/secrets/\$n", text):
                    made |= set(names.split())
                made |= set(re.findall(r">\s*docker/secrets/([A-Za-z0-9_.-]+)", text))
                if base not in made:
                    self.bad(where, "%s: the setup in %s makes no docker/secrets/%s" % (src, doc, base))
        else:
            self.bad(where, "%s is made by nothing the repository documents" % src)

    # ------------------------------------------------------------ packages
    def check_packages(self):
        ctx = self.ctx
        modules = re.search(r"^PKGS\s*:?=\s*(.*)$", ctx.makefile, re.M)
        for mod in (modules.group(1).split() if modules else []):
            r = run(["pkg-config", "--variable=pcfiledir", mod])
            pc = os.path.join(r.stdout.strip(), mod + ".pc")
            pkgs = ctx.package_of(pc)
            if pkgs and not pkgs & ctx.lists["build"]:
                self.bad("scripts/deps.sh", "the build list lacks %s (pkg-config %s, Makefile PKGS)"
                         % (" or ".join(sorted(pkgs)), mod))
        for tool in BUILD_TOOLS:
            path = shutil.which(tool)
            pkgs = ctx.package_of(os.path.realpath(path)) if path else set()
            # pkg-config is the package of that name in the list, though
            # Debian 12's pkgconf-bin holds the program.
            if pkgs and not pkgs & ctx.lists["build"] and tool not in ctx.lists["build"]:
                self.bad("scripts/deps.sh", "the build list lacks %s (%s)" % (" or ".join(sorted(pkgs)), tool))
        for prog in PROGRAMS:
            r = run(["readelf", "-d", os.path.join(BUILD_ABS, prog)])
            for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout):
                pkgs = ctx.package_of("*/" + lib)
                if pkgs and not pkgs & (ctx.lists["runtime"] | BASE_PACKAGES):
                    self.bad("scripts/deps.sh", "the runtime list lacks %s (%s needs %s)"
                             % (" or ".join(sorted(pkgs)), prog, lib))

    def check(self):
        self.check_dockerfile()
        if self.entrypoint is not None and getattr(self, "image_prog", None):
            self.check_compose()
        self.check_packages()
        return self.problems


# Each: the file, the text replaced, its replacement, what the report must say.
MUTATIONS = [
    (COMPOSE, "      - --cert\n", "      - --certificate\n", "unknown flag --certificate"),
    (COMPOSE, '"7443:7443"', '"7443:7444"', "container port 7444"),
    (DOCKERFILE, '/readyz"]', '/healthz"]', "asks /healthz, not /readyz"),
    (DOCKERFILE, "127.0.0.1:9090/readyz", "127.0.0.1:9091/readyz", "asks port 9091"),
    (COMPOSE, "user=fairpayd\n", "user=fairpayd password=hunter2\n", "password= in a connection string"),
    (COMPOSE, "user=fairpayd\n", "user=postgres\n", "logs in as postgres, the superuser"),
    (COMPOSE, "user=fairpayd\n", "user=fairpay_owner\n", "logs in as fairpay_owner, the role service migrate"),
    (COMPOSE, "      PGPASSFILE: /run/fairpay/pgpass\n    secrets: [fairpayd_password, attestation_key]",
     "      PGPASSFILE: /run/fairpay/pgpass\n      PGPASSWORD: hunter2\n    secrets: [fairpayd_password, attestation_key]",
     "environment PGPASSWORD holds a secret"),
    (DOCKERFILE, "COPY docker/with-pgpass.sh", "COPY docker/with-pgpass-old.sh",
     "docker/with-pgpass-old.sh does not exist"),
    (DOCKERFILE, "/stage/usr/local/bin/fairpayctl", "/stage/usr/local/sbin/fairpayctl",
     "not in make install's layout"),
    (DOCKERFILE, "RUN /tmp/deps.sh --runtime", "RUN apt-get install -y curl && /tmp/deps.sh --runtime",
     "installs packages by name"),
    (DOCKERFILE, "EXPOSE 7443 9090", "EXPOSE 7443", "port 9090 is not EXPOSEd"),
    (DOCKERFILE, "make all check-hardening", "make all check-hardening-all", "no Makefile target"),
    (COMPOSE, "file: ./secrets/fairpayd\n", "file: ./secrets/fairpayd-new\n", "makes no docker/secrets/fairpayd-new"),
    (COMPOSE, "./certs/server.key:/certs", "./certs/server-old.key:/certs", "gencerts.sh makes no server-old.key"),
    ("runtime list", "libpq5", None, "the runtime list lacks libpq5"),
]


def self_test(ctx):
    df, co = read(DOCKERFILE), read(COMPOSE)
    caught = 0
    failed = []
    for path, old, new, want in MUTATIONS:
        d, c = df, co
        saved = set(ctx.lists["runtime"])
        if path == "runtime list":
            ctx.lists["runtime"].discard(old)
        else:
            text = d if path == DOCKERFILE else c
            if text.count(old) != 1:
                failed.append("%s no longer holds %r once: update the self-test" % (path, old))
                continue
            text = text.replace(old, new)
            d, c = (text, c) if path == DOCKERFILE else (d, text)
        problems = Checker(ctx, d, c).check()
        ctx.lists["runtime"] = saved
        what = "%s: %r -> %r" % (path, old, new)
        if any(want in p for p in problems):
            caught += 1
            print("check-docker: self-test: caught %s" % what)
        else:
            failed.append("NOT caught: %s (wanted %r; reported: %s)" % (what, want, problems))
    for f in failed:
        print("check-docker: self-test: " + f)
    print("check-docker: self-test: %d of %d deliberate mistakes caught" % (caught, len(MUTATIONS)))
    return 0 if not failed else 1


def main():
    ctx = Context()
    try:
        if SELF_TEST:
            return self_test(ctx)
        problems = Checker(ctx, read(DOCKERFILE), read(COMPOSE)).check()
        for p in problems:
            print("check-docker: " + p)
        if problems:
            print("check-docker: %d problems" % len(problems))
            return 1
        print("check-docker: %s and %s agree with the Makefile, the programs and the repository"
              % (DOCKERFILE, COMPOSE))
        return 0
    finally:
        ctx.cleanup()


sys.exit(main())
PY
