# fairpay: builds fairpayd, fairpayctl and libfairpay; runs the demo, the tests,
# the sanitizer build and the benchmark. `make help` lists the targets.

BUILD    ?= build
CC       ?= cc
SAN      ?=
PKGS     := libevent libevent_openssl libpq libprotobuf-c openssl jansson libcurl
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.1.0)

PG_INCLUDE := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
OPT      ?= -O2 -g
ifeq ($(SAN),1)
OPT      := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN    := -fsanitize=address,undefined
endif
# libFuzzer builds (clang): every object instrumented, the fuzzer's main at link.
ifeq ($(SAN),fuzz)
OPT      := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN    := -fsanitize=address,undefined
endif
# Hardening, in every build: stack protector, position-independent
# executables, full RELRO with immediate binding; _FORTIFY_SOURCE (it needs
# an optimizing build) only without sanitizers, whose interceptors it would
# bypass. scripts/check-hardening.sh (make check-hardening, part of make
# lint) checks the result.
HARDEN   := -fstack-protector-strong -fPIE
ifeq ($(SAN),)
HARDEN   += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
endif
LDHARDEN := -Wl,-z,relro,-z,now
# The server in layers that call downwards only (README, Layout); each
# directory's .may_include says which headers its files may include.
SERVER_DIRS := server server/net server/session server/handlers server/store server/jobs \
	       server/base \
	       server/rules server/common
CPPFLAGS := -D_GNU_SOURCE -DFP_VERSION=\"$(VERSION)\" -I$(BUILD)/gen $(SERVER_DIRS:%=-I%) -Iclient/include -I$(PG_INCLUDE)
CFLAGS   := -std=c11 $(WARN) $(OPT) $(HARDEN) -MMD -MP
LDFLAGS  := $(LDSAN) $(LDHARDEN)
# Executables only (not libfairpay.so).
LDEXE    := -pie
LIBS_PB  := -lprotobuf-c
LIBS_SSL := -lssl -lcrypto
LIBS_EV  := -levent_openssl -levent
LIBS_PQ  := -lpq -ljansson
# fairpayd's allocator. Every call allocates and frees dozens of small
# blocks (protobuf, JSON, libpq's results) and a few of 1 to 2 KiB; under
# load glibc's allocator took about a quarter of the server's CPU for them
# (it consolidates its free small blocks before each larger allocation) and
# shrank and regrew the heap hundreds of times a second, each shrink a TLB
# flush on every processor. jemalloc takes under a tenth and gives memory
# back on a timer. Sanitizer builds keep their own allocator.
ifeq ($(SAN),)
LIBS_MALLOC ?= -ljemalloc
endif
# Webhook delivery (server/jobs/deliver.c): libcurl's multi interface.
LIBS_CURL := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
# systemd readiness notifications (server/base/notify.c): libsystemd's sd_notify.
LIBS_SD  := $(shell pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd)
# libfairpay: its ABI version (the soname) and what it links, by pkg-config
# name, as its fairpay.pc says: protobuf-c is part of its interface (the
# public header's types; callers use its functions on them), OpenSSL is not.
SOVERSION   := 1
LIB_SONAME  := libfairpay.so.$(SOVERSION)
LIB_REAL    := libfairpay.so.$(VERSION)
LIB_REQUIRES := libprotobuf-c
LIB_REQUIRES_PRIVATE := openssl
LIBS_LIB    := $(shell pkg-config --libs $(LIB_REQUIRES) $(LIB_REQUIRES_PRIVATE) 2>/dev/null || \
		 echo $(LIBS_PB) $(LIBS_SSL))

GEN_C    := $(BUILD)/gen/fairpay.pb-c.c
GEN_H    := $(BUILD)/gen/fairpay.pb-c.h
MIG_C    := $(BUILD)/gen/migrations_embedded.c
# The Python client's module (client/python/; ignored by git: the .proto is
# the one source), generated into the package so that it imports from there.
PY_GEN   := client/python/fairpay/fairpay_pb2.py

