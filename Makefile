# Network Dissection in C.  `make` builds build/dissect; `make test` runs the
# test suite; `make demo` runs the main experiment end to end.
#
# Everything is built from the folder layout: every .c under core/, linalg/,
# models/, datasets/, train/, report/ and experiments/ go into build/libnd.a (experiments/main.c is the
# binary's entry point), every tests/test_*.c is a test program, every
# bench/bench_*.c a benchmark.

CC      ?= cc
OPT     ?= -O2 -g
# -ffp-contract=off: bit-for-bit conformance with the references needs plain
# multiply-then-add; never -ffast-math (it removes NaN checks).
CFLAGS  ?= $(OPT)
ND_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -ffp-contract=off -pthread -MMD -MP -I.
BUILD   ?= build
SHARED  ?= $(abspath ../shared)
DATA    ?= $(SHARED)
export ND_SHARED := $(SHARED)

# Debian packages the project needs; `make deps` installs the missing ones.
# BUILD_PKGS are needed to build; TEST_PKGS only by the tests (chromium: the
# report's browser test, tests/cli_report.sh), so plain `make` does not ask for them.
BUILD_PKGS = pkgconf libopenblas-dev liblapacke-dev libgsl-dev libinih-dev libpng-dev zlib1g-dev \
             libdeflate-dev libjpeg-dev gnuplot-nox
TEST_PKGS  = chromium
DEB_PKGS   = $(BUILD_PKGS) $(TEST_PKGS)
PC_MODS  = gsl openblas lapacke libpng zlib libdeflate inih libjpeg
# Only `make mpi` (build/dissect-mpi) and its tests need MPI; `make deps` installs these too.
MPI_PKGS = libopenmpi-dev openmpi-bin
MPICC   ?= mpicc

# Plain `make` never changes the system: it names what is missing and stops.
# Only `make deps` and the two targets the README gives a fresh machine
# (`make demo`, `make test`) install missing packages first.
NODEPS_GOALS  = deps clean help
INSTALL_GOALS = demo test
NEEDED_PKGS = $(if $(filter $(INSTALL_GOALS),$(MAKECMDGOALS)),$(DEB_PKGS),$(BUILD_PKGS)) \
              $(if $(filter test mpi,$(MAKECMDGOALS)),$(MPI_PKGS))
