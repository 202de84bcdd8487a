/* The dataset side of rmtl_model: the schema copy (placeholder until the
 * dataset layer lands). */
#include "mtl/model.h"

#include "core/internal.h"

int rmtl__model_copy_schema(rmtl_model *dst, const rmtl_model *src)
{
    (void)dst;
    (void)src;
    return 0;
}

void rmtl__model_free_schema(rmtl_model *m) { m->schema = NULL; }

int rmtl__model_schema_save(rmtl__wbuf *w, const rmtl_model *m)
{
    (void)w;
    (void)m;
    return 0;
}

int rmtl__model_schema_load(rmtl_model *m, const void *data, size_t len)
{
    (void)m;
    (void)data;
    (void)len;
    return rmtl__error(RMTL_EFORMAT, "checkpoint section 'DATA': not supported yet");
}
