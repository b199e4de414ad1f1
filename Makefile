# Thin wrapper: every target lives in Makefile.apxs.  FORCE makes file
# targets (e.g. `make bench/pick_bench`) reach it even when the file exists.
.DEFAULT_GOAL := all
%: FORCE
	@$(MAKE) --no-print-directory -f Makefile.apxs $@
all:
	@$(MAKE) --no-print-directory -f Makefile.apxs all
FORCE: ;
Makefile Makefile.apxs: ;
.PHONY: all FORCE
