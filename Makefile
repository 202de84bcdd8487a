# librmtl — build, test, install. `make help` lists the targets.
#
# Out-of-tree objects go to $(O) (default build/), libraries to $(LIBOUT)
# (default lib/). `make asan` reuses these rules with O=build/asan.

.DEFAULT_GOAL := all
SHELL := /bin/bash

# Version numbers come from the header, the single source of truth (zstd).
hdr_num = $(shell sed -n 's/^\#define RMTL_$(1)[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' include/rmtl.h)
VMAJOR := $(call hdr_num,VERSION_MAJOR)
VMINOR := $(call hdr_num,VERSION_MINOR)
VPATCH := $(call hdr_num,VERSION_PATCH)
SOVERSION := $(call hdr_num,SOVERSION)
VERSION := $(VMAJOR).$(VMINOR).$(VPATCH)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

O ?= build
LIBOUT ?= lib
CC ?= cc
CFLAGS ?= -O2 -g
ifeq ($(origin CXX),default)
CXX := c++
endif
CXXFLAGS ?= -O2 -g
SAN ?=
comma := ,
# Quiet output: `make` prints one short line per step ("CC src/x.c"),
# `make V=1` the full commands. Errors and warnings show either way.
V ?= 0
ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = printf '  %-5s %s\n' '$(1)' '$(2)';
endif
WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# -fno-math-errno: nothing reads errno after a math call, and without it
# gcc will not vectorise sqrtf (the Adam update).
RMTL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC -fvisibility=hidden -fno-math-errno \
  $(WARN) -Iinclude -Isrc $(SAN)
DEPFLAGS = -MMD -MP
# OpenMP, for the loops of ours that run between BLIS products
# (src/nn/par.h): they use BLIS's own OpenMP team, so this adds no thread
# (Debian's default BLIS, libblis4-openmp, already loads libgomp). Used when
# $(CC) builds and links OpenMP code; otherwise those loops run serially.
ifeq ($(origin OMP),undefined)
OMP := $(shell printf 'int main(void){return 0;}\n' | $(CC) -fopenmp -x c - -o /dev/null \
  2>/dev/null && echo -fopenmp)
endif
RMTL_CFLAGS += $(OMP)
DEP_LIBS := -lyaml -lblis -lz -lm -lpthread $(OMP)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)

LIB_REAL := $(LIBOUT)/librmtl.so.$(SOVERSION).$(VMINOR).$(VPATCH)
LIB_SONAME := librmtl.so.$(SOVERSION)
LIB_SO := $(LIBOUT)/librmtl.so
LIB_A := $(LIBOUT)/librmtl.a

SRC := $(sort $(shell find src -name '*.c'))
OBJ := $(SRC:src/%.c=$(O)/obj/%.o)

