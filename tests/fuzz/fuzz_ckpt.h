/* The section separator of fuzz_ckpt's section-list inputs (fuzz_ckpt.c),
 * shared with the seed generator (mkseeds.c). */
#ifndef RMTL_TESTS_FUZZ_CKPT_H
#define RMTL_TESTS_FUZZ_CKPT_H

#define FUZZ_SECTION "\n#%SECT%"

#endif
