# raid: PGXS build.  The version is defined once, in raid.control.
EXTENSION = raid
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(dir $(lastword $(MAKEFILE_LIST)))raid.control)

MODULE_big = raid
CORE_SRCS = $(sort $(wildcard src/core/*.cpp src/core/*/*.cpp src/capi/*.cpp))
GLUE_SRCS = $(sort $(wildcard src/pg/*.c))
OBJS = $(CORE_SRCS:.cpp=.o) $(GLUE_SRCS:.c=.o)

DATA_built = raid--$(EXTVERSION).sql
EXTRA_CLEAN = raid--$(EXTVERSION).sql

REGRESS = init synthetic train recommend audit defense baselines errors jobs
REGRESS_OPTS = --inputdir=. --outputdir=build/regress

EIGEN_INCLUDE ?= /usr/include/eigen3
PG_CPPFLAGS = -I$(srcdir)/src/capi -I$(srcdir)/src/core -isystem $(EIGEN_INCLUDE) -fopenmp
# The project's own code builds warning-free; PostgreSQL's and Eigen's headers
# are outside our control (Eigen is a system include, -Wno-register is for
# PostgreSQL 15 headers under C++17).
# PostgreSQL's flags include -fno-strict-aliasing, which its C code needs but
# which halves the speed of the core's vector loops; the core (no PostgreSQL
# headers) is strict-aliasing clean, as its unit tests build it.
PG_CXXFLAGS = -std=c++17 -O2 -fstrict-aliasing -Wall -Wextra -Werror -Wno-register
PG_CFLAGS = -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
# PGXS links with gcc: the C++ runtime and OpenMP must be named explicitly.
SHLIB_LINK = -fopenmp -lstdc++

# Debian's server is built with LLVM; bitcode for C++17 sources is not worth
# the trouble (clang-14 would not see PG_CXXFLAGS).
override with_llvm = no
# Rebuild objects when a header they include changes (the core's headers
# define class layouts shared by several objects).
override autodepend = yes

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS names a dependency file by the object's stem alone (.deps/options.Po),
# which src/pg/options.c and src/core/options.cpp share (and the two audit
# files), so one of each pair lost its header dependencies and a changed
# header left it stale.  Name them by path instead.
%.o : %.c
	@mkdir -p $(DEPDIR)
	$(COMPILE.c) -o $@ $< -MMD -MP -MF $(DEPDIR)/$(subst /,_,$*).Po
%.o : %.cpp
	@mkdir -p $(DEPDIR)
	$(COMPILE.cc) -o $@ $< -MMD -MP -MF $(DEPDIR)/$(subst /,_,$*).Po

raid--$(EXTVERSION).sql: src/sql/raid.sql
	cp $< $@

installcheck: | build/regress
build/regress:
	mkdir -p $@

.PHONY: unit unit-build bench print-regress
print-regress:
	@echo $(REGRESS)
# make unit builds and runs the unit tests (RAID_DATA_DIR=... adds MovieLens's)
unit: unit-build
	build/tests/raid_unit
unit-build:
	cmake -S tests -B build/tests -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build/tests -j2 --target raid_unit
bench:
	cmake -S tests -B build/tests -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build/tests -j2 --target raid_bench

# Rewrites the option tables of docs/reference.md from src/core/raid_options.h.
.PHONY: reference
reference: unit-build
	RAID_UPDATE_REFERENCE=1 build/tests/raid_unit --gtest_filter=Reference.OptionTablesMatchTheOptionLists
