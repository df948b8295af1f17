# rebal - plain make, no autotools.
#   make            build every tool in bin/
#   make check      install missing dependencies, build, run the test suite
#   make check SANITIZE=1   the same with ASan and UBSan
#   make fuzz       libFuzzer harnesses of test/fuzz, FUZZ_SECONDS each
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
SHAREDIR ?= $(PREFIX)/share/rebal
INSTALL ?= install
PKG_CONFIG ?= pkg-config

CC      ?= cc
CFLAGS  ?= -g -O2
override CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra $(CFLAGS)
ifeq ($(WERROR),1)
override CFLAGS += -Werror
endif
ifeq ($(SANITIZE),1)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
override CFLAGS += $(SAN)
override LDFLAGS += $(SAN)
SAN_RUN := sh test/san-run.sh
endif

PKGS    := libcurl yaml-0.1 libwebsockets
override CPPFLAGS += -Ilib $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
# Every tool links the same list; --as-needed keeps only what a tool uses,
# and the static lib/librebal.a contributes only the modules it calls.
LDLIBS  := -Wl,--as-needed lib/librebal.a \
	$(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -ljq -lonig -lm

LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:.c=.o)
TOOL_SRC := $(wildcard bin/*.c)
TOOLS   := $(TOOL_SRC:.c=)
SCRIPTS := $(filter-out $(TOOLS) $(TOOL_SRC) %.o %.d,$(wildcard bin/*))
UNIT_SRC := $(wildcard test/unit/*.c)
UNITS   := $(UNIT_SRC:.c=)
SHIMS   := test/faultfs.so
MAN1    := $(wildcard man/*.1)
MAN57   := $(wildcard man/*.5 man/*.7)

# Rebuild everything when the flags change (SANITIZE=1 and back).
FLAGSTAMP := .build-flags
FLAGS_NOW := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
ifneq ($(shell cat $(FLAGSTAMP) 2>/dev/null),$(FLAGS_NOW))
$(shell printf '%s\n' '$(FLAGS_NOW)' > $(FLAGSTAMP))
endif

all: $(TOOLS) $(UNITS) $(SHIMS)

$(FLAGSTAMP): ;

lib/%.o: lib/%.c $(FLAGSTAMP)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

bin/%.o: bin/%.c $(FLAGSTAMP)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

test/unit/%.o: test/unit/%.c $(FLAGSTAMP)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

lib/librebal.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

$(TOOLS): %: %.o lib/librebal.a
	$(CC) $(LDFLAGS) -o $@ $< $(LDLIBS)

$(UNITS): %: %.o lib/librebal.a
	$(CC) $(LDFLAGS) -o $@ $< $(LDLIBS)

# LD_PRELOAD shims of the tests, without the sanitizers (they are preloaded
# into sanitized tools).
$(SHIMS): %.so: %.c $(FLAGSTAMP)
	$(CC) $(filter-out $(SAN),$(CFLAGS)) -fPIC -shared -o $@ $< -ldl

-include $(LIB_SRC:.c=.d) $(TOOL_SRC:.c=.d) $(UNIT_SRC:.c=.d)

# Debian packages the build, the tests and the simulators need.
DEB_PKGS := build-essential pkg-config libcurl4-openssl-dev libjq-dev libonig-dev \
	libyaml-dev libwebsockets-dev bats bats-assert bats-support mandoc jq \
	tzdata ca-certificates curl openssl clang-14 libclang-rt-14-dev valgrind
deps:
	@sh share/deps.sh $(DEB_PKGS)

conformance-deps:
	@sh share/deps.sh --npm test/conformance

check: deps conformance-deps
	$(MAKE) all
	$(MAKE) lint
	PATH="$(CURDIR)/bin:$$PATH" REBAL_TOP="$(CURDIR)" $(SAN_RUN) bats $(BATSFLAGS) test

lint:
	$(if $(strip $(MAN1) $(MAN57)),mandoc -Tlint -Wwarning $(MAN1) $(MAN57))

demo: deps
	$(MAKE) all
	PATH="$(CURDIR)/bin:$$PATH" sh share/demo.sh

bench: deps
	$(MAKE) all
	PATH="$(CURDIR)/bin:$$PATH" sh test/bench/run.sh

# Fuzzing (test/fuzz/*.c, libFuzzer): lib/*.c compiled again with clang into
# test/fuzz/out/, apart from the normal build; each harness runs FUZZ_SECONDS.
FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC := $(wildcard test/fuzz/*.c)
FUZZ_BIN := $(FUZZ_SRC:test/fuzz/%.c=test/fuzz/out/%)
FUZZ_LIB := $(LIB_SRC:lib/%.c=test/fuzz/out/lib/%.o)

test/fuzz/out/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP \
		-c -o $@ $<

test/fuzz/out/%: test/fuzz/%.c $(FUZZ_LIB)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP \
		-o $@ $< $(FUZZ_LIB) $(filter-out lib/librebal.a,$(LDLIBS))

.SECONDARY: $(FUZZ_LIB)
-include $(FUZZ_LIB:.o=.d) $(FUZZ_BIN:=.d)

fuzz: deps
	$(MAKE) $(FUZZ_BIN)
	sh test/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(SHAREDIR)
	$(INSTALL) -m 0755 $(TOOLS) $(SCRIPTS) $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	for f in $(MAN57); do \
		$(INSTALL) -m 0644 $$f $(DESTDIR)$(MANDIR)/man$${f##*.}; done
	$(INSTALL) -m 0644 examples/* $(DESTDIR)$(SHAREDIR)

clean:
	rm -f lib/*.o lib/*.d lib/librebal.a bin/*.o bin/*.d $(TOOLS) \
		test/unit/*.o test/unit/*.d $(UNITS) $(SHIMS) $(FLAGSTAMP)
	rm -rf test/fuzz/out

.PHONY: all check lint deps conformance-deps demo bench fuzz install clean
