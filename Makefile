# Thin wrapper: every target lives in Makefile.apxs.
.DEFAULT_GOAL := all
%:
	@$(MAKE) --no-print-directory -f Makefile.apxs $@
all:
	@$(MAKE) --no-print-directory -f Makefile.apxs all
