/* fuzz_check.h: the fuzz targets' assertion.  abort() rather than assert():
 * it holds with NDEBUG too, and libFuzzer and the replay both report it
 * as a crash with the input that caused it. */
#ifndef LBX_FUZZ_CHECK_H
#define LBX_FUZZ_CHECK_H

#include <stdlib.h>

#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) \
            abort(); \
    } while (0)

#endif