ifeq ($(filter $(NODEPS_GOALS),$(MAKECMDGOALS)),)
  DEPS_MISSING := $(shell for p in $(NEEDED_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)
  ifneq ($(strip $(DEPS_MISSING)),)
    ifeq ($(filter $(INSTALL_GOALS),$(MAKECMDGOALS)),)
      $(error Missing Debian packages: $(strip $(DEPS_MISSING)). Install them with 'make deps' (as root) or: apt-get install -y $(strip $(DEPS_MISSING)))
    endif
    $(info Missing Debian packages: $(DEPS_MISSING); running 'make deps' to install them.)
    DEPS_RC := $(shell $(MAKE) --no-print-directory deps >&2; echo $$?)
    ifneq ($(DEPS_RC),0)
      $(error Could not install packages. As root run: apt-get install -y $(DEB_PKGS))
    endif
  endif
endif

# GSL's pkg-config adds -lgslcblas, which would silently take over our cblas
# calls from OpenBLAS; drop it so both ours and GSL's reach OpenBLAS.
PC_CFLAGS := $(shell pkg-config --cflags $(PC_MODS) 2>/dev/null)
PC_LIBS   := $(filter-out -lgslcblas,$(shell pkg-config --libs $(PC_MODS) 2>/dev/null))
LDLIBS    = $(PC_LIBS) -lm -lpthread

LIB_SRC  := $(sort $(wildcard core/*.c linalg/*.c models/*.c datasets/*.c train/*.c report/*.c) $(filter-out experiments/main.c experiments/mpi_main.c,$(wildcard experiments/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test asan bench bench-full demo experiment-training deps clean help tests mpi
all: $(BUILD)/dissect

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ND_CFLAGS) $(PC_CFLAGS) $(CFLAGS) -c $< -o $@

# The probes' float softplus loop is written for the vectoriser; -O2's
# "very cheap" cost model leaves it scalar (4x slower).
$(BUILD)/core/softplusf.o: ND_CFLAGS += -ftree-vectorize -fvect-cost-model=dynamic
# Likewise the label PNGs' row filters and RGB -> label loops.
$(BUILD)/core/pngfast.o $(BUILD)/core/labelpng.o: ND_CFLAGS += -ftree-vectorize -fvect-cost-model=dynamic

$(BUILD)/libnd.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/dissect: $(BUILD)/experiments/main.o $(BUILD)/libnd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/testutil.o $(BUILD)/libnd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libnd.a
	$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

# The MPI driver (the one file that includes mpi.h), built with mpicc.
mpi: $(BUILD)/dissect-mpi
$(BUILD)/dissect-mpi: experiments/mpi_main.c $(BUILD)/libnd.a
	$(MPICC) $(ND_CFLAGS) $(PC_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libnd.a $(LDLIBS)

# tests/cli_mpi.sh skips (with a message) when there is no MPI
tests: $(BUILD)/dissect $(TEST_BIN) $(if $(shell command -v $(MPICC)),$(BUILD)/dissect-mpi)

# The suite: every test program and every tests/cli_*.sh script; prints
# "N passed, N failed" over all of them.
test: tests
	@BUILD=$(BUILD) ND_SHARED=$(SHARED) bash tests/run.sh

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" test

bench: $(BUILD)/dissect $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; ND_SHARED=$(SHARED) $$b || exit 1; done

# Full Broden scale (63,305 images, 11 GB of activations generated once under
# results/bench-cache/; needs ~25 GB of disk and ~20 minutes the first time).
bench-full: $(BUILD)/dissect $(BENCH_BIN)
	$(BUILD)/bench/bench_broden --images 63305 --scales 4000,16000,63305 --sweep

demo: $(BUILD)/dissect
	@DATA=$(DATA) BUILD=$(BUILD) bash experiments/demo.sh

# The training-conditions experiment on the synthetic world (README; about
# 60 minutes on 2 cores, resumable: run it again after a stop).
experiment-training: $(BUILD)/dissect
	ND_SHARED=$(SHARED) DATA=$(DATA) nice -n 10 $(BUILD)/dissect training experiments/configs/training.ini

deps:
	@missing=$$(for p in $(DEB_PKGS) $(MPI_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "All packages present."; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "Please install (as root): apt-get install -y $$missing" >&2; exit 1; fi; \
	echo "Installing: $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	  && echo "Installed: $$missing"

clean:
	rm -rf build build-asan build-fuzz

help:
	@echo "make            build build/dissect (names missing packages; installs nothing)"
	@echo "make demo       the rotation experiment end to end, with its figures (installs missing packages)"
	@echo "make experiment-training  the training-conditions experiment on the synthetic world (~1 hour)"
	@echo "make test       the test suite, 'N passed, N failed' (installs missing packages)"
	@echo "make deps       install the missing Debian packages (as root), MPI's included"
	@echo "make mpi        build build/dissect-mpi (mpirun -np R dissect-mpi units|sweep ...; docs/cluster.md)"
	@echo "make asan       the test suite under AddressSanitizer + UndefinedBehaviorSanitizer"
	@echo "make bench      benchmarks at 6,000 images; make bench-full: Broden scale (63,305)"
	@echo "make fuzz       libFuzzer targets for FUZZ_SECONDS each; make valgrind: a small run under valgrind"
	@echo "make clean      remove build outputs"
	@echo "variables: SHARED=../shared (fixtures and data), DATA=\$$SHARED (the demo's data), BUILD=build"

# ---- reliability: fuzzing (tests/fuzz/) and valgrind --------------------------
# `make fuzz` builds the library and one libFuzzer binary per tests/fuzz/fuzz_*.c
# with clang (fuzzer + AddressSanitizer + UndefinedBehaviorSanitizer) into
# build-fuzz/ and runs each for FUZZ_SECONDS; crash inputs land in
# build-fuzz/crashes/<target>/ (add them to tests/regress/<target>/).
# `make valgrind` runs a small dissection and a small sweep under valgrind.
FUZZ_SECONDS ?= 60
FUZZ_CC   ?= clang
FUZZ_OPT   = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_PKGS  = clang libclang-rt-dev
VALGRIND_PKGS = valgrind
.PHONY: fuzz fuzz-build fuzz-seeds valgrind deps-fuzz deps-valgrind

deps-fuzz:
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(FUZZ_PKGS)" MPI_PKGS=
deps-valgrind:
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(VALGRIND_PKGS)" MPI_PKGS=

fuzz: deps-fuzz
	$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) OPT="$(FUZZ_OPT)" fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh build-fuzz

fuzz-build: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libnd.a
	@mkdir -p $(dir $@)
	$(CC) $(ND_CFLAGS) $(PC_CFLAGS) $(CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(BUILD)/libnd.a $(LDLIBS)

# Regenerate the seed corpus (committed) from tests/fuzz/gen_seeds.c.
fuzz-seeds: $(BUILD)/libnd.a
	@mkdir -p $(BUILD)/fuzz
	$(CC) $(ND_CFLAGS) $(PC_CFLAGS) $(CFLAGS) -o $(BUILD)/fuzz/gen_seeds tests/fuzz/gen_seeds.c $(BUILD)/libnd.a $(LDLIBS)
	$(BUILD)/fuzz/gen_seeds

valgrind: deps-valgrind $(BUILD)/dissect
	@BUILD=$(BUILD) ND_SHARED=$(SHARED) ND_BIN=$(abspath $(BUILD)/dissect) bash tests/valgrind.sh

-include $(LIB_OBJ:.o=.d) $(BUILD)/experiments/main.d $(BUILD)/dissect-mpi.d $(TEST_BIN:%=%.d) $(BENCH_BIN:%=%.d)
-include $(wildcard $(BUILD)/fuzz/*.d)
.SECONDARY:
