# Entry points for newcomers; the real build is CMake (see CMakePresets.json).
PRESET ?= release
JOBS ?= $(shell nproc)
BIN := build/$(PRESET)/strata

.PHONY: setup build demo test clean fuzz
setup:
	@bash scripts/setup.sh

build: setup
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

# Builds a release binary and generates text with the bundled stories260K model.
demo: build
	$(BIN) run -p "Once upon a time" -n 64 --temp 0

# Builds everything and runs the whole test suite (CTest + GoogleTest).
test: build
	ctest --preset $(PRESET) -j $(JOBS)

fuzz: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

clean:
	rm -rf build