PUB_TESTS := $(sort $(wildcard tests/check_*.c))
PUB_TESTS := $(filter-out tests/check_main.c,$(PUB_TESTS))
INT_TESTS := $(sort $(wildcard tests/internal/check_*.c))
TEST_UTIL := $(sort $(wildcard tests/util/*.c))
# examples/mpi_*.c and bench/dist.c need MPI: built by `make mpi` (below).
EXAMPLES := $(filter-out examples/mpi_%.c,$(sort $(wildcard examples/*.c)))
# The C++ check is built when a C++ compiler is present.
CXX_EXAMPLES := $(if $(shell command -v $(CXX) 2>/dev/null),$(sort $(wildcard examples/*.cpp)))
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_DEPS := tests/fuzz/util.c $(wildcard tests/fuzz/*.h)
BENCHES := $(filter-out bench/dist.c,$(sort $(wildcard bench/*.c)))
BENCH_UTIL := $(sort $(wildcard bench/util/*.c))

suite_names = $(patsubst check_%.c,%,$(notdir $(1)))

.PHONY: FORCE all lib tests examples benches check check-layers check-run check-examples check-examples-run \
        check-python check-python-asan python-dir asan check-valgrind \
        demo bench bench-fusion mpi check-mpi bench-dist install uninstall clean deps help abi-check abi-dump docs man dist \
        fuzz fuzz-seeds

all: lib examples

LIB_FILES := $(LIB_REAL) $(LIBOUT)/$(LIB_SONAME) $(LIB_SO) $(LIB_A)
lib: $(LIB_FILES)

$(O)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(Q)$(call say,CC,$<)$(CC) $(RMTL_CFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(LIB_REAL): $(OBJ) src/rmtl.map
	@mkdir -p $(@D)
	$(Q)$(call say,LD,$@)$(CC) $(SAN) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=src/rmtl.map \
	  -Wl,--no-undefined -o $@ $(OBJ) $(DEP_LIBS) $(LDFLAGS)

$(LIBOUT)/$(LIB_SONAME): $(LIB_REAL)
	$(Q)ln -sf $(notdir $<) $@

$(LIB_SO): $(LIBOUT)/$(LIB_SONAME)
	$(Q)ln -sf $(LIB_SONAME) $@

$(LIB_A): $(OBJ)
	@mkdir -p $(@D)
	$(Q)$(call say,AR,$@)rm -f $@ && ar rcs $@ $(OBJ)

# --- tests ---------------------------------------------------------------
# Two runners (docs/architecture.md, "Tests"): check_rmtl links the shared library and sees
# only the public ABI; check_internal links the objects to reach helpers.
# The suite lists are generated from the file names, so adding
# tests/check_foo.c (defining rmtl_test_foo_suite) is all it takes.
# Regenerated on every run but replaced only when the list changed, so a
# deleted test file drops out and an unchanged list relinks nothing.
write_if_changed = mkdir -p $(@D) && printf 'RMTL_SUITE(%s)\n' $(1) > $@.tmp && \
  { cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@; }
$(O)/tests/pub_suites.inc: FORCE
	@$(call write_if_changed,$(call suite_names,$(PUB_TESTS)))
$(O)/tests/int_suites.inc: FORCE
	@$(call write_if_changed,$(call suite_names,$(INT_TESTS)))
FORCE:

TEST_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -Wno-missing-prototypes -Iinclude -Isrc -Itests $(CHECK_CFLAGS) $(SAN) \
  -DRMTL_SOURCE_DIR='"$(CURDIR)"' -DRMTL_LIB_PATH='"$(CURDIR)/$(LIBOUT)/$(LIB_SONAME)"' \
  -DRMTL_TEST_OPENMP=$(if $(OMP),1,0)

$(O)/tests/check_rmtl: tests/check_main.c $(PUB_TESTS) $(TEST_UTIL) $(O)/tests/pub_suites.inc $(LIB_FILES)
	$(Q)$(call say,LD,$@)$(CC) $(TEST_CFLAGS) $(CFLAGS) -I$(O)/tests -DRMTL_SUITES='"pub_suites.inc"' \
	  -o $@ tests/check_main.c $(PUB_TESTS) $(TEST_UTIL) \
	  -L$(LIBOUT) -Wl,-rpath,'$(CURDIR)/$(LIBOUT)' -lrmtl $(CHECK_LIBS) -lm -lpthread

$(O)/tests/check_internal: tests/check_main.c $(INT_TESTS) $(TEST_UTIL) $(O)/tests/int_suites.inc $(OBJ)
	$(Q)$(call say,LD,$@)$(CC) $(TEST_CFLAGS) $(CFLAGS) -I$(O)/tests -DRMTL_SUITES='"int_suites.inc"' \
	  -o $@ tests/check_main.c $(INT_TESTS) $(TEST_UTIL) $(OBJ) \
	  $(CHECK_LIBS) $(DEP_LIBS)

# The fuzz harnesses linked with a plain main() (tests/fuzz/replay.c):
# `make check` replays their seeds and every input that once crashed.
$(O)/replay/%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_DEPS) $(OBJ)
	@mkdir -p $(@D)
	$(Q)$(call say,LD,$@)$(CC) $(TEST_CFLAGS) $(CFLAGS) -o $@ $< tests/fuzz/replay.c tests/fuzz/util.c $(OBJ) $(DEP_LIBS)

tests: $(O)/tests/check_rmtl $(O)/tests/check_internal $(FUZZ_TARGETS:%=$(O)/replay/%)

# Benchmarks are built (not run) so that a change cannot silently break them.
check: deps
	@$(MAKE) --no-print-directory check-layers
	@sh tests/docs_files.sh
	@$(MAKE) --no-print-directory tests examples benches
	@$(MAKE) --no-print-directory check-run
	@$(MAKE) --no-print-directory check-examples
	@$(MAKE) --no-print-directory check-python

# The one-way folder order of src/ (docs/architecture.md), and a test of
# the checker itself.
check-layers:
	@sh .ci/check-layers src
	@sh tests/layers.sh

# The runners record every error message the tests provoke
# (RMTL_TEST_MESSAGES, tests/check_main.c); .ci/check-messages then fails
# on any that names an internal (rmtl__) function.
check-run:
	@rm -f $(O)/tests/messages.log
	@set -e; for t in $(O)/tests/check_internal $(O)/tests/check_rmtl; do \
	  echo "== $$t"; RMTL_TEST_MESSAGES=$(O)/tests/messages.log $$t; done
	@sh .ci/check-messages $(O)/tests/messages.log
	@set -e; for t in $(FUZZ_TARGETS); do \
	  $(O)/replay/$$t tests/fuzz/corpus/$$t tests/fuzz/regressions/$$t; done

# The first programs a user meets must keep working: hello, the C++ check
# (header usable from C++17 with -pedantic -Werror, extern "C" linkage), and
# the program of docs/getting-started.md, which must equal examples/first.c.
check-examples:
	@set -e; for t in $(O)/examples/hello $(O)/examples/first $(filter-out %/serve,$(CXX_EXAMPLES:examples/%.cpp=$(O)/examples/%)); do \
	  echo "== $$t"; $$t; done
	@sed -n '/^<!-- examples\/first.c -->$$/,/^```$$/p' docs/getting-started.md | sed '1,2d;$$d' | \
	  diff - examples/first.c >/dev/null || \
	  { echo "check-examples: the program in docs/getting-started.md differs from examples/first.c"; exit 1; }
	@$(MAKE) --no-print-directory check-examples-run

# The training and serving examples, on small settings (a few seconds):
# C training on Census (skipped without ../shared/data) and on simulator
# logs with RMTL; C serving of a fusion checkpoint from 4 threads, saved
# and loaded back; C++ serving of raw candidates (examples/serve.cpp).
EXRUN := $(O)/examples-run
SMALL_MODEL := --set model.embed_dim=8 --set 'model.bottom=[32]' --set 'model.tower=[16]' \
  --set model.experts.count=2 --set runtime.threads=1
check-examples-run:
	@set -e; rm -rf $(EXRUN) && mkdir -p $(EXRUN); \
	if [ -f ../shared/data/census/train.csv.gz ]; then \
	  echo "== $(O)/examples/train_mtl (Census, 1 epoch)"; \
	  $(O)/examples/train_mtl --train ../shared/data/census/train.csv.gz \
	    --val ../shared/data/census/val.csv.gz --schema examples/schemas/census.yaml \
	    --set train.epochs=1 --set train.batch_size=1024 $(SMALL_MODEL) --out $(EXRUN)/census.rmtl; \
	else echo "== train_mtl skipped: ../shared/data/census is absent"; fi; \
	echo "== $(O)/examples/rmtl_pipeline (simulator logs, quick)"; \
	$(O)/examples/rmtl_pipeline --sim 300 --fill 2000 --updates 30 --set train.epochs=2 $(SMALL_MODEL); \
	echo "== $(O)/examples/fusion_serving (train, save, serve; then load and serve)"; \
	(cd $(EXRUN) && $(CURDIR)/$(O)/examples/fusion_serving >/dev/null && \
	  $(CURDIR)/$(O)/examples/fusion_serving fusion_serving.rmtl)$(if $(filter examples/serve.cpp,$(CXX_EXAMPLES)),; \
	echo "== $(O)/examples/serve (C++: checkpoints, raw candidates, 2 threads)"; \
	(cd $(EXRUN) && $(CURDIR)/$(O)/examples/serve >/dev/null && \
	  $(CURDIR)/$(O)/examples/serve serve_model.rmtl serve_fusion.rmtl serve_candidates.csv 2))

# The Python package (bindings/python, docs/python.md) against the library
# just built: its pytest suite with numpy (when present) and again with numpy
# disabled, then the Python examples on small settings. Debian's python3 by
# default (PYTHON= picks another); pytest is python3-pytest.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
PYTEST_RUN = $(PYTHON) -m pytest -q -W error -o faulthandler_timeout=120 -p no:cacheprovider tests/python
check-python: lib
	@if ! command -v $(PYTHON) >/dev/null 2>&1; then \
	  echo "check-python: $(PYTHON) not found; the Python package tests are skipped"; exit 0; fi; \
	missing=""; $(PYTHON) -c 'import pytest' 2>/dev/null || missing=" python3-pytest"; \
	  $(install_missing)
	@set -e; export RMTL_LIBRARY=$(CURDIR)/$(LIB_REAL); \
	for no in 0 1; do \
	  echo "== python package tests ($$( [ $$no = 1 ] && echo 'numpy disabled' || \
	    { $(PYTHON) -c 'import numpy' 2>/dev/null && echo 'with numpy' || echo 'numpy absent'; }))"; \
	  RMTL_NO_NUMPY=$$no $(PYTEST_RUN); \
	done; \
	for ex in train_and_serve.py rmtl_pipeline.py "fusion_serving.py --quick" "census_pandas.py --quick"; do \
	  echo "== examples/python/$$ex"; $(PYTHON) examples/python/$$ex >/dev/null; done

# The same Python suite on the ASan + UBSan build of the library (make asan):
# libasan is preloaded into the (uninstrumented) interpreter; leaks are not
# checked because CPython keeps its objects until exit. Any report fails.
check-python-asan:
	@if ! command -v $(PYTHON) >/dev/null 2>&1 || ! $(PYTHON) -c 'import pytest' 2>/dev/null; then \
	  echo "check-python-asan: $(PYTHON) with pytest not found; skipped"; exit 0; fi; \
	set -e; export RMTL_LIBRARY=$(CURDIR)/$(LIB_REAL) \
	  LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1; \
	for no in 0 1; do echo "== python package tests under ASan + UBSan (RMTL_NO_NUMPY=$$no)"; \
	  RMTL_NO_NUMPY=$$no $(PYTEST_RUN); done

# Address + UndefinedBehavior sanitizers over the same tests, in build/asan.
asan: deps
	@$(MAKE) --no-print-directory O=build/asan LIBOUT=build/asan/lib CFLAGS='-O1 -g -fno-omit-frame-pointer' \
	  SAN='-fsanitize=address,undefined -fno-sanitize-recover=all' tests
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(MAKE) --no-print-directory O=build/asan LIBOUT=build/asan/lib check-run
	@$(MAKE) --no-print-directory O=build/asan LIBOUT=build/asan/lib check-python-asan

# ThreadSanitizer (clang) over the public fusion suite. Its "threads" case
# (8 threads sharing one handle, single-thread BLIS) and the encoder's
# "small" case (4 threads sharing one encoder) and the parallel CSV parser
# (its own C11 threads, 1 to 5) run without suppressions; the rest with tests/tsan.supp, which hides BLIS's OpenMP
# threads (libgomp is not instrumented). For the same reason the library
# is built without OpenMP here (OMP=): its own loops (src/nn/par.h) run
# serially, and test_par checks them against the serial result instead.
# The runner links the objects, not the .so: a sanitizer runtime cannot be
# linked into a shared library.
tsan: deps
	@$(MAKE) --no-print-directory O=build/tsan CC=clang OMP= CFLAGS='-O1 -g' \
	  SAN='-fsanitize=thread' build/tsan/tests/check_rmtl_objs build/tsan/tests/check_internal
	CK_RUN_SUITE=csv_parallel TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/check_internal
	CK_RUN_SUITE=fusion CK_RUN_CASE=threads TSAN_OPTIONS=halt_on_error=1 \
	  build/tsan/tests/check_rmtl_objs
	CK_RUN_SUITE=encoder CK_RUN_CASE=small TSAN_OPTIONS=halt_on_error=1 \
	  build/tsan/tests/check_rmtl_objs
	CK_RUN_SUITE=fusion TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  build/tsan/tests/check_rmtl_objs

$(O)/tests/check_rmtl_objs: tests/check_main.c $(PUB_TESTS) $(TEST_UTIL) $(O)/tests/pub_suites.inc $(OBJ)
	$(Q)$(call say,LD,$@)$(CC) $(TEST_CFLAGS) $(CFLAGS) -I$(O)/tests -DRMTL_SUITES='"pub_suites.inc"' \
	  -o $@ tests/check_main.c $(PUB_TESTS) $(TEST_UTIL) $(OBJ) $(CHECK_LIBS) $(DEP_LIBS)

# --- fuzzing ---------------------------------------------------------------
# libFuzzer (clang) with ASan + UBSan, in build/fuzz: each target of
# tests/fuzz/ runs FUZZ_SECONDS on a copy of its seed corpus plus its
# regression inputs; a crash fails the run and leaves the input in
# build/fuzz/artifacts/ (copy it to tests/fuzz/regressions/<target>/).
# FUZZ_SAN=undefined gives a faster build for long campaigns.
FUZZ_SECONDS ?= 60
FUZZ_SAN ?= address,undefined
FUZZ_ARGS ?=
FUZZ_CFLAGS ?= -O1 -g -fno-omit-frame-pointer
fuzz: deps
	@missing=""; command -v clang >/dev/null || missing=" clang"; \
	  ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || \
	  missing="$$missing libclang-rt-14-dev"; $(install_missing)
	@$(MAKE) --no-print-directory O=build/fuzz/$(subst $(comma),-,$(FUZZ_SAN)) CC=clang OMP= \
	  CFLAGS='$(FUZZ_CFLAGS)' \
	  SAN='-fsanitize=fuzzer-no-link,$(FUZZ_SAN) -fno-sanitize-recover=all' \
	  $(FUZZ_TARGETS:%=build/fuzz/$(subst $(comma),-,$(FUZZ_SAN))/fuzzer/%)
	@bash tests/fuzz/run build/fuzz/$(subst $(comma),-,$(FUZZ_SAN)) $(FUZZ_SECONDS) \
	  "$(FUZZ_ARGS)" $(FUZZ_TARGETS)

$(O)/fuzzer/%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) $(OBJ)
	@mkdir -p $(@D)
	$(Q)$(call say,LD,$@)$(CC) $(TEST_CFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< tests/fuzz/util.c $(OBJ) $(DEP_LIBS)

# Regenerates the generated seeds (checkpoints, floats) in tests/fuzz/corpus.
fuzz-seeds: $(O)/fuzz-tools/mkseeds
	$< tests/fuzz/corpus
$(O)/fuzz-tools/mkseeds: tests/fuzz/mkseeds.c $(FUZZ_DEPS) $(OBJ)
	@mkdir -p $(@D)
	$(Q)$(call say,LD,$@)$(CC) $(TEST_CFLAGS) $(CFLAGS) -o $@ $< $(OBJ) $(DEP_LIBS)

# Memcheck over both runners in one process (CK_FORK=no), without the test
# cases tagged "slow" (quality runs, finite differences, kill tests: see
# tests/util/slow.h), and over the fuzz seeds and regressions. Any error or
# definite/indirect leak fails.
VALGRIND := valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect \
  --suppressions=tests/valgrind.supp -q
check-valgrind: deps tests
	@missing=""; command -v valgrind >/dev/null || missing=" valgrind"; $(install_missing)
	@set -e; for t in $(O)/tests/check_internal $(O)/tests/check_rmtl; do \
	  echo "== valgrind $$t"; CK_FORK=no CK_DEFAULT_TIMEOUT=0 CK_EXCLUDE_TAGS=slow $(VALGRIND) $$t; done
	@set -e; for t in $(FUZZ_TARGETS); do \
	  $(VALGRIND) $(O)/replay/$$t tests/fuzz/corpus/$$t tests/fuzz/regressions/$$t; done

# --- examples, benchmarks, demo --------------------------------------------
EXAMPLE_BINS := $(EXAMPLES:examples/%.c=$(O)/examples/%) $(CXX_EXAMPLES:examples/%.cpp=$(O)/examples/%)
examples: $(EXAMPLE_BINS)
EXAMPLE_HDRS := $(wildcard examples/*.h)
$(O)/examples/%: examples/%.c $(EXAMPLE_HDRS) $(LIB_FILES)
	@mkdir -p $(@D)
	$(Q)$(call say,CC,$<)$(CC) -std=c11 $(WARN) -Wno-missing-prototypes -Iinclude $(SAN) $(CFLAGS) -o $@ $< \
	  -L$(LIBOUT) -Wl,-rpath,'$(CURDIR)/$(LIBOUT)' -lrmtl -lm
$(O)/examples/%: examples/%.cpp $(LIB_FILES)
	@mkdir -p $(@D)
	$(Q)$(call say,CXX,$<)$(CXX) -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude $(SAN) $(CXXFLAGS) -o $@ $< \
	  -L$(LIBOUT) -Wl,-rpath,'$(CURDIR)/$(LIBOUT)' -lrmtl

BENCH_BINS := $(BENCHES:bench/%.c=$(O)/bench/%)
benches: $(BENCH_BINS)
# The RMTL quality sweep shares its pipeline with tests/check_rmtl_quality.c
# and takes minutes: built with the others, run by hand (docs/rmtl.md).
SLOW_BENCHES := $(O)/bench/rmtl_quality $(O)/bench/fusion_quality
$(O)/bench/rmtl_quality: BENCH_EXTRA := tests/util/rmtlq.c
$(O)/bench/rmtl_quality: tests/util/rmtlq.c tests/util/rmtlq.h
# The fusion quality benchmark shares the MTL scorer with the demo.
$(O)/bench/fusion_quality: examples/sim_scorer.h
$(O)/bench/%: bench/%.c $(BENCH_UTIL) $(OBJ)
	@mkdir -p $(@D)
	$(Q)$(call say,CC,$<)$(CC) $(TEST_CFLAGS) -Wno-missing-prototypes -Ibench -O2 -g -o $@ $< $(BENCH_UTIL) $(BENCH_EXTRA) \
	  $(OBJ) $(DEP_LIBS)

bench: deps
	@$(MAKE) --no-print-directory benches
	@set -e; for b in $(filter-out $(SLOW_BENCHES),$(BENCH_BINS)); do $$b; done

# Fusion quality on the realistic pipeline (docs/fusion.md, "Results"):
# FUSION_ARGS="--worlds 5 --first-seed 1" by default; minutes per world.
FUSION_ARGS ?= --worlds 5 --first-seed 1
bench-fusion: deps
	@$(MAKE) --no-print-directory $(O)/bench/fusion_quality
	@$(O)/bench/fusion_quality $(FUSION_ARGS)

# --- MPI (optional) --------------------------------------------------------
# The library links no MPI; these programs plug MPI into its gradient
# exchange (docs/distributed.md). Built when mpicc exists (Debian:
# libopenmpi-dev openmpi-bin); `make examples` includes mpi_train then.
MPICC ?= mpicc
MPIRUN ?= mpirun
HAVE_MPI := $(shell command -v $(MPICC) 2>/dev/null)
MPIRUN_FLAGS ?= --oversubscribe --bind-to none
# Open MPI refuses root unless told (CI containers run as root).
MPIRUN_ENV := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
MPI_EX := examples/mpi_exchange.c examples/mpi_exchange.h
MPI_BINS := $(O)/examples/mpi_train $(O)/bench/dist $(O)/tests/mpi_dist_equiv
examples: $(if $(HAVE_MPI),$(O)/examples/mpi_train)

$(O)/examples/mpi_train: examples/mpi_train.c $(MPI_EX) $(LIB_FILES)
	@mkdir -p $(@D)
	$(Q)$(call say,MPICC,$@)$(MPICC) -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -Wno-missing-prototypes -Iinclude -Iexamples $(CFLAGS) \
	  -o $@ $< examples/mpi_exchange.c -L$(LIBOUT) -Wl,-rpath,'$(CURDIR)/$(LIBOUT)' -lrmtl -lm
$(O)/bench/dist: bench/dist.c $(MPI_EX) $(BENCH_UTIL) $(OBJ)
	@mkdir -p $(@D)
	$(Q)$(call say,MPICC,$@)$(MPICC) $(TEST_CFLAGS) -Ibench -Iexamples -O2 -g -o $@ $< examples/mpi_exchange.c \
	  $(BENCH_UTIL) $(OBJ) $(DEP_LIBS)
$(O)/tests/mpi_dist_equiv: tests/mpi/dist_equiv.c $(MPI_EX) tests/util/mtl.c $(OBJ)
	@mkdir -p $(@D)
	$(Q)$(call say,MPICC,$@)$(MPICC) $(TEST_CFLAGS) -Iexamples $(CFLAGS) -o $@ $< examples/mpi_exchange.c \
	  tests/util/mtl.c $(OBJ) $(DEP_LIBS)

mpi:
	@[ -n "$(HAVE_MPI)" ] || { echo "mpi: $(MPICC) not found; run: sudo apt-get install -y libopenmpi-dev openmpi-bin"; exit 1; }
	@$(MAKE) --no-print-directory $(MPI_BINS)

# 2 and 3 ranks (3: uneven shards) against one process, then the example.
check-mpi: mpi
	@set -e; for np in 2 3; do echo "== mpirun -np $$np $(O)/tests/mpi_dist_equiv"; \
	  $(MPIRUN_ENV) $(MPIRUN) $(MPIRUN_FLAGS) -np $$np $(O)/tests/mpi_dist_equiv; done
	@echo "== mpirun -np 2 $(O)/examples/mpi_train --quick"
	@$(MPIRUN_ENV) $(MPIRUN) $(MPIRUN_FLAGS) -np 2 $(O)/examples/mpi_train --quick --out $(O)/mpi_train
	@echo "== mpirun -np 2 $(O)/examples/mpi_train --quick --cache (each rank loads its shard)"
	@rm -f $(O)/mpi_train/train.rmtld
	@$(MPIRUN_ENV) $(MPIRUN) $(MPIRUN_FLAGS) -np 2 $(O)/examples/mpi_train --quick \
	  --out $(O)/mpi_train --cache $(O)/mpi_train/train.rmtld

# Scaling of MMoE at the reference shape: JSON on stdout. DIST_RANKS
# defaults to 1 2 4, and up to 16 on a machine with as many cores.
DIST_RANKS ?= $(shell n=$$(nproc); for r in 1 2 4 8 16; do [ $$r -le $$n ] || [ $$r -le 4 ] && printf '%s ' $$r; done)
DIST_ARGS ?=
bench-dist: mpi
	@$(MPIRUN_ENV) MPIRUN="$(MPIRUN) $(MPIRUN_FLAGS)" bash bench/dist-run "$(O)/bench/dist" "$(DIST_RANKS)" $(DIST_ARGS)

DEMO_ARGS ?=
demo: deps
	@$(MAKE) --no-print-directory all
	$(O)/examples/demo $(DEMO_ARGS)

# --- dependencies --------------------------------------------------------
# Installs what is missing with apt-get when run as root, else names the
# command to run. Checks files, not package names, so other distributions
# with the same headers pass too. install_missing installs the Debian
# packages listed in the shell variable $$missing.
install_missing = \
  if [ -n "$$missing" ]; then \
    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
      echo "$@: installing$$missing"; \
      export DEBIAN_FRONTEND=noninteractive; \
      apt-get install -y -q $$missing >/dev/null 2>&1 || \
      { apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; } || \
      { echo "$@: apt-get install$$missing failed"; exit 1; }; \
    else \
      echo "$@: missing$$missing; run: sudo apt-get install -y$$missing"; exit 1; \
    fi; \
  fi
DEB_PKGS := libblis-dev libyaml-dev check libsubunit-dev pkg-config zlib1g-dev
deps:
	@missing=""; \
	  { [ -f /usr/include/blis.h ] || [ -f /usr/include/blis/blis.h ] || \
	    ls /usr/include/*/blis.h >/dev/null 2>&1; } || missing="$$missing libblis-dev"; \
	  command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	  [ -f /usr/include/yaml.h ] || missing="$$missing libyaml-dev"; \
	  [ -f /usr/include/check.h ] || missing="$$missing check libsubunit-dev"; \
	  [ -f /usr/include/zlib.h ] || missing="$$missing zlib1g-dev"; \
	  $(install_missing)

# --- ABI -----------------------------------------------------------------
abi-dump: lib
	abidw --headers-dir include --drop-private-types --no-corpus-path \
	  --out-file abi/librmtl.abi $(LIBOUT)/$(LIB_SONAME)
	nm -D --defined-only $(LIBOUT)/$(LIB_SONAME) | awk '{print $$3}' | sort > abi/symbols.txt

abi-check: lib
	@bash .ci/abi-check $(LIBOUT)/$(LIB_SONAME)

# --- documentation and release ---------------------------------------------
# HTML reference from the header's comments, the guides as related pages
# (docs/Doxyfile). Fails when a public rmtl_/RMTL_ name has no documentation;
# undocumented struct fields and other warnings are listed, not fatal.
DOCS_OUT := $(O)/docs
docs:
	@missing=""; command -v doxygen >/dev/null || missing=" doxygen"; $(install_missing)
	@rm -rf $(DOCS_OUT) && mkdir -p $(DOCS_OUT)
	@{ cat docs/Doxyfile; echo "PROJECT_NUMBER = $(VERSION)"; echo "OUTPUT_DIRECTORY = $(DOCS_OUT)"; \
	  echo "WARN_LOGFILE = $(DOCS_OUT)/warnings.log"; } | doxygen -
	@sed 's|^$(CURDIR)/||' $(DOCS_OUT)/warnings.log | sort -t: -k1,1 -k2,2n -u > $(DOCS_OUT)/warnings.txt; \
	  if [ -s $(DOCS_OUT)/warnings.txt ]; then cat $(DOCS_OUT)/warnings.txt; fi; \
	  if grep -Eq '(Member|Compound) (rmtl_|RMTL_)[^ ]* .*is not documented' $(DOCS_OUT)/warnings.txt; then \
	    echo "docs: public names above lack documentation in include/rmtl.h"; exit 1; fi
	@echo "docs: $(DOCS_OUT)/html/index.html"

# Section-3 pages, rmtl(3) and one per function, from the header
# (docs/man.awk). MAN_FUNCS is read here separately as a cross-check.
lparen := (
MAN_FUNCS := $(shell sed -n 's/^RMTL_API.*[ *]\(rmtl_[a-z0-9_]*\)$(lparen).*/\1/p' include/rmtl.h)
MAN_PAGES := $(O)/man/man3/rmtl.3 $(MAN_FUNCS:%=$(O)/man/man3/%.3)
man: $(O)/man/man3/rmtl.3
$(O)/man/man3/rmtl.3: include/rmtl.h docs/man.awk docs/brief.awk
	@rm -rf $(@D) && mkdir -p $(@D)
	$(Q)$(call say,GEN,$@)awk -v dir=$(@D) -v version=$(VERSION) -f docs/brief.awk -f docs/man.awk include/rmtl.h
	@for p in $(MAN_PAGES); do [ -f $$p ] || { echo "man: $$p was not generated"; rm -f $@; exit 1; }; done

# A tarball of the committed tree (HEAD), which builds on its own
# (.ci/dist-test checks that).
DIST := $(O)/librmtl-$(VERSION).tar.gz
dist:
	@mkdir -p $(O)
	@[ -z "$$(git status --porcelain --untracked-files=no)" ] || \
	  echo "dist: uncommitted changes are not in the tarball (it is made from HEAD)"
	git archive --format=tar.gz --prefix=librmtl-$(VERSION)/ -o $(DIST) HEAD
	@echo "dist: $(DIST)"

# --- install -------------------------------------------------------------
# Remade on every install: it records PREFIX, which may differ from the last.
$(O)/rmtl.pc: rmtl.pc.in include/rmtl.h FORCE
	@mkdir -p $(@D)
	$(Q)$(call say,GEN,$@)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' -e 's|@OMP_LIBS@|$(if $(OMP),-lgomp)|' $< > $@

install: lib $(O)/rmtl.pc $(O)/man/man3/rmtl.3
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man3
	install -m 644 include/rmtl.h $(DESTDIR)$(INCLUDEDIR)/rmtl.h
	install -m 755 $(LIB_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIB_REAL)) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/librmtl.so
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/librmtl.a
	install -m 644 $(O)/rmtl.pc $(DESTDIR)$(PKGCONFIGDIR)/rmtl.pc
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man3/
	@if [ -n "$(PYTHONDIR)" ]; then \
	  echo "install: the Python package in $(DESTDIR)$(PYTHONDIR)/rmtl"; \
	  install -d $(DESTDIR)$(PYTHONDIR)/rmtl && \
	  install -m 644 bindings/python/rmtl/*.py bindings/python/rmtl/py.typed $(DESTDIR)$(PYTHONDIR)/rmtl/ && \
	  rm -f $(DESTDIR)$(PYTHONDIR)/rmtl/_install.py && \
	  printf '"""Written by make install: where librmtl is."""\nLIBDIR = "%s"\n' '$(LIBDIR)' \
	    > $(DESTDIR)$(PYTHONDIR)/rmtl/_install.py; \
	else echo "install: no $(PYTHON): the Python package is not installed"; fi

# Where `make install` puts the Python package: Debian's python3 reads
# /usr/lib/python3/dist-packages and /usr/local/lib/python3.X/dist-packages.
PYVER = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR ?= $(if $(PYVER),$(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PYVER)/dist-packages))
python-dir:
	@echo $(PYTHONDIR)

uninstall:
	$(if $(PYTHONDIR),rm -rf $(DESTDIR)$(PYTHONDIR)/rmtl)
	rm -f $(DESTDIR)$(INCLUDEDIR)/rmtl.h $(DESTDIR)$(LIBDIR)/librmtl.so* \
	  $(DESTDIR)$(LIBDIR)/librmtl.a $(DESTDIR)$(PKGCONFIGDIR)/rmtl.pc \
	  $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(MAN_PAGES)))

clean:
	rm -rf build lib

help:
	@echo "make            build lib/ and examples"
	@echo "make V=1 ...    print the full commands instead of one short line per step"
	@echo "make check      install missing packages, build, run all tests (Python binding included)"
	@echo "make check-layers  every #include under src/ keeps the folder order (docs/architecture.md)"
	@echo "make demo       install missing packages, build, run the main job"
	@echo "make asan       tests under AddressSanitizer + UBSan"
	@echo "make tsan       the fusion suite (threads) under ThreadSanitizer (clang)"
	@echo "make check-valgrind  tests (less the slow ones) under valgrind memcheck"
	@echo "make fuzz       libFuzzer targets of tests/fuzz, FUZZ_SECONDS each (clang)"
	@echo "make bench      benchmarks, JSON on stdout"
	@echo "make bench-fusion fusion quality on the realistic pipeline, JSON (FUSION_ARGS)"
	@echo "make mpi        MPI programs (mpi_train, bench/dist, tests) when mpicc exists"
	@echo "make check-mpi  2- and 3-rank training equals one process (mpirun)"
	@echo "make bench-dist data-parallel scaling JSON (DIST_RANKS, DIST_ARGS)"
	@echo "make install    PREFIX=/usr/local DESTDIR= LIBDIR= PYTHONDIR= (library, header, man, Python package)"
	@echo "make abi-check  exported symbols and abidiff against abi/"
	@echo "make docs       HTML API reference in build/docs/html (Doxygen)"
	@echo "make man        man pages in build/man/man3 (installed by make install)"
	@echo "make dist       build/librmtl-VERSION.tar.gz of the committed tree"

-include $(OBJ:.o=.d)
