/* Runtime version queries (rmtl_build_info, which reports the BLIS build,
 * is in src/nn/build_info.c). */
#include "core/internal.h"

unsigned rmtl_version_number(void) { return RMTL_VERSION_NUMBER; }

const char *rmtl_version_string(void) { return RMTL_VERSION_STRING; }