# Modules shared by the server and the CLI (pure code: keys, text checks, the
# FairPay rules, money for people).
SHARED_SRC := server/common/key.c server/common/attest.c server/common/text.c server/common/names.c server/common/money.c \
	      server/rules/fp_rules.c
SERVER_SRC := $(filter-out $(SHARED_SRC),$(foreach d,$(SERVER_DIRS),$(wildcard $(d)/*.c)))
LIB_SRC    := $(wildcard client/lib/*.c)
CTL_SRC    := $(wildcard client/ctl/*.c)

SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/obj/%.o) $(SHARED_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/fairpay.pb-c.o
SERVER_LIB_OBJ := $(filter-out $(BUILD)/obj/server/main.o,$(SERVER_OBJ))
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/pic/%.o) $(BUILD)/pic/gen/fairpay.pb-c.o
CTL_OBJ    := $(CTL_SRC:%.c=$(BUILD)/obj/%.o) $(SHARED_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/migrations_embedded.o

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
ITEST_SRC  := $(wildcard tests/integration/test_*.c)
ITEST_BIN  := $(ITEST_SRC:tests/integration/%.c=$(BUILD)/tests/i%)
HARNESS_OBJ := $(BUILD)/obj/tests/integration/harness.o $(BUILD)/obj/tests/integration/keyed_load.o \
	$(BUILD)/obj/tests/integration/hook_receiver.o
BENCH_BIN  := $(BUILD)/fairpay-bench
# Fuzz targets link the server's modules except the database pool, which a
# stub replaces (tests/fuzz/db_stub.c): validation runs, nothing is sent.
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_LIB_OBJ := $(filter-out $(BUILD)/obj/server/store/db.o,$(SERVER_LIB_OBJ)) $(BUILD)/obj/tests/fuzz/db_stub.o

BINS := $(BUILD)/fairpayd $(BUILD)/fairpayctl $(BUILD)/libfairpay.a $(BUILD)/libfairpay.so

# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:

.PHONY: all deps demo test asan valgrind fuzz fuzzers bench tests clean format lint help install python
all: $(BINS)

help:
	@echo "make            build fairpayd, fairpayctl, libfairpay (.a and .so) into $(BUILD)/"
	@echo "make deps       install the Debian packages the build and tests need"
	@echo "make python     generate the Python client's fairpay_pb2.py (client/python/; make tests does too)"
	@echo "make demo       throwaway PostgreSQL + certificates + admin key + fairpayd on 127.0.0.1:7443"
	@echo "make ha-demo    fairpayd on a pg_auto_failover monitor + primary + secondary; the primary killed"
	@echo "make test       every unit and integration test; ends with 'N passed, N failed'"
	@echo "make asan       the same tests under AddressSanitizer and UBSan"
	@echo "make valgrind   the integration tests with fairpayd under valgrind memcheck"
	@echo "make fuzz       libFuzzer targets, FUZZ_SECONDS each (default 60)"
	@echo "make bench      load generator against a fresh server and database"
	@echo "make format     clang-format the sources;  make lint: includes, cppcheck, clang-tidy, format, hardening, docker"
	@echo "make install    binaries, libfairpay, headers, fairpay.pc, man pages, docs under PREFIX (DESTDIR too); make uninstall"

deps:
	@scripts/deps.sh

# ---------------------------------------------------------------- generated code
# protobuf-c 1.4 cannot generate proto3 `optional`; a single-field oneof is the
# same on the wire, so the C build rewrites it (see proto/fairpay.proto).
$(BUILD)/gen/fairpay.proto: proto/fairpay.proto
	@mkdir -p $(@D)
	sed -E 's/^([[:space:]]*)optional[[:space:]]+([A-Za-z0-9_.]+)[[:space:]]+([a-z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+);/\1oneof opt_\3 { \2 \3 = \4; }/' $< > $@

$(GEN_H): $(GEN_C)
$(GEN_C): $(BUILD)/gen/fairpay.proto
	cd $(BUILD)/gen && protoc-c --c_out=. fairpay.proto

$(PY_GEN): proto/fairpay.proto
	protoc -Iproto --python_out=$(@D) $<
python: $(PY_GEN)

$(MIG_C): scripts/embed-migrations.sh migrations $(wildcard migrations/*.sql)
	@mkdir -p $(@D)
	scripts/embed-migrations.sh migrations > $@

# ---------------------------------------------------------------- objects
# Objects are rebuilt when the compiler or its flags change (a SAN=... or
# hardening change must not leave stale objects behind).
FLAGS_STAMP := $(BUILD)/.flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(CPPFLAGS) $(CFLAGS)' | cmp -s - $@ || echo '$(CC) $(CPPFLAGS) $(CFLAGS)' > $@
.PHONY: FORCE
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c $(GEN_H) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(filter-out -Werror,$(CFLAGS)) -c $< -o $@
$(BUILD)/pic/gen/%.o: $(BUILD)/gen/%.c $(GEN_H) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(filter-out -Werror,$(CFLAGS)) -fPIC -c $< -o $@
$(BUILD)/obj/%.o: %.c $(GEN_H) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/pic/%.o: %.c $(GEN_H) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

# ---------------------------------------------------------------- binaries
$(BUILD)/fairpayd: $(SERVER_OBJ)
	$(CC) $(LDFLAGS) $(LDEXE) $^ -o $@ $(LIBS_EV) $(LIBS_PQ) $(LIBS_CURL) $(LIBS_SD) $(LIBS_PB) $(LIBS_SSL) $(LIBS_MALLOC)

$(BUILD)/libfairpay.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libfairpay.so: $(LIB_OBJ)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(LIB_SONAME) $^ -o $@ $(LIBS_LIB)

$(BUILD)/fairpayctl: $(CTL_OBJ) $(BUILD)/libfairpay.a
	$(CC) $(LDFLAGS) $(LDEXE) $^ -o $@ $(LIBS_PQ) $(LIBS_PB) $(LIBS_SSL)

# ---------------------------------------------------------------- tests
# Unit tests link the server's modules (minus main) and run without any service.
$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(SERVER_LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(LDEXE) $^ -o $@ -lcmocka $(LIBS_EV) $(LIBS_PQ) $(LIBS_CURL) $(LIBS_SD) $(LIBS_PB) $(LIBS_SSL)

# Integration tests drive the real fairpayd through the client library.
$(BUILD)/tests/itest_%: $(BUILD)/obj/tests/integration/test_%.o $(HARNESS_OBJ) $(BUILD)/libfairpay.a $(BUILD)/obj/server/rules/fp_rules.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(LDEXE) $^ -o $@ -lcmocka $(LIBS_PQ) $(LIBS_PB) $(LIBS_SSL) -pthread

# test_lists EXPLAINs the server's own list statements (store.h).
$(BUILD)/tests/itest_lists: $(BUILD)/obj/server/store/store.o $(BUILD)/obj/server/store/facts.o $(BUILD)/obj/server/store/db_result.o \
	$(BUILD)/obj/server/common/names.o
# test_attestations crafts and opens attestations itself (attest.h).
$(BUILD)/tests/itest_attestations: $(BUILD)/obj/server/common/attest.o $(BUILD)/obj/server/common/text.o

# The Python client's tests run from the build directory's link to them
# (scripts/run-tests.sh), so that a selection elsewhere can leave them out.
$(BUILD)/tests/python: | $(PY_GEN)
	@mkdir -p $(@D)
	ln -sfn $(abspath client/python/tests) $@

tests: $(BINS) $(PY_GEN) $(UNIT_BIN) $(ITEST_BIN) $(BUILD)/tests/python

test: deps
	$(MAKE) tests
	FP_BUILD=$(BUILD) scripts/run-tests.sh

asan: deps
	$(MAKE) BUILD=build-asan SAN=1 tests
	FP_BUILD=build-asan scripts/run-tests.sh

# The integration suite with every fairpayd under valgrind memcheck.
valgrind: deps
	$(MAKE) tests
	FP_BUILD=$(BUILD) FP_VALGRIND=1 scripts/run-tests.sh

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(FUZZ_LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(LDEXE) -fsanitize=fuzzer $^ -o $@ $(LIBS_EV) $(LIBS_PQ) $(LIBS_CURL) $(LIBS_SD) $(LIBS_PB) $(LIBS_SSL)

fuzzers: $(FUZZ_BIN)
# Keep the fuzz objects: rebuilding them all for every target costs minutes.
.SECONDARY: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/obj/tests/fuzz/%.o) $(BUILD)/obj/tests/fuzz/db_stub.o

# Each fuzz target for FUZZ_SECONDS (default 60) under ASan and UBSan.
FUZZ_SECONDS ?= 60
fuzz: deps
	$(MAKE) BUILD=build-fuzz SAN=fuzz CC=clang fuzzers
	FP_BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

demo: deps
	$(MAKE) all python
	FP_BUILD=$(BUILD) scripts/demo.sh

# pg_auto_failover on 127.0.0.1:7450-7454, a failover without promote (scripts/ha-demo.sh).
.PHONY: ha-demo
ha-demo: deps
	$(MAKE) all
	FP_BUILD=$(BUILD) scripts/ha-demo.sh

$(BENCH_BIN): $(BUILD)/obj/tests/bench/bench.o $(BUILD)/libfairpay.a
	$(CC) $(LDFLAGS) $(LDEXE) $^ -o $@ $(LIBS_PB) $(LIBS_SSL) -lpthread

bench: deps
	$(MAKE) all $(BENCH_BIN)
	FP_BUILD=$(BUILD) scripts/bench.sh

# ---------------------------------------------------------------- install
# `make install [PREFIX=/usr/local] [DESTDIR=]`: the binaries, libfairpay
# (static, and shared as libfairpay.so.VERSION with the soname link
# libfairpay.so.$(SOVERSION) and the link editor's libfairpay.so), the public
# headers with the generated protocol header they include, fairpay.pc for
# pkg-config, the .proto file, the man pages and the docs. `make uninstall`
# removes the same files (INSTALLED lists them once for both).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/fairpay
PCDIR      ?= $(LIBDIR)/pkgconfig
UNITDIR    ?= $(PREFIX)/lib/systemd/system
PUB_H      := $(wildcard client/include/fairpay/*.h)
DOCS       := README.md $(wildcard docs/*.md)
MAN_PAGES  := $(BUILD)/man/fairpayd.8 $(BUILD)/man/fairpayctl.1
PC_FILE    := $(BUILD)/fairpay.pc
INSTALLED  := $(BINDIR)/fairpayd $(BINDIR)/fairpayctl \
	      $(LIBDIR)/libfairpay.a $(LIBDIR)/$(LIB_REAL) $(LIBDIR)/$(LIB_SONAME) $(LIBDIR)/libfairpay.so \
	      $(PUB_H:client/include/%=$(INCLUDEDIR)/%) $(INCLUDEDIR)/fairpay/$(notdir $(GEN_H)) \
	      $(PCDIR)/fairpay.pc $(DATADIR)/fairpay/fairpay.proto \
	      $(MANDIR)/man8/fairpayd.8 $(MANDIR)/man1/fairpayctl.1 $(DOCS:%=$(DOCDIR)/%) \
	      $(UNITDIR)/fairpayd.service $(DOCDIR)/fairpayd.conf.example

# pkg-config's description of the installed library: the paths from PREFIX
# and the directories above, the version from VERSION, what it links from
# LIB_REQUIRES and LIB_REQUIRES_PRIVATE.
$(PC_FILE): client/fairpay.pc.in VERSION Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR:$(PREFIX)%=$${prefix}%)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR:$(PREFIX)%=$${prefix}%)|' \
	    -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@REQUIRES@|$(LIB_REQUIRES)|' -e 's|@REQUIRES_PRIVATE@|$(LIB_REQUIRES_PRIVATE)|' $< > $@
# The pc file names PREFIX: rewrite it whenever PREFIX or a directory changes.
$(BUILD)/.install-dirs: FORCE
	@mkdir -p $(@D)
	@echo '$(PREFIX) $(LIBDIR) $(INCLUDEDIR)' | cmp -s - $@ || echo '$(PREFIX) $(LIBDIR) $(INCLUDEDIR)' > $@
$(PC_FILE): $(BUILD)/.install-dirs

# The man pages are the programs' own --help and --version, through help2man.
HELP2MAN := help2man --no-info --no-discard-stderr
$(BUILD)/man/fairpayd.8: $(BUILD)/fairpayd
	@mkdir -p $(@D)
	$(HELP2MAN) --section 8 --name "the FairPay pricing negotiation server" --output $@ $<
$(BUILD)/man/fairpayctl.1: $(BUILD)/fairpayctl
	@mkdir -p $(@D)
	$(HELP2MAN) --section 1 --name "administer and call a FairPay server" --output $@ $<
man: $(MAN_PAGES)

install: all man $(PC_FILE)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/fairpay $(DESTDIR)$(PCDIR) \
	  $(DESTDIR)$(DATADIR)/fairpay $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/docs
	install -m 755 $(BUILD)/fairpayd $(BUILD)/fairpayctl $(DESTDIR)$(BINDIR)/
	install -m 644 $(BUILD)/libfairpay.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/libfairpay.so $(DESTDIR)$(LIBDIR)/$(LIB_REAL)
	ln -sf $(LIB_REAL) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libfairpay.so
	install -m 644 $(PUB_H) $(GEN_H) $(DESTDIR)$(INCLUDEDIR)/fairpay/
	install -m 644 $(PC_FILE) $(DESTDIR)$(PCDIR)/
	install -m 644 proto/fairpay.proto $(DESTDIR)$(DATADIR)/fairpay/
	install -m 644 $(BUILD)/man/fairpayd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 $(BUILD)/man/fairpayctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(filter-out docs/%,$(DOCS)) $(DESTDIR)$(DOCDIR)/
	install -m 644 $(filter docs/%,$(DOCS)) $(DESTDIR)$(DOCDIR)/docs/
	@# Installed for real (not staged) by root: the loader learns of the library.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

# The systemd unit and the example config file, generated from the settings
# table (fairpayd --print-config), so that it lists every setting and its
# default. The unit names BINDIR and DOCDIR where it says /usr/local/....
all: $(BUILD)/fairpayd.conf.example
$(BUILD)/fairpayd.conf.example: $(BUILD)/fairpayd
	$(BUILD)/fairpayd --print-config >$@
install: install-systemd
install-systemd: $(BUILD)/fairpayd.conf.example
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	sed -e 's|/usr/local/bin/|$(BINDIR)/|' -e 's|/usr/local/share/doc/fairpay/|$(DOCDIR)/|' \
	    dist/fairpayd.service >$(DESTDIR)$(UNITDIR)/fairpayd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/fairpayd.service
	install -m 644 $(BUILD)/fairpayd.conf.example $(DESTDIR)$(DOCDIR)/
.PHONY: install-systemd

uninstall:
	rm -f $(INSTALLED:%=$(DESTDIR)%)
	@# Our directories too, unless something else put files in them.
	rmdir $(DESTDIR)$(INCLUDEDIR)/fairpay $(DESTDIR)$(DATADIR)/fairpay $(DESTDIR)$(DOCDIR)/docs \
	  $(DESTDIR)$(DOCDIR) 2>/dev/null || true
.PHONY: man uninstall

# ---------------------------------------------------------------- upkeep
# What `make format` rewrites and `make format-check` checks: every C file
# under server/, client/ and tests/, in subdirectories too.
SOURCES = $(sort $(shell find server client tests -name '*.[ch]'))
# What clang-tidy checks: the server's and the client's translation units;
# their own headers come along (HeaderFilterRegex in .clang-tidy).
TIDY_SRC = $(sort $(shell find server client -name '*.c'))
format:
	clang-format -i $(SOURCES)
# Fail, naming the files, when `make format` would change anything.
format-check:
	@out=$$(clang-format --dry-run -Werror $(SOURCES) 2>&1) && \
	  { echo "format-check: $(words $(SOURCES)) files follow .clang-format"; exit 0; }; \
	printf '%s\n' "$$out" | awk -F: ' \
	  /: error: code should be clang-formatted/ { if (!($$1 in n)) f[++k] = $$1; n[$$1]++; next } \
	  { raw = raw $$0 "\n" } \
	  END { if (k == 0) { printf "%s", raw; exit } \
	    for (i = 1; i <= k; i++) printf "%s: %d places differ from .clang-format\n", f[i], n[f[i]]; \
	    printf "format-check: %d of $(words $(SOURCES)) files differ (make format rewrites them;" \
	      " clang-format --dry-run FILE shows where)\n", k }'; \
	exit 1
# Every check a script can make: include direction and cycles, cppcheck,
# clang-tidy, formatting, hardening, the docker files. `make -k lint` runs
# them all even when one fails.
lint: deps
	$(MAKE) check-includes lint-cppcheck lint-tidy format-check check-hardening check-docker check-unit \
	  check-distribution
# The schema and the server's SQL can be distributed by vendor (Citus): keys,
# foreign keys, sequences and joins, read from a freshly migrated database's
# catalog (scripts/distribution.allow names what is global on purpose); the
# self-test first shows that each rule can fail.
check-distribution: $(BUILD)/fairpayctl
	scripts/check-distribution.sh --build $(BUILD) --self-test -- $(CPPFLAGS)
.PHONY: check-distribution
# docker/Dockerfile and docker/compose.yaml against the Makefile, the
# programs' --help and the repository (no Docker engine runs here); the
# self-test first shows that the check catches deliberate mistakes.
check-docker: $(BUILD)/fairpayd $(BUILD)/fairpayctl
	scripts/check-docker.sh --build $(BUILD) --self-test
	scripts/check-docker.sh --build $(BUILD)
# The binaries are built with the hardening flags (PIE, RELRO, BIND_NOW,
# stack protector, fortified calls): readelf says so, checksec-style.
# The systemd unit file loads and parses (systemd-analyze verify).
check-unit: $(BUILD)/fairpayd
	scripts/check-unit.sh dist/fairpayd.service $(BUILD)/fairpayd
.PHONY: check-unit
check-hardening: $(BUILD)/fairpayd $(BUILD)/fairpayctl
	scripts/check-hardening.sh $^
# Who may include what (.may_include in each source directory) and no new
# include cycle between modules (scripts/include-cycles.allow).
check-includes: $(GEN_H)
	scripts/check-includes.sh --gen $(BUILD)/gen $(filter -I%,$(CPPFLAGS)) server client
lint-cppcheck: $(GEN_H)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem -I$(BUILD)/gen $(SERVER_DIRS:%=-I%) -Iclient/include server client
# The compiler's view of each file (CPPFLAGS: _GNU_SOURCE, the generated and
# PostgreSQL headers); clang's count of suppressed system-header warnings is
# left out of the output.
lint-tidy: $(GEN_H)
	@echo "clang-tidy: $(words $(TIDY_SRC)) files (.clang-tidy)"
	@out=$$(clang-tidy --quiet $(TIDY_SRC) -- $(CPPFLAGS) -std=c11 2>&1); rc=$$?; \
	  printf '%s\n' "$$out" | grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$$' || true; \
	  [ $$rc -eq 0 ] && echo "clang-tidy: no findings"; exit $$rc
.PHONY: format-check check-includes lint-cppcheck lint-tidy check-hardening check-docker

clean:
	rm -rf build build-asan build-fuzz $(PY_GEN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
