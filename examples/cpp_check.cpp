// The public header from C++: compiles as C++17 with -Wall -Wextra -Werror
// -pedantic, links against librmtl.so (so every declaration has C linkage:
// a C++-mangled name would not resolve), keeps const where the API promises
// not to modify, and works with RAII owners. `make check` runs it.
#include <rmtl.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

// Const-correctness of the declarations themselves: read-only calls take
// const handles and const input arrays.
#define RMTL_SIGNATURE(fn, type) \
    static_assert(std::is_same_v<decltype(&fn), type>, #fn " has an unexpected signature")
RMTL_SIGNATURE(rmtl_version_string, const char *(*)());
RMTL_SIGNATURE(rmtl_config_clone, int (*)(rmtl_config **, const rmtl_config *));
RMTL_SIGNATURE(rmtl_config_get_double, int (*)(double *, const rmtl_config *, const char *));
RMTL_SIGNATURE(rmtl_config_validate, int (*)(const rmtl_config *));
RMTL_SIGNATURE(rmtl_config_dump, int (*)(char **, size_t *, const rmtl_config *));
RMTL_SIGNATURE(rmtl_dataset_rows, size_t (*)(const rmtl_dataset *));
RMTL_SIGNATURE(rmtl_dataset_batch, int (*)(rmtl_batch *, const rmtl_dataset *, size_t, size_t));
RMTL_SIGNATURE(rmtl_auc, int (*)(double *, const float *, const float *, size_t, size_t));

namespace {

// Owners that call the library's destructors.
struct config_free {
    void operator()(rmtl_config *c) const { rmtl_config_free(c); }
};
struct dataset_free {
    void operator()(rmtl_dataset *d) const { rmtl_dataset_free(d); }
};
struct lib_free {
    void operator()(char *p) const { rmtl_free(p); }
};
using config_ptr = std::unique_ptr<rmtl_config, config_free>;
using dataset_ptr = std::unique_ptr<rmtl_dataset, dataset_free>;
using text_ptr = std::unique_ptr<char, lib_free>;

int failures = 0;

void expect(bool ok, const char *what)
{
    if (!ok) {
        std::fprintf(stderr, "cpp_check: FAILED: %s (last error: %s)\n", what, rmtl_last_error());
        ++failures;
    }
}

config_ptr make_config()
{
    rmtl_config *raw = nullptr;
    expect(rmtl_config_create(&raw) == RMTL_OK && raw != nullptr, "rmtl_config_create");
    return config_ptr(raw);
}

void check_version()
{
    expect(rmtl_version_number() == RMTL_VERSION_NUMBER, "runtime version equals the header's");
    expect(std::string(rmtl_version_string()) == RMTL_VERSION_STRING, "version string");
}

void check_config()
{
    config_ptr cfg = make_config();
    if (!cfg) return;
    expect(rmtl_config_set_double(cfg.get(), "rl.gamma", 0.95) == RMTL_OK, "set rl.gamma");

    // Everything below reads through a const handle.
    const rmtl_config *view = cfg.get();
    double gamma = 0;
    expect(rmtl_config_get_double(&gamma, view, "rl.gamma") == RMTL_OK && gamma == 0.95,
           "get rl.gamma back");
    expect(rmtl_config_validate(view) == RMTL_OK, "validate the defaults");

    rmtl_config *raw_copy = nullptr;
    expect(rmtl_config_clone(&raw_copy, view) == RMTL_OK, "clone");
    config_ptr copy(raw_copy);

    char *raw_yaml = nullptr;
    size_t len = 0;
    expect(rmtl_config_dump(&raw_yaml, &len, view) == RMTL_OK, "dump");
    text_ptr yaml(raw_yaml);
    if (!yaml) return;
    expect(std::strlen(yaml.get()) == len, "dump length excludes the NUL");

    // The dump loads back to the same value.
    config_ptr again = make_config();
    if (!again) return;
    double reloaded = 0;
    expect(rmtl_config_load_string(again.get(), yaml.get(), len, "dump") == RMTL_OK &&
               rmtl_config_get_double(&reloaded, again.get(), "rl.gamma") == RMTL_OK &&
               reloaded == 0.95,
           "dump round trip");
}

void check_errors()
{
    config_ptr cfg = make_config();
    if (!cfg) return;
    rmtl_error_clear();
    expect(rmtl_config_set_double(cfg.get(), "rl.gamma", 1.5) == RMTL_ECONFIG,
           "out-of-range value is RMTL_ECONFIG");
    expect(std::strstr(rmtl_last_error(), "rl.gamma") != nullptr, "the message names the key");
    double gamma = 0, before = 0;
    rmtl_config *fresh = nullptr;
    expect(rmtl_config_create(&fresh) == RMTL_OK, "second config");
    config_ptr reference(fresh);
    expect(rmtl_config_get_double(&gamma, cfg.get(), "rl.gamma") == RMTL_OK &&
               rmtl_config_get_double(&before, reference.get(), "rl.gamma") == RMTL_OK &&
               gamma == before,
           "a failed set changes nothing");
    expect(rmtl_config_get_double(&gamma, cfg.get(), "rl.no_such_key") != RMTL_OK,
           "unknown key fails");
    expect(*rmtl_strerror(RMTL_ECONFIG) != '\0', "rmtl_strerror");
    expect(rmtl_config_create(nullptr) == RMTL_EINVAL, "NULL out is RMTL_EINVAL");
}

void check_dataset_and_metrics()
{
    // Two rows, one categorical field of 3 ids, one task; const inputs.
    static const size_t vocab[] = {3};
    static const int32_t cat[] = {1, 2};
    static const float labels[] = {0.0f, 1.0f};
    rmtl_dataset *raw = nullptr;
    expect(rmtl_dataset_from_arrays(&raw, 2, 1, vocab, cat, 0, nullptr, 1, labels, nullptr) ==
               RMTL_OK,
           "dataset from arrays");
    const dataset_ptr ds(raw);
    if (!ds) return;
    const rmtl_dataset *view = ds.get();
    expect(rmtl_dataset_rows(view) == 2 && rmtl_dataset_n_tasks(view) == 1, "dataset shape");

    rmtl_batch batch = RMTL_BATCH_INIT;
    expect(rmtl_dataset_batch(&batch, view, 0, 2) == RMTL_OK && batch.rows == 2, "batch view");

    static const float scores[] = {0.2f, 0.7f};
    double auc = 0;
    expect(rmtl_auc(&auc, scores, batch.labels, batch.rows, 1) == RMTL_OK && auc == 1.0,
           "AUC of a perfect ranking");
}

// The initialisers of the transparent structs are valid C++ too.
void check_initialisers()
{
    rmtl_sim_info info = RMTL_SIM_INFO_INIT;
    rmtl_sim_request req = RMTL_SIM_REQUEST_INIT;
    rmtl_sim_feedback fb = RMTL_SIM_FEEDBACK_INIT;
    rmtl_sim_stats stats = RMTL_SIM_STATS_INIT;
    expect(info.version == RMTL_SIM_INFO_VERSION && req.version == RMTL_SIM_REQUEST_VERSION &&
               fb.version == RMTL_SIM_FEEDBACK_VERSION && stats.version == RMTL_SIM_STATS_VERSION,
           "struct initialisers");
}

} // namespace

int main()
{
    check_version();
    check_config();
    check_errors();
    check_dataset_and_metrics();
    check_initialisers();
    if (failures) return 1;
    std::printf("cpp_check: OK (librmtl %s from C++)\n", rmtl_version_string());
    return 0;
}
