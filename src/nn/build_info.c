/* rmtl_build_info: the library's version with the BLIS build and kernel
 * set it runs on (src/nn owns BLIS) and the libyaml version. */
#include "core/internal.h"
#include "nn/gemm.h"

#include <blis.h>
#include <pthread.h>
#include <stdio.h>
#include <yaml.h>

static char rmtl__build_info[160];
static pthread_once_t rmtl__build_info_once = PTHREAD_ONCE_INIT;

static void rmtl__build_info_make(void)
{
    const char *threads = bli_info_get_enable_openmp()     ? "openmp"
                          : bli_info_get_enable_pthreads() ? "pthreads"
                                                           : "none";
    snprintf(rmtl__build_info, sizeof rmtl__build_info,
             "rmtl=%s blis=%s blis_arch=%s threads=%s yaml=%s", RMTL_VERSION_STRING,
             bli_info_get_version_str(), rmtl__blis_arch(), threads, yaml_get_version_string());
}

const char *rmtl_build_info(void)
{
    pthread_once(&rmtl__build_info_once, rmtl__build_info_make);
    return rmtl__build_info;
}
