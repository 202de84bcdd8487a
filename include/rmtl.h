/*
 * librmtl — multi-task recommendation with reinforcement learning.
 *
 * One public header. Everything here is the stable ABI (see docs/abi.md):
 *   - handles are opaque and created through `T **out` placed first;
 *     on failure `*out` is set to NULL;
 *   - every call that can fail returns an rmtl_status (0 = RMTL_OK,
 *     negative = error); rmtl_last_error() then holds a message that names
 *     what was wrong and where;
 *   - destructors are rmtl_<object>_free(), accept NULL and return void;
 *   - strings and buffers the library allocates for the caller are freed
 *     with rmtl_free().
 * Thread-safety tags: [thread-safe] any thread, any time; [per-object]
 * safe as long as no two threads use the same object at once;
 * [not thread-safe] call it before other threads use the library.
 */
#ifndef RMTL_H
#define RMTL_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------- */
/* Export, deprecation and C++ macros                                      */
/* ---------------------------------------------------------------------- */
#if defined(RMTL_STATIC_DEFINE)
#define RMTL_API
#elif defined(__GNUC__) || defined(__clang__)
#define RMTL_API __attribute__((visibility("default")))
#else
#define RMTL_API
#endif

#if defined(__GNUC__) || defined(__clang__)
#define RMTL_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define RMTL_DEPRECATED(msg)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Version                                                                 */
/* ---------------------------------------------------------------------- */
#define RMTL_VERSION_MAJOR 0 /* release of this header: major */
#define RMTL_VERSION_MINOR 1 /* minor: bumped by ABI additions */
#define RMTL_VERSION_PATCH 0 /* patch: fixes only */
/* MAJOR·10000 + MINOR·100 + PATCH, as rmtl_version_number() returns it. */
#define RMTL_VERSION_NUMBER \
    (RMTL_VERSION_MAJOR * 10000 + RMTL_VERSION_MINOR * 100 + RMTL_VERSION_PATCH)
#define RMTL_VERSION_STRING "0.1.0" /* "MAJOR.MINOR.PATCH" */
/* ABI major: bumped only when a released signature or layout changes. */
#define RMTL_SOVERSION 1

/** Version of the library actually loaded, to compare with
 *  RMTL_VERSION_NUMBER from the header you compiled against. [thread-safe] */
RMTL_API unsigned rmtl_version_number(void);
/** "MAJOR.MINOR.PATCH" of the loaded library; static storage. [thread-safe] */
RMTL_API const char *rmtl_version_string(void);
/** One line describing the build and the BLIS in use, e.g.
 *  "rmtl=0.1.0 blis=0.9.0 blis_arch=skx threads=openmp yaml=0.2.5".
 *  The BLIS kernel set is the one active in this process (see
 *  runtime.blis_arch in docs/config.md). Static storage. [thread-safe] */
RMTL_API const char *rmtl_build_info(void);

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */
/* ---------------------------------------------------------------------- */
/** Every fallible call returns one of these. Values are pinned and only
 *  ever appended to. */
typedef enum rmtl_status {
    RMTL_OK = 0,
    RMTL_ERROR = -1,    /* internal error that fits no other code       */
    RMTL_EINVAL = -2,   /* bad argument: NULL handle, wrong size, ...    */
    RMTL_ENOMEM = -3,   /* an allocation failed; nothing was changed    */
    RMTL_EIO = -4,      /* the operating system refused a file operation */
    RMTL_EFORMAT = -5,  /* malformed input: data file, damaged checkpoint */
    RMTL_EVERSION = -6, /* checkpoint from a newer or incompatible build */
    RMTL_ECONFIG = -7,  /* bad configuration key, type or value          */
    RMTL_ESTATE = -8,   /* call not valid in the object's current state  */
    RMTL_ENUMERIC = -9  /* NaN/Inf in inputs or training diverged        */
} rmtl_status;

/** Static description of a status code ("invalid argument"). Never NULL.
 *  [thread-safe] */
RMTL_API const char *rmtl_strerror(int code);
/** Detailed message of the last failed call on this thread, e.g.
 *  "cfg.yaml:12:7: rl.gamma: expected a number". Never NULL; "" when
 *  nothing failed. Valid until the next rmtl_ call on this thread.
 *  Successful calls leave it unchanged. [thread-safe] */
RMTL_API const char *rmtl_last_error(void);
/** Empties this thread's message. [thread-safe] */
RMTL_API void rmtl_error_clear(void);

/** Severity of a log line, the `level` of rmtl_log_fn. */
typedef enum rmtl_log_level {
    RMTL_LOG_ERROR = 0, /* a call failed                             */
    RMTL_LOG_WARN = 1,  /* something is off but the call goes on     */
    RMTL_LOG_INFO = 2,  /* progress: epochs, evaluations             */
    RMTL_LOG_DEBUG = 3  /* details for developers                    */
} rmtl_log_level;

/** Receives the library's log lines (no trailing newline). May be called
 *  from any thread that calls into the library. */
typedef void (*rmtl_log_fn)(int level, const char *message, void *payload);

/** Installs `fn` (NULL: silent, the default). The library never prints on
 *  its own. Every error message (what rmtl_last_error() then returns) is
 *  also passed to `fn` at RMTL_LOG_DEBUG, in the thread that set it.
 *  [not thread-safe]: set it before other threads use librmtl. */
RMTL_API void rmtl_set_log_callback(rmtl_log_fn fn, void *payload);

/** Frees memory the library returned through a `char **out` or
 *  `void **out` parameter. Accepts NULL. [thread-safe] */
RMTL_API void rmtl_free(void *ptr);

/** The number of CPUs this process may use: its affinity mask
 *  (sched_getaffinity: taskset, cpusets) capped by the CPU quota of its
 *  cgroup (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us, the
 *  process's group and its ancestors; whole CPUs, at least 1). This is
 *  what `runtime.threads: 0` resolves to. BLIS's threads wait for each
 *  other at busy-spinning barriers, so a handle must never have more
 *  threads than CPUs it has to itself: with other busy processes on the
 *  machine, set runtime.threads to what they leave (often 1).
 *  [thread-safe] */
RMTL_API int rmtl_usable_cpus(void);

/* ---------------------------------------------------------------------- */
/* Handles                                                                 */
/* ---------------------------------------------------------------------- */
typedef struct rmtl_config rmtl_config;   /* hyper-parameters: defaults + YAML + setters */
typedef struct rmtl_dataset rmtl_dataset; /* impressions + schema + sessions             */
typedef struct rmtl_model rmtl_model;     /* an MTL model: weights, predict, train       */
typedef struct rmtl_env rmtl_env;         /* session MDP over a dataset, or the simulator */
typedef struct rmtl_replay rmtl_replay;   /* transition ring buffer                      */
typedef struct rmtl_actor rmtl_actor;     /* a model under RL training                   */
typedef struct rmtl_critic rmtl_critic;   /* one task's critic and its target            */
typedef struct rmtl_agent rmtl_agent;     /* actor + critics: the RL update              */
typedef struct rmtl_fusion rmtl_fusion;   /* enhanced-state fusion; rmtl_fuse_scores     */
typedef struct rmtl_ctx rmtl_ctx;         /* per-thread scratch for batched calls        */
typedef struct rmtl_encoder rmtl_encoder; /* raw feature text -> a model's input batch   */

/* ---------------------------------------------------------------------- */
/* Config                                                                  */
/* ---------------------------------------------------------------------- */
/*
 * A config holds every hyper-parameter, each with a documented default and
 * range (docs/config.md lists them all). Keys are dotted paths that mirror
 * the YAML nesting: `rl.gamma` is `rl: {gamma: 0.9}`.
 * Loading or setting is all-or-nothing: on error the config is unchanged.
 */

/** Creates a config holding the defaults. Free with rmtl_config_free().
 *  [thread-safe] */
RMTL_API int rmtl_config_create(rmtl_config **out);
/** Deep copy. Free with rmtl_config_free(). [per-object] */
RMTL_API int rmtl_config_clone(rmtl_config **out, const rmtl_config *cfg);
/** Accepts NULL. */
RMTL_API void rmtl_config_free(rmtl_config *cfg);

/** Applies the keys of a YAML file over the current values. Unknown keys,
 *  wrong types and out-of-range values fail with RMTL_ECONFIG and a
 *  "path:line:column: key: problem" message; unreadable files with
 *  RMTL_EIO. [per-object] */
RMTL_API int rmtl_config_load_file(rmtl_config *cfg, const char *path);
/** As rmtl_config_load_file() on `len` bytes of YAML text. `name` labels
 *  messages (NULL: "<string>"). [per-object] */
RMTL_API int rmtl_config_load_string(rmtl_config *cfg, const char *yaml, size_t len,
                                     const char *name);

/** Sets any key from its YAML text, e.g. ("model.bottom", "[256, 128]")
 *  or ("rl.gamma", "0.95"): handy for command-line overrides. [per-object] */
RMTL_API int rmtl_config_set(rmtl_config *cfg, const char *key, const char *value);
/** Typed setters; the key's type must match (ints are accepted for
 *  double keys), else RMTL_ECONFIG naming the function that fits. Values
 *  are range-checked; on error nothing changes. set_bool takes any
 *  nonzero value as true. [per-object] */
RMTL_API int rmtl_config_set_int(rmtl_config *cfg, const char *key, int64_t value);
/** As rmtl_config_set_int() for double keys. [per-object] */
RMTL_API int rmtl_config_set_double(rmtl_config *cfg, const char *key, double value);
/** As rmtl_config_set_int() for boolean keys. [per-object] */
RMTL_API int rmtl_config_set_bool(rmtl_config *cfg, const char *key, int value);
/** For choice keys such as model.arch (the choice is checked). */
RMTL_API int rmtl_config_set_string(rmtl_config *cfg, const char *key, const char *value);
/** For integer-list keys such as model.bottom (and double-list keys such
 *  as fusion.reward_coef). `values` may be NULL when `count` is 0. */
RMTL_API int rmtl_config_set_int_list(rmtl_config *cfg, const char *key,
                                      const int64_t *values, size_t count);

/** Typed getters; the key's type must match. Lists of doubles or names
 *  (fusion.reward_coef, model.tasks) have no getter: read them from
 *  rmtl_config_dump(). On error `*out` is zeroed. [per-object] */
RMTL_API int rmtl_config_get_int(int64_t *out, const rmtl_config *cfg, const char *key);
/** As rmtl_config_get_int() for double keys. [per-object] */
RMTL_API int rmtl_config_get_double(double *out, const rmtl_config *cfg, const char *key);
/** As rmtl_config_get_int() for boolean keys (`*out` is 0 or 1). [per-object] */
RMTL_API int rmtl_config_get_bool(int *out, const rmtl_config *cfg, const char *key);
/** For choice keys. `*out` is borrowed from `cfg`, valid until the key is
 *  next set. */
RMTL_API int rmtl_config_get_string(const char **out, const rmtl_config *cfg,
                                    const char *key);
/** Writes up to `capacity` values and sets `*count` to the list's length
 *  (which may exceed `capacity`; then only the first `capacity` are
 *  written). */
RMTL_API int rmtl_config_get_int_list(size_t *count, const rmtl_config *cfg,
                                      const char *key, int64_t *values, size_t capacity);

/** Cross-parameter checks (e.g. PLE expert counts, task list not empty);
 *  RMTL_ECONFIG naming the keys. [per-object] */
RMTL_API int rmtl_config_validate(const rmtl_config *cfg);

/** Canonical YAML of every parameter, which loads back to equal values.
 *  `*out` is NUL-terminated, `*len` excludes the NUL (len may be NULL);
 *  free with rmtl_free(). [per-object] */
RMTL_API int rmtl_config_dump(char **out, size_t *len, const rmtl_config *cfg);

/* ---------------------------------------------------------------------- */
/* Dataset                                                                 */
/* ---------------------------------------------------------------------- */
/** A view of `rows` impressions, the unit of training and prediction.
 *  Transparent: it starts with a version and only ever grows at the end
 *  (initialise with RMTL_BATCH_INIT). All arrays are row-major and
 *  borrowed for the call. */
typedef struct rmtl_batch {
    uint32_t version;       /* RMTL_BATCH_VERSION                            */
    size_t rows;            /* number of impressions                         */
    const int32_t *cat;     /* rows × n_cat ids, 0 = unknown/rare            */
    const float *num;       /* rows × n_num standardised values, or NULL     */
    const float *labels;    /* rows × n_tasks in {0,1}, or NULL (predict)   */
    const float *weights;   /* rows × n_tasks loss weights, or NULL (all 1)  */
    const int64_t *session; /* rows session ids, or NULL                     */
} rmtl_batch;
#define RMTL_BATCH_VERSION 1u /* layout version of rmtl_batch in this header */
#define RMTL_BATCH_INIT {RMTL_BATCH_VERSION, 0, NULL, NULL, NULL, NULL, NULL} /* empty batch */

/*
 * A dataset holds impressions in the layout models train on: categorical
 * ids (int32, one field per categorical column, id 0 = missing, unseen or
 * rare), standardised numerical features (float), binary labels (float
 * 0/1, one per task) and a session id per row, plus the schema,
 * vocabularies and normalisation that turned CSV text into those numbers.
 *
 * The schema (YAML, docs/data.md) names the role of each CSV column:
 * categorical, numerical, label (with the rule that makes it positive),
 * session, timestamp, user, item or ignore. The training split is loaded
 * with a schema and builds the vocabularies and normalisation; validation
 * and test splits are loaded with the training split as their `reference`
 * and reuse them, so a value maps to the same id everywhere.
 *
 * Ownership: datasets are caller-owned (free with rmtl_dataset_free());
 * datasets made from one another share read-only vocabularies internally,
 * so they may be freed in any order.
 * Threads: read-only calls on a const dataset may run concurrently
 * ([thread-safe]) as long as no thread shuffles that dataset.
 */

struct rmtl_progress; /* defined with the progress callbacks below */
/** Options of rmtl_dataset_load(). Transparent and versioned: initialise
 *  with RMTL_LOAD_OPTIONS_INIT, then set the fields you need; it grows at
 *  the end only. */
typedef struct rmtl_load_options {
    uint32_t version;          /* RMTL_LOAD_OPTIONS_VERSION                     */
    int threads;               /* parser threads; 0 = the CPUs this process may
                                  use (at most 16). Ids, values and order do not
                                  depend on it.                                 */
    /* an rmtl_progress_fn (declared below), or NULL: see rmtl_dataset_load() */
    int (*progress)(const struct rmtl_progress *progress, void *payload);
    void *payload; /* passed to `progress` */
    uint32_t part, parts;      /* shard: read only part `part` of `parts` (0 of 0
                                  or 0 of 1: the whole file); needs a reference */
} rmtl_load_options;
#define RMTL_LOAD_OPTIONS_VERSION 1u /* layout version of rmtl_load_options */
#define RMTL_LOAD_OPTIONS_INIT {RMTL_LOAD_OPTIONS_VERSION, 0, NULL, NULL, 0, 0} /* the defaults, version set */

/** Loads a CSV file (plain or gzip, recognised by content) with the
 *  schema in the YAML file `schema_path` (training split: builds
 *  vocabularies and normalisation), or with `schema_path` NULL and a
 *  `reference` dataset whose schema, vocabularies and normalisation are
 *  reused (validation, test, prediction). Giving both, or neither, is
 *  RMTL_EINVAL. With a reference, label columns may be absent from the
 *  CSV (then the dataset has no labels); feature columns may not.
 *  `options` may be NULL (defaults). Its `progress` callback (may be NULL)
 *  receives the bytes of the file read so far (`done`) of its size
 *  (`total`; compressed bytes for gzip, 0 when the size is unknown, e.g. a
 *  pipe) and `loss` NaN; returning non-zero cancels the load: RMTL_ESTATE,
 *  `*out` NULL and nothing allocated. A plain file is parsed by `threads`
 *  threads in byte ranges (docs/data.md); the result is the same for every
 *  thread count. With `parts` > 1 only the rows that start in byte range
 *  [size·part/parts, size·(part+1)/parts) of a plain file are read (one MPI
 *  rank's share); the parts of a file hold each row exactly once.
 *  Errors: RMTL_EIO (unreadable file), RMTL_ECONFIG (schema problem, e.g.
 *  a column not in the CSV header: "schema.yaml:12:3: column 'x' ..."),
 *  RMTL_EFORMAT (bad data: "data.csv:41: column 'age': 'abc' is not a
 *  finite number"), RMTL_EINVAL (bad options, a shard of a training
 *  split or of a gzip file), RMTL_ENOMEM. `reference` is only read; it
 *  may be freed afterwards. [thread-safe] */
RMTL_API int rmtl_dataset_load(rmtl_dataset **out, const char *csv_path, const char *schema_path,
                               const rmtl_dataset *reference, const rmtl_load_options *options);
/** As rmtl_dataset_load() with the schema given as `schema_len` bytes of
 *  YAML text; `schema_name` labels messages (NULL: "<schema>"). `schema`
 *  NULL with a `reference` reuses the reference's schema. [thread-safe] */
RMTL_API int rmtl_dataset_load_schema_string(rmtl_dataset **out, const char *csv_path,
                                             const char *schema, size_t schema_len,
                                             const char *schema_name,
                                             const rmtl_dataset *reference);
/** As rmtl_dataset_load() with the CSV as `csv_len` bytes in memory
 *  (plain or gzip) and the schema as `schema_len` bytes of YAML text, or
 *  `schema` NULL and a `reference`: the same rules, numbers and errors
 *  (RMTL_EIO excepted). `csv_name` labels messages (NULL: "<buffer>").
 *  The bytes are only read, during the call. [thread-safe] */
RMTL_API int rmtl_dataset_load_buffer(rmtl_dataset **out, const void *csv, size_t csv_len,
                                      const char *csv_name, const char *schema,
                                      size_t schema_len, const rmtl_dataset *reference);

/** Saves `ds` (rows, schema, vocabularies, normalisation, session index)
 *  as a dataset cache file at `path`, replaced atomically: the checkpoint
 *  container (docs/checkpoint-format.md) with one raw section per array,
 *  CRC-checked as a whole and by blocks of 65,536 rows (docs/data.md).
 *  Errors: RMTL_EINVAL, RMTL_EIO (naming the path), RMTL_ENOMEM.
 *  [thread-safe] */
RMTL_API int rmtl_dataset_save(const rmtl_dataset *ds, const char *path);
/** Loads a file written by rmtl_dataset_save(): memory-mapped (the arrays
 *  are the file's pages, shared with the page cache; the first shuffle
 *  copies them), every CRC and every value checked, so batches are
 *  bit-identical to the saved dataset's. `options` may be NULL; only
 *  `part` and `parts` are read: with parts > 1 the dataset holds rows
 *  [rows·part/parts, rows·(part+1)/parts) and only their blocks of the file
 *  are read and checked (one MPI rank's share; its sessions are rebuilt
 *  from those rows). Errors: RMTL_EIO (unreadable), RMTL_EFORMAT (not a
 *  dataset cache, truncated or damaged: "path: dataset cache: ..."),
 *  RMTL_EVERSION (written by a newer librmtl), RMTL_EINVAL, RMTL_ENOMEM.
 *  [thread-safe] */
RMTL_API int rmtl_dataset_load_cache(rmtl_dataset **out, const char *path,
                                     const rmtl_load_options *options);

/*
 * Streaming: an epoch over a dataset cache file larger than memory. The
 * file is read block by block through a shuffle buffer of `buffer_rows`
 * rows; each rmtl_dataset_stream_next() hands out a chunk of up to
 * `chunk_rows` rows, drawn uniformly from the buffer (whose freed slot the
 * file's next row takes), as a dataset with the file's schema: train on it
 * (rmtl_model_train_epoch()) and free it. Memory is bounded by
 * (buffer_rows + chunk_rows + 65,536) rows, whatever the file's size.
 * Seeded: epoch e uses seed + e, the same on every platform. A stream is
 * [per-object].
 */
typedef struct rmtl_dataset_stream rmtl_dataset_stream; /* a cache or CSV file read in shuffled chunks */
/** Opens `cache_path` (written by rmtl_dataset_save()) for streaming; its
 *  header and small sections are read and CRC-checked now, the rows as
 *  they are streamed (block CRCs, values as rmtl_dataset_load_cache()).
 *  Errors: RMTL_EINVAL (a size 0), RMTL_EIO, RMTL_EFORMAT, RMTL_EVERSION,
 *  RMTL_ENOMEM. */
RMTL_API int rmtl_dataset_stream_open(rmtl_dataset_stream **out, const char *cache_path,
                                      size_t buffer_rows, size_t chunk_rows, uint64_t seed);
/** Opens the CSV file `csv_path` for streaming with the schema and
 *  vocabularies of `reference` (a dataset loaded from a CSV or a cache,
 *  or rmtl_dataset_stream_schema() of another stream; values it has not
 *  seen get id 0, as in a validation split; copied: it may be freed after
 *  this call). Each epoch reads the file in parts of about buffer_rows
 *  rows (at least 1 MiB; bytes a row estimated from the file's first 64
 *  KiB), each loaded as a shard (rmtl_load_options.part/parts, on
 *  options->threads threads; NULL: the defaults), through the same
 *  shuffle buffer: memory is the buffer, one chunk and one part, whatever
 *  the file's size. A file
 *  larger than one part must be a plain CSV without quoted fields (as for
 *  shards). rmtl_dataset_stream_rows() is 0 until an epoch has ended.
 *  Errors: RMTL_EINVAL (a size 0, options with parts, a reference built
 *  from arrays), RMTL_EIO, RMTL_EFORMAT (the first part's message, e.g.
 *  a column missing from the header), RMTL_ENOMEM. */
RMTL_API int rmtl_dataset_stream_open_csv(rmtl_dataset_stream **out, const char *csv_path,
                                          const rmtl_dataset *reference,
                                          const rmtl_load_options *options, size_t buffer_rows,
                                          size_t chunk_rows, uint64_t seed);
/** The next chunk of the epoch in `*chunk` (caller-owned; free it), or
 *  `*chunk` NULL when the epoch is over (the next call starts the next
 *  epoch). Errors: RMTL_EIO, RMTL_EFORMAT (damage found in a block),
 *  RMTL_ENOMEM; `*chunk` is then NULL. */
RMTL_API int rmtl_dataset_stream_next(rmtl_dataset **chunk, rmtl_dataset_stream *s);
/** The file's schema as a dataset without rows (borrowed from `s`): the
 *  layout to create a model with, or the reference of a CSV load. */
RMTL_API const rmtl_dataset *rmtl_dataset_stream_schema(const rmtl_dataset_stream *s);
/** Rows of the file (an epoch's rows; a CSV stream: 0 until an epoch has
 *  ended). */
RMTL_API size_t rmtl_dataset_stream_rows(const rmtl_dataset_stream *s);
/** Accepts NULL. */
RMTL_API void rmtl_dataset_stream_free(rmtl_dataset_stream *s);

/** Builds a dataset from features a host already holds. All arrays are
 *  row-major and copied (borrowed for the call only):
 *  - `cat`: rows × n_cat ids, field f's ids in [0, vocab_sizes[f]);
 *    vocab_sizes[f] >= 1 (id 0 is the unknown/rare id);
 *  - `num`: rows × n_num finite values, used as given (no standardisation);
 *  - `labels`: rows × n_tasks values 0 or 1, or NULL (unlabelled data);
 *  - `session`: rows session ids, or NULL (each row its own session).
 *  Names are "cat_<i>", "num_<i>", "task_<i>". Needs rows >= 1,
 *  n_tasks >= 1 and n_cat + n_num >= 1.
 *  Errors: RMTL_EINVAL naming the array, row and field at fault (id out of
 *  range, label not 0/1, NULL array), RMTL_ENUMERIC (NaN/Inf in `num`),
 *  RMTL_ENOMEM. [thread-safe] */
RMTL_API int rmtl_dataset_from_arrays(rmtl_dataset **out, size_t rows, size_t n_cat,
                                      const size_t *vocab_sizes, const int32_t *cat,
                                      size_t n_num, const float *num, size_t n_tasks,
                                      const float *labels, const int64_t *session);

/** Accepts NULL. [per-object] */
RMTL_API void rmtl_dataset_free(rmtl_dataset *ds);

/** Shape getters; 0 (or NULL for names) when `ds` is NULL or the index is
 *  out of range. Names are borrowed, valid while `ds` lives. [thread-safe] */
RMTL_API size_t rmtl_dataset_rows(const rmtl_dataset *ds);
/** Number of categorical fields (categorical columns, and user/item
 *  columns marked `feature: true`), in CSV column order. */
RMTL_API size_t rmtl_dataset_n_cat(const rmtl_dataset *ds);
/** Number of ids of categorical field `field` (including id 0). */
RMTL_API size_t rmtl_dataset_vocab_size(const rmtl_dataset *ds, size_t field);
/** Name of categorical field `field` (its CSV column). */
RMTL_API const char *rmtl_dataset_field_name(const rmtl_dataset *ds, size_t field);
/** Number of numerical features, in CSV column order. */
RMTL_API size_t rmtl_dataset_n_num(const rmtl_dataset *ds);
/** Name of numerical feature `index`. */
RMTL_API const char *rmtl_dataset_num_name(const rmtl_dataset *ds, size_t index);
/** Number of tasks (label columns), in task order. */
RMTL_API size_t rmtl_dataset_n_tasks(const rmtl_dataset *ds);
/** Name of task `task` (its label column). */
RMTL_API const char *rmtl_dataset_task_name(const rmtl_dataset *ds, size_t task);
/** 1 when the dataset has labels, 0 when not (e.g. a prediction CSV). */
RMTL_API int rmtl_dataset_has_labels(const rmtl_dataset *ds);
/** Number of distinct sessions (rows when there is no session column). */
RMTL_API size_t rmtl_dataset_n_sessions(const rmtl_dataset *ds);

/** Points `out` at rows [start, start + n) of `ds`, n = min(count,
 *  rows - start): no copy, valid until `ds` is shuffled or freed. `out`
 *  must be initialised with RMTL_BATCH_INIT; `weights` is NULL; `num` is
 *  NULL without numerical features and `labels` without labels.
 *  Errors: RMTL_EINVAL (start > rows, uninitialised batch). [thread-safe] */
RMTL_API int rmtl_dataset_batch(rmtl_batch *out, const rmtl_dataset *ds, size_t start,
                                size_t count);

/** Shuffles the rows in place (seeded Fisher-Yates: the same seed gives
 *  the same order on every platform). Sessions keep their rows and order.
 *  Errors: RMTL_EINVAL, RMTL_ENOMEM (the dataset is then unchanged).
 *  [per-object] */
RMTL_API int rmtl_dataset_shuffle(rmtl_dataset *ds, uint64_t seed);

/** Splits `ds` by whole sessions: sessions are shuffled with `seed`, the
 *  first round(train_frac · S) go to `*train`, the next round(val_frac · S)
 *  to `*val`, the rest to `*test`. Each split keeps the rows' order in
 *  `ds` and shares its vocabularies. Any of the three out-parameters may
 *  be NULL (that split is not built); a split may have zero rows.
 *  Deterministic for a given dataset and seed. Needs fractions >= 0 with
 *  train_frac + val_frac <= 1. Errors: RMTL_EINVAL, RMTL_ENOMEM (all outs
 *  NULL). [thread-safe] */
RMTL_API int rmtl_dataset_split_sessions(rmtl_dataset **train, rmtl_dataset **val,
                                         rmtl_dataset **test, const rmtl_dataset *ds,
                                         double train_frac, double val_frac, uint64_t seed);

/* --- Metrics ----------------------------------------------------------- */
/*
 * Evaluation over `n` rows. `scores` are probabilities and `labels` 0/1;
 * both are read with `stride` floats between consecutive rows, so one task
 * column of a row-major rows × n_tasks matrix is (base + task, stride =
 * n_tasks). No state: [thread-safe].
 */

/** Exact ROC AUC: the probability that a random positive scores above a
 *  random negative, ties counting one half (rank-sum with tied ranks
 *  averaged; O(n log n)). Labels must be exactly 0 or 1.
 *  Errors: RMTL_EINVAL (n == 0, stride == 0, a label not 0/1, or only one
 *  class present: AUC is undefined), RMTL_ENUMERIC (NaN score),
 *  RMTL_ENOMEM. */
RMTL_API int rmtl_auc(double *out, const float *scores, const float *labels, size_t n,
                      size_t stride);
/** Mean binary cross-entropy −[y·ln p + (1−y)·ln(1−p)] with p clamped to
 *  [1e-7, 1 − 1e-7]; labels in [0, 1]. Errors: RMTL_EINVAL (n == 0,
 *  stride == 0, label outside [0, 1]), RMTL_ENUMERIC (NaN score). */
RMTL_API int rmtl_logloss(double *out, const float *scores, const float *labels, size_t n,
                          size_t stride);
/** Session log-loss: the mean over sessions of the mean log-loss of the
 *  rows inside each session. Rows of a session are those with the same
 *  `session_ids[i]` (read with stride 1), contiguous or not. Errors: as
 *  rmtl_logloss(), plus RMTL_ENOMEM. */
RMTL_API int rmtl_session_logloss(double *out, const float *scores, const float *labels,
                                  size_t n, size_t stride, const int64_t *session_ids);
/* ---------------------------------------------------------------------- */
/* Progress and contexts                                                   */
/* ---------------------------------------------------------------------- */
/** What a long call reports as it goes. Transparent, versioned, grows at
 *  the end only. */
typedef struct rmtl_progress {
    uint32_t version; /* RMTL_PROGRESS_VERSION                       */
    uint64_t done;    /* units done so far (rows, steps, sessions)   */
    uint64_t total;   /* units in all, 0 if unknown                  */
    double loss;      /* running mean loss, NaN when none            */
    double elapsed;   /* seconds since the call started              */
} rmtl_progress;
#define RMTL_PROGRESS_VERSION 1u /**< layout version of rmtl_progress in this header */

/** Called from the calling thread every so often during a long call;
 *  returning non-zero cancels it (the call then fails with RMTL_ESTATE and
 *  leaves its object in a consistent state). */
typedef int (*rmtl_progress_fn)(const rmtl_progress *progress, void *payload);
/*
 * Long calls that take a progress callback: rmtl_dataset_load() (bytes
 * read), rmtl_model_train_epoch() (rows), rmtl_agent_train() (updates),
 * rmtl_fusion_round() (sessions, then training steps). Except for
 * rmtl_model_train_epoch(), which reports about every second, they call
 * `fn` whenever another 1% of the total is done or a second has passed,
 * and once more at the end (done == total), so `done` only grows.
 */

/** Per-thread scratch memory for batched read-only calls (prediction,
 *  batched fusion). One context per thread; it is not tied to a model, and
 *  grows to the largest batch it has served. `threads` is its BLIS thread
 *  count (0: 1, the right choice for serving). [thread-safe] */
RMTL_API int rmtl_ctx_create(rmtl_ctx **out, int threads);
/** Accepts NULL. */
RMTL_API void rmtl_ctx_free(rmtl_ctx *ctx);

/* --- Encoder: raw features in -------------------------------------------- */
/*
 * A serving process receives raw values (the text a CSV would hold); a
 * model reads ids and standardised floats. An encoder turns the first into
 * the second with the schema, vocabularies and normalisation the model was
 * trained with: a categorical value becomes its id (0 when unseen, rare or
 * missing), a numerical value (raw - mean) / std (a missing one the
 * column's fill, else the mean). Values are read exactly as the CSV loader
 * reads a cell (surrounding spaces and tabs ignored, the schema's missing
 * texts, decimal numbers in the "C" locale), so encoding rows and
 * predicting gives, bit for bit, what loading them from a CSV with
 * rmtl_dataset_load() and predicting gives.
 *
 *   rmtl_encoder *enc;
 *   rmtl_encoder_create(&enc, rmtl_model_schema(model), NULL, 0);
 *   ...per thread: rmtl_ctx *ctx; rmtl_ctx_create(&ctx, 1);
 *   rmtl_batch b = RMTL_BATCH_INIT;
 *   rmtl_encode_rows(&b, enc, ctx, values, rows, rmtl_encoder_n_columns(enc));
 *   rmtl_model_predict(model, ctx, &b, probs, rows * T);
 *
 * An encoder is read-only once built: any number of threads may encode
 * with one at once, each with its own rmtl_ctx, which holds the encoded
 * batch and, once it has served a request of a size, allocates nothing
 * for requests up to that size.
 */

/** Creates an encoder for the input layout of `schema` — usually
 *  rmtl_model_schema(model), or any dataset loaded from CSV — that reads
 *  `n_columns` values per row, named `columns` in the order the caller
 *  passes them. Every categorical and numerical feature column of the
 *  schema must be named once; names of its other columns (labels, session,
 *  ids) and NULL entries are accepted and their values skipped.
 *  `columns` NULL (with `n_columns` 0) takes the schema's feature columns
 *  in their CSV order (see rmtl_encoder_column_name()). The encoder keeps
 *  its own reference to the schema: `schema` and its model may be freed
 *  first. RMTL_EINVAL names a column that is not in the schema, a
 *  duplicate or a missing feature; also for a schema built from arrays
 *  (no vocabularies). Free with rmtl_encoder_free(). [thread-safe] */
RMTL_API int rmtl_encoder_create(rmtl_encoder **out, const rmtl_dataset *schema,
                                 const char *const *columns, size_t n_columns);
/** Accepts NULL. */
RMTL_API void rmtl_encoder_free(rmtl_encoder *enc);
/** Values per row the encoder reads (0 for NULL). [thread-safe] */
RMTL_API size_t rmtl_encoder_n_columns(const rmtl_encoder *enc);
/** Name of input column `i` (borrowed; NULL for a skipped entry, NULL
 *  `enc` or `i` out of range). [thread-safe] */
RMTL_API const char *rmtl_encoder_column_name(const rmtl_encoder *enc, size_t i);

/** Encodes `rows` rows of text given row by row: `values[r·n_columns + j]`
 *  is the value of input column j in row r (NUL-terminated). `n_columns`
 *  must equal rmtl_encoder_n_columns(). `*out` (initialised with
 *  RMTL_BATCH_INIT) then points at rows × n_cat ids and rows × n_num
 *  floats held by `ctx`, valid until the next encode on `ctx` or its
 *  rmtl_ctx_free(); its labels, weights and session are NULL. Pass it to
 *  rmtl_model_predict() with the same or another context.
 *  Errors, naming the row and column, with `*out` unchanged: RMTL_EINVAL
 *  (NULL arguments, a NULL value, a wrong `n_columns`), RMTL_EFORMAT (a
 *  numerical value that is not a finite decimal number, e.g. "abc",
 *  "nan", "1e999", or too large to standardise), RMTL_ENOMEM.
 *  [thread-safe with one ctx per thread] */
RMTL_API int rmtl_encode_rows(rmtl_batch *out, const rmtl_encoder *enc, rmtl_ctx *ctx,
                              const char *const *values, size_t rows, size_t n_columns);
/** As rmtl_encode_rows() with the text given column by column:
 *  `columns[j][r]` is the value of input column j in row r; `columns[j]`
 *  may be NULL for a skipped column. [thread-safe with one ctx per thread] */
RMTL_API int rmtl_encode_columns(rmtl_batch *out, const rmtl_encoder *enc, rmtl_ctx *ctx,
                                 const char *const *const *columns, size_t n_columns,
                                 size_t rows);

/* ---------------------------------------------------------------------- */
/* Model                                                                   */
/* ---------------------------------------------------------------------- */
/*
 * A multi-task model: embeddings of the categorical fields plus a Linear of
 * the numerical features, then the architecture of `model.arch` (single_task,
 * shared_bottom, esmm, omoe, mmoe, ple, aitm), one sigmoid output per task.
 * The model keeps its input schema (fields, vocabularies, normalisation)
 * so that a checkpoint scores raw CSV on its own. docs/models.md describes
 * each architecture, its parameter names and the checkpoint sections.
 *
 * Batches given to a model must fit its layout: `cat` holds rows × n_cat
 * ids with field f's ids in [0, vocab_size(f)) (0 = unknown; the dataset
 * layer maps unseen values to 0, so any other id is a caller error), `num`
 * rows × n_num finite values (NULL only without numerical features).
 * Training also needs `labels` (exactly 0 or 1) and takes optional
 * `weights` (finite, >= 0). A batch that does not fit is RMTL_EINVAL
 * naming the array, row and column; a NaN/Inf feature or weight is
 * RMTL_ENUMERIC. `session` is not read.
 */

/** Creates a model with fresh weights (seeded by runtime.seed). The input
 *  layout and the task names come from `train` (whose schema, vocabularies
 *  and normalisation are copied into the model; model.tasks is not used:
 *  the dataset's schema names and orders the tasks, at most 16); the
 *  architecture and training parameters from `cfg` (copied). Free with
 *  rmtl_model_free(). RMTL_ECONFIG for an invalid config, RMTL_EINVAL for
 *  NULL arguments or more than 16 tasks, RMTL_ENOMEM. [thread-safe] */
RMTL_API int rmtl_model_create(rmtl_model **out, const rmtl_config *cfg,
                               const rmtl_dataset *train);
/** Deep copy (weights, optimiser state, RNG): an immutable snapshot for
 *  serving while the original keeps training. [per-object] */
RMTL_API int rmtl_model_clone(rmtl_model **out, const rmtl_model *m);
/** Accepts NULL. */
RMTL_API void rmtl_model_free(rmtl_model *m);

/** Number of tasks T. [thread-safe] */
RMTL_API size_t rmtl_model_num_tasks(const rmtl_model *m);
/** Name of task `i` (borrowed from `m`), NULL when out of range. */
RMTL_API const char *rmtl_model_task_name(const rmtl_model *m, size_t i);
/** Number of trainable weights. */
RMTL_API size_t rmtl_model_num_params(const rmtl_model *m);
/** The model's input schema as an empty dataset (borrowed from `m`), to
 *  pass as the `reference` of rmtl_dataset_load() when scoring new CSV. */
RMTL_API const rmtl_dataset *rmtl_model_schema(const rmtl_model *m);

/** Probabilities for every row of `batch`: `out` receives rows × T floats
 *  (row-major); `capacity` is its length in floats. Read-only on `m`:
 *  any number of threads may predict at once, each with its own `ctx`
 *  (NULL: a temporary one is allocated for the call); the result does not
 *  depend on the thread or the context. After its first batch of a size,
 *  a context allocates nothing for batches up to that size. RMTL_EINVAL
 *  for a batch that does not fit the model (see above) or a too small
 *  `capacity`, RMTL_ENUMERIC for NaN/Inf features, RMTL_ENOMEM.
 *  [thread-safe with one ctx per thread] */
RMTL_API int rmtl_model_predict(const rmtl_model *m, rmtl_ctx *ctx, const rmtl_batch *batch,
                                float *out, size_t capacity);

/** Prepares `m` for serving: folds the embedding tables into the first
 *  layer of every module that reads them. That layer's product with the
 *  concatenated embeddings is precomputed per vocabulary entry, so a
 *  prediction adds F + 1 stored rows per module instead of streaming the
 *  first (largest) weight matrices: ESMM at the reference shape reads about
 *  a fifth of the bytes per row, and rmtl_model_predict() gets 2–5× faster
 *  at any batch size (docs/models.md, "Serving"). The cache holds, for each
 *  folded field, vocabulary × (Σ first-layer widths) floats; fields are
 *  folded from the smallest vocabulary up while the cache fits `max_bytes`,
 *  and the others keep the exact product. `*used` (may be NULL) receives
 *  the bytes taken (0 when not even the fixed rows fit: nothing is folded).
 *  `max_bytes` 0 frees the cache. Predictions agree with the unfolded ones
 *  to float rounding (summation order; about 1e-6), not bit for bit.
 *  The cache is a function of the weights when it is built: once they
 *  change (rmtl_model_train_step() and every other training call),
 *  predictions take the exact path again until this is called again, so
 *  they are never stale. Clones and checkpoints do not carry it. Not
 *  concurrent with rmtl_model_predict() on `m`. On error nothing changes:
 *  RMTL_EINVAL (NULL `m`), RMTL_ENOMEM. [per-object] */
RMTL_API int rmtl_model_fold_embeddings(rmtl_model *m, size_t max_bytes, size_t *used);

/** One Adam step on `batch` (labels required). The loss is
 *  (1/T)·Σ_k mean_rows(w_rk · BCE(p_rk, y_rk)) with w = batch->weights
 *  (rows × T, NULL: all 1) — the RMTL fine-tuning passes critic weights
 *  here. `*loss` (may be NULL) receives it (before the step). A failed
 *  step changes nothing: on RMTL_ENUMERIC (non-finite feature, activation,
 *  loss or gradient; the message names the layer), RMTL_EINVAL or
 *  RMTL_ENOMEM the weights, optimiser state and random streams are as
 *  before. After the first step at a batch size, steps of that size or
 *  smaller allocate nothing. [per-object] */
RMTL_API int rmtl_model_train_step(rmtl_model *m, const rmtl_batch *batch, double *loss);

/** Sets the Adam learning rate of the model's next steps to `lr` (its
 *  copy of optim.lr, so that clones and checkpoints keep it): for
 *  fine-tuning a pre-trained model at a lower rate than it was trained with
 *  (docs/rmtl.md). Weights, moments and the step count do not change.
 *  RMTL_EINVAL for a NULL model, RMTL_ECONFIG for an lr outside optim.lr's
 *  range (0, 10] or not finite; on error nothing changes. [per-object] */
RMTL_API int rmtl_model_set_lr(rmtl_model *m, double lr);

/** One pass over `train` in batches of train.batch_size, shuffled with the
 *  model's own seeded RNG when train.shuffle is true (the dataset is not
 *  modified). `*mean_loss` (may be NULL) receives the epoch's mean loss
 *  (NaN on failure). `fn` (may be NULL) is called about every second and
 *  after the last batch; if it returns non-zero the epoch stops with
 *  RMTL_ESTATE. Steps taken before a failure or a cancellation stay taken.
 *  RMTL_EINVAL for a dataset of another layout (fields, vocabulary sizes,
 *  numerical features, tasks), without rows or without labels.
 *  [per-object] */
RMTL_API int rmtl_model_train_epoch(double *mean_loss, rmtl_model *m, const rmtl_dataset *train,
                                    rmtl_progress_fn fn, void *payload);

/* --- distributed training: the gradient-exchange hook -------------------- */
/*
 * librmtl does no networking. For data-parallel training the host (MPI,
 * NCCL, Gloo, ...) registers callbacks on a training handle (model, agent,
 * fusion); every training step of that handle then reduces its gradients
 * through them between the backward pass and the optimiser step. Each rank
 * holds an identical copy of the weights (the host broadcasts them before
 * training, e.g. with rmtl_model_save_buffer()/rmtl_model_load_buffer()),
 * trains on its own shard of the global batch, and all ranks take the
 * same step in lockstep. docs/distributed.md has a full MPI example.
 *
 * Contract of one step on every rank (all ranks call the same training
 * function with the same handle state; rows may differ per rank):
 *  1. forward/backward on the local rows gives local gradients g_r (means
 *     over the n_r local rows, as without the hook) and local losses;
 *  2. ONE dense buffer: [n_r, n_r·losses..., n_r·g_r of every dense
 *     parameter] is handed to `allreduce`, which must replace it in place
 *     by its elementwise SUM over the ranks (MPI_Allreduce with MPI_SUM,
 *     ncclAllReduce with ncclSum): the host SUMS, never averages. The
 *     library then divides by the summed row count N = Σ n_r, so the step
 *     uses Σ_r n_r·g_r / N, the gradient of the global batch, and losses
 *     reported are global means: R ranks with B/R rows each step exactly
 *     as one process with the B rows (up to float summation order), also
 *     for uneven shards;
 *  3. embedding tables (row-sparse gradients) go through `gather_rows`,
 *     once per table: the library passes the local touched row ids and
 *     their n_r-scaled gradient rows; the host gathers every rank's
 *     (ids, values) and hands each piece to rmtl_grad_sink_add() — the
 *     library sums duplicate rows and updates the union of the touched rows
 *     (lazy Adam). The pieces must be added IN THE SAME ORDER ON EVERY RANK
 *     (e.g. rank order, as MPI_Allgatherv delivers them) so that all ranks
 *     compute bit-identical sums. With `gather_rows` NULL the tables travel
 *     densely through `allreduce` instead, each followed by one float per
 *     table row (touched mask), in the same single buffer;
 *  4. gradient clipping, the NaN/Inf guard and Adam run after the exchange
 *     on the reduced gradients, so every rank takes the identical step.
 * A callback that returns non-zero (or a failing rmtl_grad_sink_add())
 * aborts the step: RMTL_EIO naming the callback and its code (the sink's
 * own error code when the sink refused), weights, optimiser state and step
 * counters unchanged. The host must then fail on all ranks alike. A rank
 * whose local pass fails (bad batch, non-finite features) returns before
 * the exchange and its peers would wait: validate shards up front.
 * The dense buffer and the row buffers are allocated on the first step and
 * reused: steps allocate nothing once the largest batch has been seen.
 * Callbacks run on the thread that called the training function.
 *
 * Randomness: dropout masks and the critics' target-policy noise are drawn
 * per rank from the handle's streams. With `rank` > 0 the handle's
 * training streams (model dropout; the agent's critic dropout and target
 * noise) are re-seeded at registration from their current
 * state mixed with `rank`, so ranks that share one broadcast checkpoint
 * draw independent masks; rank 0 keeps its streams. Register after
 * broadcasting the weights (loading a checkpoint restores the streams).
 * Exact equality with a one-process run additionally needs no dropout
 * (model.dropout 0) and, for the agent, rl.policy_noise 0.
 *
 * The registration is not part of checkpoints and is not copied by
 * rmtl_model_clone(); freeing the handle forgets it.
 */

/** Sum-all-reduce hook: replaces buf[0..n) in place by its elementwise sum
 *  over all ranks (identical on every rank). Returns 0, or non-zero to
 *  abort the step. */
typedef int (*rmtl_allreduce_fn)(float *buf, size_t n, void *payload);

/** Where the host delivers gathered embedding-gradient rows (opaque,
 *  library-owned, valid only during the rmtl_gather_rows_fn call). */
typedef struct rmtl_grad_sink rmtl_grad_sink;

/** Sparse all-gather hook for one embedding table of `dim` columns: the
 *  local rank's `n_rows` touched rows `ids` (n_rows may be 0) with their
 *  gradient rows `values` (n_rows × dim, row-major; already scaled by the
 *  local row count). The host gathers every rank's (ids, values) and calls
 *  rmtl_grad_sink_add(sink, ...) for each rank's piece (its own included),
 *  in the same order on every rank. Arrays are borrowed for the call.
 *  Returns 0, or non-zero to abort the step. */
typedef int (*rmtl_gather_rows_fn)(const uint64_t *ids, const float *values, size_t n_rows,
                                   size_t dim, rmtl_grad_sink *sink, void *payload);

/** Adds `n_rows` gradient rows (`values`, n_rows × dim of the table being
 *  gathered; ids may repeat, within and across calls: rows sum) to the
 *  reduced gradient. RMTL_EINVAL for a NULL sink, NULL arrays with
 *  n_rows > 0 or an id outside the table (nothing added then). Only valid
 *  inside a rmtl_gather_rows_fn call. [per-object] */
RMTL_API int rmtl_grad_sink_add(rmtl_grad_sink *sink, const uint64_t *ids, const float *values,
                                size_t n_rows);

/** The hooks of one training handle. Initialise with
 *  RMTL_GRAD_EXCHANGE_INIT; grows by appending fields only. */
typedef struct rmtl_grad_exchange {
    uint32_t version;                /* RMTL_GRAD_EXCHANGE_VERSION                      */
    rmtl_allreduce_fn allreduce;     /* required: dense sum-all-reduce                  */
    rmtl_gather_rows_fn gather_rows; /* NULL: embedding tables go dense via allreduce */
    void *payload;                   /* handed to both callbacks                        */
    uint32_t rank;                   /* this rank (> 0 re-seeds the dropout/noise streams) */
} rmtl_grad_exchange;
#define RMTL_GRAD_EXCHANGE_VERSION 1u /* layout version of rmtl_grad_exchange in this header */
/* Initialiser of rmtl_grad_exchange: its version, everything else zero. */
#define RMTL_GRAD_EXCHANGE_INIT {RMTL_GRAD_EXCHANGE_VERSION, NULL, NULL, NULL, 0}

/** Registers (copies) the gradient exchange of `m`'s training steps
 *  (rmtl_model_train_step(), rmtl_model_train_epoch()); NULL clears it.
 *  Contract above. RMTL_EINVAL for a NULL model, an unknown version or a
 *  NULL `allreduce`. [per-object] */
RMTL_API int rmtl_model_set_grad_exchange(rmtl_model *m, const rmtl_grad_exchange *exchange);

/** Evaluates on `ds` (labelled, of the model's layout): per task, AUC,
 *  log-loss and session log-loss (each array may be NULL; each holds
 *  `capacity` >= T doubles). A task whose labels are all equal gets NaN
 *  AUC. Sessions are the dataset's (each row its own session when it was
 *  built without session ids). `ctx` as for rmtl_model_predict().
 *  [thread-safe with one ctx per thread] */
RMTL_API int rmtl_model_evaluate(const rmtl_model *m, rmtl_ctx *ctx, const rmtl_dataset *ds,
                                 double *auc, double *logloss, double *session_logloss,
                                 size_t capacity);

/** Flags for saving. */
#define RMTL_SAVE_TRAINING_STATE 1u /* optimiser moments, step, RNG: resume exactly */

/** Writes a checkpoint atomically (temporary file, fsync, rename): config,
 *  schema, weights, and with RMTL_SAVE_TRAINING_STATE the optimiser and
 *  RNG state. The same model gives the same bytes. RMTL_EIO when the file
 *  cannot be written (the previous file at `path` is then intact),
 *  RMTL_EINVAL for unknown flags. [per-object] */
RMTL_API int rmtl_model_save(const rmtl_model *m, const char *path, uint32_t flags);
/** The same into memory: `*out` (free with rmtl_free()) of `*len` bytes. */
RMTL_API int rmtl_model_save_buffer(void **out, size_t *len, const rmtl_model *m,
                                    uint32_t flags);
/** Loads a checkpoint. RMTL_EFORMAT for a damaged or truncated file or
 *  sections that disagree (e.g. a tensor whose shape does not fit the
 *  network the config and layout describe: the message names it),
 *  RMTL_EVERSION for a newer format, RMTL_EIO when unreadable; the message
 *  names the section. Training resumes exactly when the file has the
 *  training state; without it, Adam starts afresh and the random streams
 *  from runtime.seed. [thread-safe] */
RMTL_API int rmtl_model_load(rmtl_model **out, const char *path);
/** As rmtl_model_load() from `len` bytes in memory (borrowed for the
 *  call). [thread-safe] */
RMTL_API int rmtl_model_load_buffer(rmtl_model **out, const void *buf, size_t len);

/* ---------------------------------------------------------------------- */
/* Env (dataset mode)                                                      */
/* ---------------------------------------------------------------------- */
/*
 * The session MDP of RMTL (docs/rmtl.md) over a dataset with session ids:
 * an episode is one session; the state s_t is the t-th impression of the
 * session in timestamp order (its categorical ids and numerical values);
 * the action a_t ∈ [0, 1]^T is the vector of predicted probabilities; the
 * reward of task k is
 *     r = y·log(a) + (1 − y)·log(1 − a)   (rl.reward: bce; both logs'
 *                                          arguments clamped to [1e-4, 1])
 *     r = −|a − y|                        (rl.reward: abs)
 * so r ≤ 0 and a perfect prediction earns 0. After the session's last
 * impression the episode is done. The labels do not depend on the
 * actions: the MDP replays logged sessions. The host drives the loop:
 *
 *     rmtl_env_reset(&s, env);
 *     do {
 *         choose T actions for (s.cat, s.num);
 *         rmtl_env_step(&r, env, action, T);   // r.reward, r.labels, r.done
 *         ... s' is (r.next_cat, r.next_num) ...
 *     } while (!r.done);
 *
 * The simulator (rmtl_env_sim_*) is the other kind of env; calls of one
 * kind on the other fail with RMTL_EINVAL.
 */

/** Flags of rmtl_env_create(). */
#define RMTL_ENV_EVAL 1u /* resets play sessions 0, 1, 2, ... in order (wrapping);
                            without it each reset draws a session uniformly
                            at random (seeded by runtime.seed) */

/** Creates the MDP over the sessions of `ds`, which needs labels and
 *  session structure (a `session` or `user` column, or session ids given
 *  to rmtl_dataset_from_arrays()). `ds` is borrowed: it must outlive the
 *  env and must not be shuffled while the env lives. rl.reward and
 *  runtime.seed are read from `cfg` (only during the call).
 *  Errors: RMTL_EINVAL (no labels, no session column, no rows), RMTL_ECONFIG
 *  (invalid cfg), RMTL_ENOMEM. Free with rmtl_env_free(). [thread-safe] */
RMTL_API int rmtl_env_create(rmtl_env **out, const rmtl_config *cfg, const rmtl_dataset *ds,
                             uint32_t flags);

/** A state: one impression of the dataset. The arrays point into the
 *  dataset (valid while it lives). Initialise with RMTL_ENV_STATE_INIT. */
typedef struct rmtl_env_state {
    uint32_t version;    /* RMTL_ENV_STATE_VERSION                          */
    size_t session;      /* the episode's session (index in the dataset's
                            session order: by first timestamp)              */
    size_t step;         /* position of the impression in its session       */
    size_t row;          /* its row in the dataset                          */
    size_t n_cat;        /* categorical fields of the dataset               */
    const int32_t *cat;  /* n_cat categorical ids                           */
    size_t n_num;        /* numerical features of the dataset               */
    const float *num;    /* n_num numerical values, NULL when n_num = 0     */
} rmtl_env_state;
#define RMTL_ENV_STATE_VERSION 1u /* layout version of rmtl_env_state in this header */
/* Initialiser of rmtl_env_state: its version, everything else zero. */
#define RMTL_ENV_STATE_INIT {RMTL_ENV_STATE_VERSION, 0, 0, 0, 0, NULL, 0, NULL}

/** What a step returns. `reward` is borrowed from the env until its next
 *  step or reset; the other arrays point into the dataset. Initialise
 *  with RMTL_ENV_STEP_INIT. */
typedef struct rmtl_env_step_result {
    uint32_t version;        /* RMTL_ENV_STEP_VERSION                       */
    size_t n_tasks;          /* tasks T of the env                          */
    const float *reward;     /* n_tasks rewards r_t,k ≤ 0                   */
    const float *labels;     /* n_tasks labels y_t,k of the state acted on  */
    int done;                /* 1: that state was the session's last        */
    size_t next_step;        /* the next state s_(t+1); when done, the last
                                state again (the MDP masks it with done)   */
    size_t next_row;         /* its row in the dataset                      */
    const int32_t *next_cat; /* n_cat ids                                   */
    const float *next_num;   /* n_num values, NULL when n_num = 0           */
} rmtl_env_step_result;
#define RMTL_ENV_STEP_VERSION 1u /* layout version of rmtl_env_step_result in this header */
/* Initialiser of rmtl_env_step_result: its version, everything else zero. */
#define RMTL_ENV_STEP_INIT {RMTL_ENV_STEP_VERSION, 0, NULL, NULL, 0, 0, 0, NULL, NULL}

/** Starts an episode (abandoning any running one) and fills `*out`, whose
 *  version the caller set, with its first state. [per-object] */
RMTL_API int rmtl_env_reset(rmtl_env_state *out, rmtl_env *env);
/** Takes `action` (n_tasks values, the env's number of tasks, each in
 *  [0, 1]) in the current state and fills `*out`. Errors (nothing changes):
 *  RMTL_EINVAL for a wrong n_tasks, a NULL argument or an action outside
 *  [0, 1] (naming the task and value); RMTL_ENUMERIC for a NaN or infinite
 *  action; RMTL_ESTATE before the first reset or after the episode ended
 *  (reset starts the next). [per-object] */
RMTL_API int rmtl_env_step(rmtl_env_step_result *out, rmtl_env *env, const float *action,
                           size_t n_tasks);
/** The current state again (after reset or a step that was not done), into
 *  `*out`. RMTL_ESTATE when no episode is running. [per-object] */
RMTL_API int rmtl_env_current(rmtl_env_state *out, const rmtl_env *env);

/* ---------------------------------------------------------------------- */
/* Env (simulator)                                                         */
/* ---------------------------------------------------------------------- */
/*
 * An rmtl_env in simulator mode is a seeded synthetic world (users with
 * latent preferences and observable features, items with features, a
 * hidden ground truth of per-task behaviour probabilities) in which user
 * sessions are played out: at each request the policy under test scores
 * the candidate items, the top `sim.top_l` are shown, the user's
 * behaviours (click, purchase, like) are sampled, and the user leaves
 * with a probability that falls with the request's reward. docs/simulator.md
 * gives the model. The host drives the loop:
 *
 *     rmtl_env_sim_reset(env);
 *     do {
 *         rmtl_env_sim_request(&req, env);      // candidates and features
 *         score req.n candidates into `scores`;
 *         rmtl_env_sim_step(&fb, env, scores, req.n);
 *     } while (!fb.done);
 *
 * Everything is deterministic: the same config (runtime.seed included)
 * gives the same world and, for the same scores, the same sessions.
 * An env is [per-object]: one thread at a time, except where a call says
 * otherwise.
 */
#define RMTL_SIM_MAX_TASKS 3 /* behaviours: 0 click, 1 purchase, 2 like */
#define RMTL_SIM_USER_CATS 3 /* user fields: segment, activity level, region */
#define RMTL_SIM_ITEM_CATS 4 /* item fields: category, brand, price bucket, popularity bucket */

/** Creates a simulator from the `sim.*`, `fusion.reward_coef` (one
 *  coefficient per task) and `fusion.state.*_dim` keys of `cfg`, seeded with
 *  runtime.seed; `cfg` is only read during the call. Bad or inconsistent
 *  values fail with RMTL_ECONFIG naming the key. RMTL_ENOMEM. Free with
 *  rmtl_env_free(). [thread-safe] */
RMTL_API int rmtl_env_sim_create(rmtl_env **out, const rmtl_config *cfg);
/** Frees an env of any mode; accepts NULL. Every view borrowed from the
 *  env becomes invalid. */
RMTL_API void rmtl_env_free(rmtl_env *env);

/** What a simulator looks like, for sizing the host's buffers and
 *  embedding tables. Transparent, versioned: initialise with
 *  RMTL_SIM_INFO_INIT. */
typedef struct rmtl_sim_info {
    uint32_t version;      /* RMTL_SIM_INFO_VERSION                          */
    uint32_t users;        /* user ids are 0 .. users-1                      */
    uint32_t items;        /* item ids are 0 .. items-1                      */
    uint32_t tasks;        /* behaviours per shown item (1..3)               */
    size_t candidates;     /* items scored per request                       */
    size_t top_l;          /* items shown per request                        */
    size_t max_requests;   /* a session ends after at most this many         */
    size_t sessions;       /* sim.sessions: the config's evaluation length   */
    size_t user_dim;       /* float features per user                       */
    size_t item_dim;       /* float features per item                       */
    size_t context_dim;    /* float context features per request            */
    /* Vocabulary size of each categorical field, the reserved id 0
     * included: ids run from 1 to card - 1. */
    uint32_t user_card[RMTL_SIM_USER_CATS]; /* segment, activity, region    */
    uint32_t item_card[RMTL_SIM_ITEM_CATS]; /* category, brand, price and
                                               popularity buckets           */
    double reward_coef[RMTL_SIM_MAX_TASKS]; /* c_k of r = Σ c_k·v_k         */
    double position_decay; /* P(click at position k) = (1+k)^-decay · P(click) */
} rmtl_sim_info;
#define RMTL_SIM_INFO_VERSION 1u /* layout version of rmtl_sim_info in this header */
/* Initialiser of rmtl_sim_info: its version, everything else zero. */
#define RMTL_SIM_INFO_INIT                                                     \
    {RMTL_SIM_INFO_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0, 0, 0}, {0, 0, 0, 0}, \
     {0, 0, 0}, 0}

/** Fills `*out` (whose version the caller set). RMTL_EINVAL for NULL, an
 *  env that is not a simulator, or an unknown version. [per-object] */
RMTL_API int rmtl_env_sim_info(rmtl_sim_info *out, const rmtl_env *env);

/** A request: the session's user, the context, and the candidates with
 *  their features, in the order the scores must follow. Filled by the
 *  library; every pointer is borrowed from the env until its next
 *  rmtl_env_sim_step() or rmtl_env_sim_reset() (or, inside a policy
 *  callback, until the callback returns). Transparent, versioned:
 *  initialise with RMTL_SIM_REQUEST_INIT. Categorical ids start at 1
 *  (0 is the reserved unknown id), as rmtl_batch expects. */
typedef struct rmtl_sim_request {
    uint32_t version;         /* RMTL_SIM_REQUEST_VERSION                     */
    uint32_t user;            /* user id                                      */
    uint32_t request;         /* index of this request in its session, from 0 */
    uint32_t tasks;           /* behaviours per shown item                    */
    uint64_t session;         /* index of the session in its stream           */
    size_t n_user_cat;        /* RMTL_SIM_USER_CATS                           */
    const int32_t *user_cat;  /* segment, activity level, region             */
    size_t user_dim;          /* floats in user_feat                          */
    const float *user_feat;   /* user_dim observable floats                   */
    size_t context_dim;       /* floats in context                            */
    const float *context;     /* context_dim floats, see docs/simulator.md    */
    size_t n;                 /* candidates                                   */
    const uint32_t *items;    /* n item ids, distinct                         */
    size_t n_item_cat;        /* RMTL_SIM_ITEM_CATS                           */
    const int32_t *item_cat;  /* n × n_item_cat: category, brand, price and
                                 popularity buckets                           */
    size_t item_dim;          /* floats per candidate in item_feat            */
    const float *item_feat;   /* n × item_dim observable floats               */
    const float *price;       /* n prices                                     */
    /* Logging only (rmtl_env_sim_log with action_dim > 0), else 0 and
     * NULL: n × action_dim buffers the policy fills with its fusion action
     * for each candidate and the trust box around it; the rows of the
     * shown items are written to the log. */
    size_t action_dim;        /* floats per candidate in the three below      */
    float *action;            /* n × action_dim fusion actions                */
    float *box_lo;            /* n × action_dim trust-box lower bounds        */
    float *box_hi;            /* n × action_dim trust-box upper bounds        */
} rmtl_sim_request;
#define RMTL_SIM_REQUEST_VERSION 1u /* layout version of rmtl_sim_request in this header */
/* Initialiser of rmtl_sim_request: its version, everything else zero. */
#define RMTL_SIM_REQUEST_INIT                                                               \
    {RMTL_SIM_REQUEST_VERSION, 0, 0, 0, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, \
     NULL, NULL, 0, NULL, NULL, NULL}

/** What happened at a step. Pointers are borrowed until the next step or
 *  reset. Initialise with RMTL_SIM_FEEDBACK_INIT. */
typedef struct rmtl_sim_feedback {
    uint32_t version;          /* RMTL_SIM_FEEDBACK_VERSION                    */
    uint32_t request;          /* index of the request just served            */
    size_t n_shown;            /* top_l                                       */
    const uint32_t *shown;     /* candidate indices shown, best first          */
    const uint32_t *items;     /* their item ids                              */
    size_t tasks;              /* behaviours per shown item                   */
    const float *behaviours;   /* n_shown × tasks, 0 or 1 (purchase and like
                                  only ever follow a click)                   */
    const float *pair_reward;  /* n_shown: Σ_k c_k·behaviour_k of each item   */
    double reward;             /* this request's reward: Σ pair_reward        */
    double session_reward;     /* cumulative over the session so far          */
    int done;                  /* 1: the user left (or max_requests was hit)  */
} rmtl_sim_feedback;
#define RMTL_SIM_FEEDBACK_VERSION 1u /* layout version of rmtl_sim_feedback in this header */
/* Initialiser of rmtl_sim_feedback: its version, everything else zero. */
#define RMTL_SIM_FEEDBACK_INIT \
    {RMTL_SIM_FEEDBACK_VERSION, 0, 0, NULL, NULL, 0, NULL, NULL, 0.0, 0.0, 0}

/** Starts a new session (abandoning any current one): the next user from
 *  the env's own session stream, and the first request. The k-th reset
 *  since creation plays session k of the stream rmtl_env_sim_evaluate()
 *  calls `runtime.seed`. [per-object] */
RMTL_API int rmtl_env_sim_reset(rmtl_env *env);
/** Fills `*out` (version set by the caller) with the pending request.
 *  RMTL_ESTATE before the first reset or after the session ended.
 *  [per-object] */
RMTL_API int rmtl_env_sim_request(rmtl_sim_request *out, const rmtl_env *env);
/** Serves the pending request with the host's `scores` (n = the request's
 *  n, one per candidate, higher is better): ranks them in descending order
 *  (ties: lower index first), shows the top_l, samples the user's
 *  behaviours, fills `*out` and builds the next request unless the
 *  session ended (out->done). Wrong n or NULL → RMTL_EINVAL, a NaN or
 *  infinite score → RMTL_ENUMERIC, no pending request (before reset, after
 *  done) → RMTL_ESTATE; on any error nothing changes. [per-object] */
RMTL_API int rmtl_env_sim_step(rmtl_sim_feedback *out, rmtl_env *env, const float *scores,
                               size_t n);

/** Ground truth of a user-item pair at the top position: the first
 *  `tasks` of P(click), P(purchase), P(like) (marginals: P(purchase) =
 *  P(click)·P(purchase | click)) into `probs` (capacity >= tasks, else
 *  RMTL_EINVAL; so are ids out of range). Reads only the immutable world:
 *  [thread-safe] with other read-only calls on the same env. */
RMTL_API int rmtl_env_sim_true_probs(const rmtl_env *env, uint32_t user, uint32_t item,
                                     float *probs, size_t capacity);

/** A policy: writes one score per candidate of `req` into `scores`
 *  (req->n of them). Returns 0, or an error code (< 0) that stops the run
 *  and is returned by the caller. */
typedef int (*rmtl_sim_policy_fn)(float *scores, const rmtl_sim_request *req, void *payload);

/** Built-in oracle policy; `payload` is the (const) env the request came
 *  from. Scores each candidate by its true expected reward Σ_k c_k·P(k),
 *  which ranks optimally for the request's expected reward. */
RMTL_API int rmtl_env_sim_oracle_policy(float *scores, const rmtl_sim_request *req,
                                        void *payload);
/** Built-in random policy; `payload` is a `uint64_t *` random state that
 *  each call advances (seed it, any value; same state → same scores).
 *  [thread-safe] for distinct states. */
RMTL_API int rmtl_env_sim_random_policy(float *scores, const rmtl_sim_request *req,
                                        void *payload);

/** Results of a run of sessions. Initialise with RMTL_SIM_STATS_INIT. */
typedef struct rmtl_sim_stats {
    uint32_t version;   /* RMTL_SIM_STATS_VERSION                           */
    size_t sessions;    /* sessions played                                  */
    size_t requests;    /* requests served in all                           */
    size_t impressions; /* items shown in all                               */
    double reward_mean; /* cumulative session reward: mean over sessions    */
    double reward_std;  /* ... and its sample standard deviation            */
    double length_mean; /* requests per session                             */
    double length_std;  /* ... and its sample standard deviation            */
    double rate[RMTL_SIM_MAX_TASKS]; /* behaviours per shown item (click,
                                        purchase, like; 0 past tasks)        */
} rmtl_sim_stats;
#define RMTL_SIM_STATS_VERSION 1u /* layout version of rmtl_sim_stats in this header */
/* Initialiser of rmtl_sim_stats: its version, everything else zero. */
#define RMTL_SIM_STATS_INIT \
    {RMTL_SIM_STATS_VERSION, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, {0.0, 0.0, 0.0}}

/** Plays sessions 0 .. n_sessions-1 of the stream `seed` with the policy
 *  `fn` and summarises them in `*out`. A session's user depends only on
 *  (seed, index), and its random numbers come from streams of its own, so
 *  policies run with the same seed face the same users (common random
 *  numbers). The host's session (reset/request/step) is left untouched.
 *  A failing callback stops the run with its code (RMTL_ERROR if it
 *  returned a positive value); bad scores fail as in rmtl_env_sim_step().
 *  `*out` is written only on success. [per-object] */
RMTL_API int rmtl_env_sim_evaluate(rmtl_sim_stats *out, rmtl_env *env, size_t n_sessions,
                                   uint64_t seed, rmtl_sim_policy_fn fn, void *payload);

/** As rmtl_env_sim_evaluate() (same sessions for the same seed and
 *  policy; `out` may be NULL), and writes the impressions as CSV to
 *  `csv_path`: a header, then one row per shown item (docs/simulator.md
 *  lists the columns; examples/schemas/sim.yaml is the dataset schema).
 *  With action_dim > 0 the policy fills req->action, req->box_lo and
 *  req->box_hi, and the log gains the columns action_<j>, box_lo_<j>,
 *  box_hi_<j>. The file is replaced atomically: on any error (RMTL_EIO
 *  naming the path, or the policy's) a previous file is left as it was.
 *  [per-object] */
RMTL_API int rmtl_env_sim_log(rmtl_sim_stats *out, rmtl_env *env, const char *csv_path,
                              size_t n_sessions, uint64_t seed, size_t action_dim,
                              rmtl_sim_policy_fn fn, void *payload);

/* ---------------------------------------------------------------------- */
/* Replay                                                                  */
/* ---------------------------------------------------------------------- */
/** A view of `rows` transitions (s, a, s', r, done, y) of the session MDP
 *  (docs/rmtl.md). Shapes follow the object that reads it: n_cat ids and
 *  n_num floats per state, T = n_tasks values per action, reward and label
 *  row. Arrays are row-major; `num` and `next_num` may be NULL when
 *  n_num = 0. Transparent: it starts with a version and only ever grows at
 *  the end (initialise with RMTL_TRANSITIONS_INIT). Borrowed for the call
 *  when passed in; borrowed from the library when it fills one. */
typedef struct rmtl_transitions {
    uint32_t version;        /* RMTL_TRANSITIONS_VERSION                      */
    size_t rows;             /* number of transitions                         */
    const int32_t *cat;      /* rows × n_cat: state s, categorical ids        */
    const float *num;        /* rows × n_num: state s, numerical values       */
    const float *action;     /* rows × T: action a, each in [0, 1]            */
    const int32_t *next_cat; /* rows × n_cat: next state s'                   */
    const float *next_num;   /* rows × n_num                                  */
    const float *reward;     /* rows × T: per-task rewards r                  */
    const uint8_t *done;     /* rows: 1 when s was the session's last state    */
    const float *labels;     /* rows × T: labels y of s, 0 or 1               */
} rmtl_transitions;
#define RMTL_TRANSITIONS_VERSION 1u /* layout version of rmtl_transitions in this header */
/* Initialiser of rmtl_transitions: its version, everything else zero. */
#define RMTL_TRANSITIONS_INIT \
    {RMTL_TRANSITIONS_VERSION, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}

/** Creates an empty ring buffer of `capacity` transitions (SPEC:
 *  rl.buffer_size) with states of n_cat ids and n_num floats and T =
 *  n_tasks tasks. It stores ids and floats, never embedded vectors: about
 *  4·(2·n_cat + 2·n_num + 3·T) + 5 bytes per transition, allocated up front.
 *  `seed` seeds the sampling and the fill helpers' random numbers.
 *  Errors: RMTL_EINVAL (capacity 0 or above 2^31, n_tasks 0, no state
 *  fields), RMTL_ENOMEM. Free with rmtl_replay_free(). [thread-safe] */
RMTL_API int rmtl_replay_create(rmtl_replay **out, size_t capacity, size_t n_cat,
                                size_t n_num, size_t n_tasks, uint64_t seed);
/** Accepts NULL. Invalidates every view the buffer handed out. [per-object] */
RMTL_API void rmtl_replay_free(rmtl_replay *rb);
/** Transitions held (at most the capacity); 0 for NULL. [per-object] */
RMTL_API size_t rmtl_replay_size(const rmtl_replay *rb);
/** Capacity given at creation; 0 for NULL. [per-object] */
RMTL_API size_t rmtl_replay_capacity(const rmtl_replay *rb);

/** Appends the t->rows transitions of `t` (copied), overwriting the oldest
 *  ones once the buffer is full. All rows are checked before any is
 *  stored: RMTL_EINVAL for a missing array, an action outside [0, 1] or a
 *  done flag other than 0/1 (naming the row and task), RMTL_ENUMERIC for
 *  NaN or infinite floats; the buffer is then unchanged. [per-object] */
RMTL_API int rmtl_replay_store(rmtl_replay *rb, const rmtl_transitions *t);
/** Draws `batch` distinct transitions uniformly at random (without
 *  replacement within the batch) into `*out` (whose version the caller
 *  set). The arrays are borrowed from `rb` until its next sample, store,
 *  fill or free. Errors: RMTL_EINVAL for batch 0 or above the capacity,
 *  RMTL_ESTATE when the buffer holds fewer than `batch` transitions,
 *  RMTL_ENOMEM. [per-object] */
RMTL_API int rmtl_replay_sample(rmtl_transitions *out, rmtl_replay *rb, size_t batch);
/** Points `*out` (rows = 1) at the `index`-th oldest transition held:
 *  0 is the oldest, size − 1 the newest. Borrowed like a sample's arrays.
 *  RMTL_EINVAL when index >= size. [per-object] */
RMTL_API int rmtl_replay_get(rmtl_transitions *out, const rmtl_replay *rb, size_t index);

/** Walks `env` (dataset mode, borrowed for the call) with uniform random
 *  actions in [0, 1)^T and stores `n` transitions: the warm-up behaviour
 *  policy. The env's running episode goes on where it was; a new one
 *  starts after each done. Random numbers come from the buffer's seed.
 *  Errors: RMTL_EINVAL (a simulator env, or shapes that differ from the
 *  env's: n_cat, n_num, tasks), RMTL_ENOMEM. [per-object] on both. */
RMTL_API int rmtl_replay_fill_random(rmtl_replay *rb, rmtl_env *env, size_t n);

/* ---------------------------------------------------------------------- */
/* Critic                                                                  */
/* ---------------------------------------------------------------------- */
/*
 * One critic per task estimates Q_k(s, a_k) ≤ 0, the discounted sum of the
 * task's future rewards (docs/rmtl.md): the state's field vectors (its
 * embedding starts as a copy of the actor's) and Linear(1 → E) of the
 * task's action feed a bottom MLP (rl.critic.bottom) and a tower
 * (rl.critic.tower) whose output x gives Q = −ReLU(x). Each critic owns a
 * target copy, its Adam optimiser (rl.critic_lr, optim.*) and its random
 * streams. Critics only depend on the input layout, so critics trained
 * with one actor can weigh the loss of any model with the same inputs and
 * tasks. A critic is [per-object] unless a call says otherwise.
 */

/** Creates the critic of task `task` (< the model's tasks) for states laid
 *  out like `model`'s inputs, its embedding copied from the model's, its
 *  other weights drawn from runtime.seed and the task; the target starts
 *  equal to it. Hyper-parameters come from `cfg` (rl.*, optim.*,
 *  model.dropout, runtime.*; read during the call only); the embedding
 *  dimension is the model's. Errors: RMTL_EINVAL, RMTL_ECONFIG,
 *  RMTL_ENOMEM. Free with rmtl_critic_free(). [thread-safe] */
RMTL_API int rmtl_critic_create(rmtl_critic **out, const rmtl_config *cfg,
                                const rmtl_model *model, size_t task);
/** Accepts NULL. [per-object] */
RMTL_API void rmtl_critic_free(rmtl_critic *critic);
/** The task this critic scores; 0 for NULL. [per-object] */
RMTL_API size_t rmtl_critic_task(const rmtl_critic *critic);
/** Critic updates done so far; 0 for NULL. [per-object] */
RMTL_API uint64_t rmtl_critic_updates(const rmtl_critic *critic);

/** Q(s_i, a_i) for every row of `states` (cat and num used) with the
 *  actions action[i·stride], in evaluation mode, into q (capacity >=
 *  rows). Read-only on the critic: [thread-safe with one ctx per thread]
 *  (ctx NULL: a temporary one). Errors: RMTL_EINVAL (a batch that does not
 *  fit, stride 0, small capacity), RMTL_ENUMERIC (NaN/Inf feature or
 *  action). */
RMTL_API int rmtl_critic_q(const rmtl_critic *critic, rmtl_ctx *ctx, const rmtl_batch *states,
                           const float *action, size_t stride, float *q, size_t capacity);

/** One critic step on `batch` (TD3 style, docs/rmtl.md):
 *    a'   = π'(s')_k + clip(N(0, rl.policy_noise), −rl.noise_clip, rl.noise_clip)
 *    y    = r_k + rl.gamma·(1 − done)·min(Q'(s', a'), Q(s', a'))
 *    L    = mean_i w_i·(Q(s_i, a_ik) − y_i)²
 *  where π' is the actor's target and w the inverse-propensity weights of
 *  the batch's labels when rl.ips is true (else 1); then one Adam step.
 *  `*loss` (may be NULL) receives L. `actor` is only read. Errors:
 *  RMTL_EINVAL (bad transitions, an actor of other inputs or tasks),
 *  RMTL_ENUMERIC (the weights are then unchanged), RMTL_ENOMEM. [per-object] */
RMTL_API int rmtl_critic_update(rmtl_critic *critic, const rmtl_actor *actor,
                                const rmtl_transitions *batch, double *loss);
/** Moves the target towards the critic: θ' ← τ·θ + (1 − τ)·θ', τ =
 *  rl.tau. [per-object] */
RMTL_API int rmtl_critic_soft_update(rmtl_critic *critic);

/** The RMTL loss weights of a batch (docs/rmtl.md): with ŷ = model's
 *  predictions, weights[i·T + k] = 1 − lambda·Q_k(s_i, ŷ_ik) for the T
 *  tasks of `model` (rows × T floats, capacity >= rows·T). `critics` holds
 *  one critic per task (any order) built for the model's inputs; Q is
 *  evaluated without gradients, so pass the weights as batch->weights to
 *  rmtl_model_train_step(). With Q ≤ 0 every weight is >= 1.
 *  [thread-safe with one ctx per thread] (ctx NULL: a temporary one).
 *  Errors: RMTL_EINVAL (critics missing or of other inputs, a batch that
 *  does not fit, lambda negative or not finite, small capacity),
 *  RMTL_ENUMERIC, RMTL_ENOMEM. */
RMTL_API int rmtl_critic_loss_weights(const rmtl_critic *const *critics, size_t n_critics,
                                      const rmtl_model *model, rmtl_ctx *ctx,
                                      const rmtl_batch *batch, double lambda, float *weights,
                                      size_t capacity);

/** Writes the critic (config, input layout, weights, target, Adam state,
 *  random streams, update count) to a checkpoint, atomically (see
 *  rmtl_model_save()); loading it resumes training exactly. RMTL_EIO.
 *  [per-object] */
RMTL_API int rmtl_critic_save(const rmtl_critic *critic, const char *path);
/** The same into memory: `*out` (free with rmtl_free()) of `*len` bytes.
 *  [per-object] */
RMTL_API int rmtl_critic_save_buffer(void **out, size_t *len, const rmtl_critic *critic);
/** Loads a critic checkpoint. RMTL_EFORMAT (damaged, or another kind of
 *  checkpoint), RMTL_EVERSION, RMTL_EIO, RMTL_ENOMEM. [thread-safe] */
RMTL_API int rmtl_critic_load(rmtl_critic **out, const char *path);
/** As rmtl_critic_load() from `len` bytes in memory (borrowed for the
 *  call). [thread-safe] */
RMTL_API int rmtl_critic_load_buffer(rmtl_critic **out, const void *buf, size_t len);

/* ---------------------------------------------------------------------- */
/* Agent and actor                                                         */
/* ---------------------------------------------------------------------- */
/*
 * An actor is an MTL model of any architecture under RL training, the
 * policy π(s) = its T probabilities: it owns the model, a target copy
 * (the critics' TD targets read it), a frozen copy of the pre-trained
 * model (the behaviour-cloning anchor) and its own Adam optimiser
 * (rl.actor_lr). An agent owns an actor and one critic per task and runs
 * the schedule of docs/rmtl.md in one rmtl_agent_update() call:
 *
 *     rmtl_replay_fill_random(rb, env, rl.buffer_size);        // warm-up
 *     for (step = 0; step < n; step++) {                       // or, with progress:
 *         rmtl_replay_sample(&batch, rb, rl.batch_size);       // rmtl_agent_train(
 *         rmtl_agent_update(agent, &batch, &report);           //   &report, agent, rb,
 *     }                                                        //   n, fn, payload);
 *     weights = rmtl_agent_loss_weights(agent, model, ...);   // RMTL loss
 *
 * Actors and agents are training handles: [per-object], the host
 * serialises their calls. Deterministic for a given seed and thread count.
 */

/** Creates an actor from a pre-trained model (copied three times: the
 *  policy, its target and the anchor; the policy's Adam starts fresh).
 *  Hyper-parameters from `cfg` (rl.*, optim.*, runtime.*; read during the
 *  call only). Errors: RMTL_EINVAL, RMTL_ECONFIG, RMTL_ENOMEM. Free with
 *  rmtl_actor_free(). [thread-safe] */
RMTL_API int rmtl_actor_create(rmtl_actor **out, const rmtl_config *cfg,
                               const rmtl_model *pretrained);
/** Accepts NULL. [per-object] */
RMTL_API void rmtl_actor_free(rmtl_actor *actor);
/** The policy being trained, borrowed from the actor (valid until it is
 *  freed, changed by its updates): predict, evaluate or save it as any
 *  model; clone it for a snapshot. NULL for NULL. [per-object] */
RMTL_API const rmtl_model *rmtl_actor_model(const rmtl_actor *actor);
/** Actor updates done so far; 0 for NULL. [per-object] */
RMTL_API uint64_t rmtl_actor_updates(const rmtl_actor *actor);

/** The policy's actions π(s) for every row of `states` into `actions`
 *  (rows × T, capacity >= rows·T). With `explore` non-zero each value gets
 *  clip(N(0, rl.explore_noise), −rl.noise_clip, rl.noise_clip) added and
 *  is clamped to [0, 1] (the noise comes from the actor's seeded stream).
 *  Errors as rmtl_model_predict(). [per-object] */
RMTL_API int rmtl_actor_act(rmtl_actor *actor, const rmtl_batch *states, int explore,
                            float *actions, size_t capacity);
/** One actor step on the states of `batch`:
 *    L = −(1/B)·Σ_i Σ_k w_ik·Q_k(s_i, π_k(s_i)) + β·(1/P)·Σ_p mean((θ_p − θ0_p)²)
 *  with w the IPS weights when rl.ips (else 1), β = rl.bc_weight, θ0 the
 *  anchor and P the number of parameter tensors; the critics are not
 *  changed. `critics` holds one critic per task, any order. `*loss` (may
 *  be NULL) receives L. Errors: RMTL_EINVAL, RMTL_ENUMERIC (weights
 *  unchanged), RMTL_ENOMEM. [per-object] on the actor and the critics */
RMTL_API int rmtl_actor_update(rmtl_actor *actor, rmtl_critic *const *critics,
                               size_t n_critics, const rmtl_transitions *batch, double *loss);
/** Moves the target towards the policy: θ' ← τ·θ + (1 − τ)·θ', τ = rl.tau. [per-object] */
RMTL_API int rmtl_actor_soft_update(rmtl_actor *actor);

/** Walks `env` (dataset mode) with the actor plus exploration noise (as
 *  rmtl_actor_act() with explore) and stores `n` transitions, continuing
 *  the env's running episode. The actions of a session are computed in
 *  one batch. Errors: as rmtl_replay_fill_random(), RMTL_EINVAL for an
 *  actor whose inputs or tasks differ from the env's. [per-object] on all
 *  three. */
RMTL_API int rmtl_replay_fill_actor(rmtl_replay *rb, rmtl_env *env, rmtl_actor *actor,
                                    size_t n);

/** Writes the actor (its model, target, anchor, Adam state, noise stream
 *  and counter) to a checkpoint atomically; loading resumes exactly. [per-object] */
RMTL_API int rmtl_actor_save(const rmtl_actor *actor, const char *path);
/** The same into memory: `*out` (free with rmtl_free()) of `*len` bytes.
 *  [per-object] */
RMTL_API int rmtl_actor_save_buffer(void **out, size_t *len, const rmtl_actor *actor);
/** Loads an actor checkpoint. Errors as rmtl_critic_load(). [thread-safe] */
RMTL_API int rmtl_actor_load(rmtl_actor **out, const char *path);
/** As rmtl_actor_load() from `len` bytes in memory (borrowed for the
 *  call). [thread-safe] */
RMTL_API int rmtl_actor_load_buffer(rmtl_actor **out, const void *buf, size_t len);

/** Creates an agent: an actor of `pretrained` and one critic per task,
 *  built as rmtl_actor_create() and rmtl_critic_create() do. Free with
 *  rmtl_agent_free(). [thread-safe] */
RMTL_API int rmtl_agent_create(rmtl_agent **out, const rmtl_config *cfg,
                               const rmtl_model *pretrained);
/** Accepts NULL. [per-object] */
RMTL_API void rmtl_agent_free(rmtl_agent *agent);
/** The agent's actor, borrowed (valid while the agent lives): use it with
 *  the granular calls, read its model, or save it alone. NULL for NULL.
 *  [per-object] */
RMTL_API rmtl_actor *rmtl_agent_actor(rmtl_agent *agent);
/** The agent's critic of task `task`, borrowed like rmtl_agent_actor().
 *  NULL for NULL or a task out of range. [per-object] */
RMTL_API rmtl_critic *rmtl_agent_critic(rmtl_agent *agent, size_t task);
/** Agent updates done so far; 0 for NULL. [per-object] */
RMTL_API uint64_t rmtl_agent_steps(const rmtl_agent *agent);

/** What one rmtl_agent_update() did. Initialise with
 *  RMTL_AGENT_REPORT_INIT; `critic_loss` is borrowed from the agent until
 *  its next update. */
typedef struct rmtl_agent_report {
    uint32_t version;          /* RMTL_AGENT_REPORT_VERSION                 */
    uint64_t step;             /* updates done, this one included           */
    size_t n_tasks;            /* tasks T: one critic each                  */
    const double *critic_loss; /* n_tasks critic losses                     */
    int actor_updated;         /* 1 when the actor took a step              */
    double actor_loss;         /* its loss, NaN when it did not             */
    int targets_updated;       /* 1 when the targets were soft-updated      */
} rmtl_agent_report;
#define RMTL_AGENT_REPORT_VERSION 1u /* layout version of rmtl_agent_report in this header */
/* Initialiser of rmtl_agent_report: its version, everything else zero. */
#define RMTL_AGENT_REPORT_INIT {RMTL_AGENT_REPORT_VERSION, 0, 0, NULL, 0, 0.0, 0}

/** One step of the schedule on `batch` (t = updates done before it):
 *    every critic:  rmtl_critic_update() (the target actions computed once);
 *    the actor:     rmtl_actor_update() when t >= rl.init_training_step and
 *                   (t + 1) is a multiple of rl.actor_update_freq;
 *    the targets:   soft updates of every critic and the actor when (t + 1)
 *                   is a multiple of rl.soft_update_freq.
 *  `report` (may be NULL; version set by the caller) says what happened.
 *  Errors: RMTL_EINVAL (bad transitions), RMTL_ENUMERIC, RMTL_ENOMEM; a
 *  failure after the first critic's step leaves the critics updated so
 *  far updated and the step count unchanged. [per-object] */
RMTL_API int rmtl_agent_update(rmtl_agent *agent, const rmtl_transitions *batch,
                               rmtl_agent_report *report);

/** Registers (copies) a gradient exchange (see rmtl_model_set_grad_exchange()
 *  for the contract) for the agent's updates; NULL clears it. Every critic
 *  update and every actor update of rmtl_agent_update() exchanges its own
 *  gradients (one dense buffer + one gather per embedding table each; the
 *  row count is batch->rows), and so do rmtl_critic_update() and
 *  rmtl_actor_update() on the agent's own critics and actor. RMTL_EINVAL
 *  for a NULL agent, an unknown version or a NULL `allreduce`.
 *  [per-object] */
RMTL_API int rmtl_agent_set_grad_exchange(rmtl_agent *agent, const rmtl_grad_exchange *exchange);
/** Runs `steps` updates of the schedule, each on rl.batch_size
 *  transitions (at most the buffer's size) drawn by rmtl_replay_sample()
 *  from `rb`: the loop of the overview above as one call. `*last` (may be
 *  NULL; version set by the caller) receives the report of the last update
 *  taken. `fn` (may be NULL) receives the updates done of `steps` and the
 *  running mean over them of the mean critic loss; returning non-zero
 *  stops after the update just taken with RMTL_ESTATE, leaving a
 *  consistent agent (rmtl_agent_steps() counts the updates taken). Errors:
 *  RMTL_EINVAL (NULL handle, unknown report version, a buffer of other
 *  shapes), RMTL_ESTATE (empty buffer with steps > 0, or cancelled), and
 *  those of rmtl_agent_update(), after which the updates taken stay taken.
 *  [per-object] on the agent and the buffer */
RMTL_API int rmtl_agent_train(rmtl_agent_report *last, rmtl_agent *agent, rmtl_replay *rb,
                              size_t steps, rmtl_progress_fn fn, void *payload);

/** rmtl_critic_loss_weights() with the agent's critics and lambda =
 *  rl.lambda: the weights of the RMTL loss for fine-tuning `model` (any
 *  model with the agent's inputs and tasks, the actor's own included).
 *  [thread-safe with one ctx per thread], as long as no update runs. */
RMTL_API int rmtl_agent_loss_weights(const rmtl_agent *agent, const rmtl_model *model,
                                     rmtl_ctx *ctx, const rmtl_batch *batch, float *weights,
                                     size_t capacity);

/** Writes the whole agent (config, actor with its target, anchor and
 *  optimiser, every critic with its target and optimiser, step counters,
 *  random streams) to a checkpoint atomically: loading it and going on
 *  gives the same numbers, bit for bit, as never stopping. [per-object] */
RMTL_API int rmtl_agent_save(const rmtl_agent *agent, const char *path);
/** The same into memory: `*out` (free with rmtl_free()) of `*len` bytes.
 *  [per-object] */
RMTL_API int rmtl_agent_save_buffer(void **out, size_t *len, const rmtl_agent *agent);
/** Loads an agent checkpoint. Errors as rmtl_critic_load(). [thread-safe] */
RMTL_API int rmtl_agent_load(rmtl_agent **out, const char *path);
/** As rmtl_agent_load() from `len` bytes in memory (borrowed for the
 *  call). [thread-safe] */
RMTL_API int rmtl_agent_load_buffer(rmtl_agent **out, const void *buf, size_t len);

/* ---------------------------------------------------------------------- */
/* Fusion                                                                  */
/* ---------------------------------------------------------------------- */
/*
 * Multi-task fusion turns the T task scores p_1..p_T of a user-item pair
 * (from an MTL model) into one ranking score with an action a = (w, b):
 *   product (default): log fused = Σ_i w_i·log(p_i + b_i)   (a = w_1..w_T, b_1..b_T)
 *   sum:                   fused = Σ_i w_i·p_i              (a = w_1..w_T)
 * The product form is returned in log space: rank by it, exp() of it is
 * Π_i (p_i + b_i)^w_i. The action comes from an actor network trained by
 * reinforcement learning (EnhancedRL): with `fusion.granularity: pair` one
 * action per user-item pair from the enhanced state [user; item; scores;
 * context], with `user` one action per request from [user; context]. A
 * handle can also serve a fixed action (the usual hand-tuned baseline).
 * docs/fusion.md describes the MDP, the losses and the serving paths.
 *
 * Pair features. Everywhere in this API the features of one pair are the
 * state_dim = user_dim + item_dim + context_dim floats [user; item;
 * context] (fusion.state.*_dim), whatever the granularity (`user` reads
 * only the user and context parts); the T scores are passed separately,
 * each in [0, 1].
 *
 * Threads: serving calls (rmtl_fuse_scores, rmtl_fuse_scores_batch,
 * rmtl_fusion_explore) only read the handle, so any number of threads may
 * serve from one handle at once (batched calls with one rmtl_ctx per
 * thread). Calls that change the handle (train_step, deploy, set_fixed)
 * must not run while other threads use it.
 */
#define RMTL_FUSION_PAIR 0    /* granularity: one action per user-item pair */
#define RMTL_FUSION_USER 1    /* granularity: one action per request          */
#define RMTL_FUSION_PRODUCT 0 /* formula: Σ w_i·log(p_i + b_i)                */
#define RMTL_FUSION_SUM 1     /* formula: Σ w_i·p_i                            */

/** What a fusion handle expects. Initialise with RMTL_FUSION_INFO_INIT. */
typedef struct rmtl_fusion_info {
    uint32_t version;      /* RMTL_FUSION_INFO_VERSION                        */
    size_t tasks;          /* T: scores per pair (the length of model.tasks)  */
    size_t user_dim;       /* fusion.state.user_dim                           */
    size_t item_dim;       /* fusion.state.item_dim                           */
    size_t context_dim;    /* fusion.state.context_dim                        */
    size_t state_dim;      /* user_dim + item_dim + context_dim               */
    size_t action_dim;     /* 2T (product) or T (sum)                         */
    size_t reward_dim;     /* reward parts: the length of fusion.reward_coef  */
    int granularity;       /* RMTL_FUSION_PAIR or RMTL_FUSION_USER            */
    int formula;           /* RMTL_FUSION_PRODUCT or RMTL_FUSION_SUM          */
    int fixed;             /* 1 while a fixed action is served                */
    uint64_t steps;        /* training steps taken                            */
    size_t actor_params;   /* weights of the actor                            */
} rmtl_fusion_info;
#define RMTL_FUSION_INFO_VERSION 1u /* layout version of rmtl_fusion_info in this header */
/* Initialiser of rmtl_fusion_info: its version, everything else zero. */
#define RMTL_FUSION_INFO_INIT {RMTL_FUSION_INFO_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

/** Creates a fusion handle from the `fusion.*` keys of `cfg` (copied), with
 *  T = the number of `model.tasks`, a freshly initialised actor (seeded by
 *  runtime.seed) that is also the deployed policy, and its critics.
 *  RMTL_ECONFIG for an invalid config, or an actor too wide for the
 *  allocation-free serving path (every fusion.actor_hidden width and
 *  item_dim + T at most 2048). Free with rmtl_fusion_free(). [thread-safe] */
RMTL_API int rmtl_fusion_create(rmtl_fusion **out, const rmtl_config *cfg);
/** As rmtl_fusion_create() for serving the scores of `model`: T and the
 *  task names come from the model (they replace model.tasks in the
 *  handle's copy of `cfg`, so its checkpoints keep them). A config whose
 *  model.tasks was set (differs from its default) must name the model's
 *  tasks in the model's order: RMTL_ECONFIG naming both counts or both
 *  names. The state may be empty (fusion.state.*_dim 0, pair granularity
 *  with fusion.state.scores) to serve fixed weights or an actor that reads
 *  only the scores: pass `state` NULL with length 0. [thread-safe] */
RMTL_API int rmtl_fusion_create_for_model(rmtl_fusion **out, const rmtl_config *cfg,
                                          const rmtl_model *model);
/** Checks that `f` fuses the scores `model` predicts — the same number of
 *  tasks with the same names, in the same order — e.g. after loading a
 *  fusion checkpoint and a model checkpoint for serving. RMTL_EINVAL
 *  naming both counts (or both names) when they differ. [thread-safe] */
RMTL_API int rmtl_fusion_check_model(const rmtl_fusion *f, const rmtl_model *model);
/** Accepts NULL. */
RMTL_API void rmtl_fusion_free(rmtl_fusion *f);
/** Fills `*out`, whose version the caller set. [thread-safe] */
RMTL_API int rmtl_fusion_describe(rmtl_fusion_info *out, const rmtl_fusion *f);

/** Serves the fixed action `action` (action_dim values, within the bounds
 *  fusion.weight_min/max and bias_min/max) to every pair instead of the
 *  actor; NULL goes back to the deployed actor. RMTL_EINVAL for a wrong
 *  length or a value out of bounds (nothing changes). [per-object] */
RMTL_API int rmtl_fusion_set_fixed(rmtl_fusion *f, const float *action, size_t len);
/** Makes the actor as trained so far the served policy (and leaves fixed
 *  mode). Serving never sees a half-trained actor: training changes the
 *  actor, deploy publishes it. [per-object] */
RMTL_API int rmtl_fusion_deploy(rmtl_fusion *f);

/** Fuses the scores of ONE user-item pair. `state` holds the pair's
 *  state_dim features [user; item; context], `scores` its T task scores.
 *  Writes the fused score to `*fused` and, when `action` is not NULL, the
 *  action used (action_dim floats; `action_capacity` is its length).
 *  Reads the handle only and allocates nothing: any number of threads may
 *  call it on one handle at once. Its result equals, bit for bit, the
 *  result of rmtl_fuse_scores_batch() for the same pair.
 *  Errors, with nothing written: RMTL_EINVAL for NULL `f`, `fused` or
 *  inputs, a `state_len` other than state_dim, `n_scores` other than T,
 *  a score outside [0, 1] or a too small `action_capacity`; RMTL_ENUMERIC
 *  for a NaN or infinite feature or score (or an overflow in the actor).
 *  [thread-safe] */
RMTL_API int rmtl_fuse_scores(float *fused, const rmtl_fusion *f, const float *state,
                              size_t state_len, const float *scores, size_t n_scores,
                              float *action, size_t action_capacity);

/** The candidates of one request: the user and context parts once, then
 *  per candidate its item features and task scores. The dims are the
 *  caller's statement of what it passes and must equal the handle's.
 *  Borrowed for the call. Initialise with RMTL_FUSION_REQUEST_INIT. */
typedef struct rmtl_fusion_request {
    uint32_t version;     /* RMTL_FUSION_REQUEST_VERSION                    */
    size_t n;             /* candidates                                     */
    size_t user_dim;      /* user features: must equal the fusion's         */
    const float *user;    /* user_dim floats (NULL when 0)                  */
    size_t context_dim;   /* context features: must equal the fusion's      */
    const float *context; /* context_dim floats (NULL when 0)               */
    size_t item_dim;      /* item features: must equal the fusion's         */
    const float *items;   /* n × item_dim, row-major (NULL when item_dim 0) */
    size_t tasks;         /* task scores per candidate: the fusion's T       */
    const float *scores;  /* n × tasks, each in [0, 1]                      */
} rmtl_fusion_request;
#define RMTL_FUSION_REQUEST_VERSION 1u /* layout version of rmtl_fusion_request in this header */
/* Initialiser of rmtl_fusion_request: its version, an empty request. */
#define RMTL_FUSION_REQUEST_INIT {RMTL_FUSION_REQUEST_VERSION, 0, 0, NULL, 0, NULL, 0, NULL, 0, NULL}

/** Fuses the scores of every candidate of `req` in one pass of matrix
 *  products: `fused` receives req->n scores (`capacity` is its length) and
 *  `actions`, when not NULL, the n × action_dim actions
 *  (`actions_capacity` floats). Reads the handle only; `ctx` is the
 *  calling thread's context (NULL: a temporary one is allocated for the
 *  call). With a context, calls allocate nothing once the context has
 *  served a request of this size. Errors as rmtl_fuse_scores(), with
 *  nothing written; RMTL_ENOMEM when the context cannot grow.
 *  [thread-safe with one ctx per thread] */
RMTL_API int rmtl_fuse_scores_batch(const rmtl_fusion *f, rmtl_ctx *ctx,
                                    const rmtl_fusion_request *req, float *fused,
                                    size_t capacity, float *actions, size_t actions_capacity);

/** The behaviour policy for collecting training data: as
 *  rmtl_fuse_scores_batch(), but each action is the served policy's action
 *  μ_b plus uniform noise U(−ρ, ρ) per dimension (ρ = fusion.explore_width;
 *  one draw per pair, or per request at `user` granularity), clipped to the
 *  action bounds, and box_lo/box_hi receive its trust box μ_b ∓ ρ. Every
 *  output array holds `capacity` rows (fused: n floats; the others n ×
 *  action_dim). The noise comes from `*noise_state` (any value; advanced
 *  by the call, so a state per thread). [thread-safe with one ctx and one
 *  noise state per thread] */
RMTL_API int rmtl_fusion_explore(const rmtl_fusion *f, rmtl_ctx *ctx,
                                 const rmtl_fusion_request *req, uint64_t *noise_state,
                                 float *fused, float *actions, float *box_lo, float *box_hi,
                                 size_t capacity);

/** A batch of logged requests (transitions) for training. Every array is
 *  borrowed for the call and indexed by pair rows; a request r showed the
 *  rows rows[2r] .. rows[2r+1]-1 (at least one; in shown order, the first
 *  at position 0) and was followed in its session by the request that
 *  showed next_rows[2r] .. next_rows[2r+1]-1 (an empty range: the session
 *  ended after r). Rows may be shared: the next request of r is usually
 *  another request of the batch. At `user` granularity a request's state,
 *  action and box are those of its first row.
 *  Version 2 adds the logged unshown candidates that list-aware training
 *  (fusion.objective: list) learns from: their rows (reward rows ignored)
 *  and the weight ω = (n − l)/m of a uniform sample of m of a request's
 *  n − l unshown candidates (1 when all are logged). A version-1 batch, or
 *  NULL ranges, means no unshown candidate was logged: list training then
 *  ranks the shown rows only. Initialise with RMTL_FUSION_BATCH_INIT. */
typedef struct rmtl_fusion_batch {
    uint32_t version;         /* RMTL_FUSION_BATCH_VERSION                 */
    size_t requests;          /* transitions                               */
    const size_t *rows;       /* requests × 2: [begin, end) of shown rows   */
    const size_t *next_rows;  /* requests × 2: [begin, end) of next rows    */
    size_t n_rows;            /* pair rows in the arrays below             */
    size_t state_dim;         /* must equal the handle's                   */
    const float *state;       /* n_rows × state_dim [user; item; context]  */
    size_t tasks;             /* must equal the handle's T                */
    const float *scores;      /* n_rows × tasks, in [0, 1]                 */
    size_t action_dim;        /* must equal the handle's                   */
    const float *action;      /* n_rows × action_dim: the action served     */
    const float *box_lo;      /* n_rows × action_dim: lower box corners     */
    const float *box_hi;      /* n_rows × action_dim: upper box corners     */
    size_t reward_dim;        /* the length of fusion.reward_coef          */
    const float *reward;      /* n_rows × reward_dim behaviours v_k; pair
                                 reward part k is fusion.reward_coef[k]·v_k */
    /* version 2 */
    const size_t *cand_rows;  /* requests × 2: [begin, end) of the request's
                                 logged unshown candidates; NULL: none      */
    const size_t *next_cand_rows; /* requests × 2: the same for its next
                                 request; NULL: none                        */
    const float *cand_weight; /* requests × 2: ω of the request's and of its
                                 next request's candidates; NULL: all 1     */
    const float *behaviour;   /* n_rows: the behaviour policy's fused score
                                 F_b; NULL: the formula of the row's action */
} rmtl_fusion_batch;
#define RMTL_FUSION_BATCH_VERSION 2u /* layout version of rmtl_fusion_batch in this header */
/* Initialiser of rmtl_fusion_batch: its version, an empty batch. */
#define RMTL_FUSION_BATCH_INIT \
    {RMTL_FUSION_BATCH_VERSION, 0, NULL, NULL, 0, 0, NULL, 0, NULL, 0, NULL, NULL, NULL, 0, NULL, \
     NULL, NULL, NULL, NULL}

/** What a training step measured. Initialise with RMTL_FUSION_STATS_INIT. */
typedef struct rmtl_fusion_stats {
    uint32_t version;   /* RMTL_FUSION_STATS_VERSION                        */
    double critic_loss; /* TD loss, mean over the q × m critics             */
    double actor_loss;  /* the actor's loss (below)                          */
    double q;           /* mean over states of Σ_g Q̄_g(s, μ(s))             */
    double q_std;       /* mean over states of Σ_g std_m Q_(g,m)(s, μ(s))   */
    double penalty;     /* mean over states of the trust-box penalty d(μ(s)) */
    uint64_t steps;     /* training steps taken, this one included          */
} rmtl_fusion_stats;
#define RMTL_FUSION_STATS_VERSION 1u /* layout version of rmtl_fusion_stats in this header */
/* Initialiser of rmtl_fusion_stats: its version, everything else zero. */
#define RMTL_FUSION_STATS_INIT {RMTL_FUSION_STATS_VERSION, 0.0, 0.0, 0.0, 0.0, 0.0, 0}

/** One update on `batch`: every critic Q_(g,m) regresses the sum of its
 *  values over a request's shown pairs onto the sum of their group-g
 *  rewards plus γ·Σ φ(a')·Q'_(g,m)(s', a') over the next request's pairs
 *  (a' = target actor, φ discounts a' outside the next pair's trust box);
 *  then the actor minimises −Σ_g Q̄_g + η·d(μ(s)) + κ·Σ_g std_m Q_(g,m);
 *  then the target networks move by fusion.tau. The served policy does
 *  not change (see rmtl_fusion_deploy). `*stats` may be NULL.
 *  RMTL_EINVAL for a batch that does not fit the handle (naming the field),
 *  RMTL_ENUMERIC for NaN/Inf in it or a diverging update (the network
 *  whose update failed keeps its weights). [per-object] */
RMTL_API int rmtl_fusion_train_step(rmtl_fusion *f, const rmtl_fusion_batch *batch,
                                    rmtl_fusion_stats *stats);

/** Registers (copies) a gradient exchange (see rmtl_model_set_grad_exchange()
 *  for the contract) for rmtl_fusion_train_step(); NULL clears it. The
 *  critics' gradients are exchanged weighted by the requests of the local
 *  batch, the actor's by its units (shown pairs at `pair` granularity,
 *  requests at `user`); the stats become global means. RMTL_EINVAL for a
 *  NULL handle, an unknown version or a NULL `allreduce`. [per-object] */
RMTL_API int rmtl_fusion_set_grad_exchange(rmtl_fusion *f, const rmtl_grad_exchange *exchange);

/** MTF-GAUC of logged impressions: the AUC of `score` against the binary
 *  `label` within each user, averaged with weights = the user's number of
 *  impressions, over the users that have both labels (ties count one
 *  half). NaN when no user has both. RMTL_EINVAL for NULL arrays or a label
 *  other than 0 or 1, RMTL_ENUMERIC for a NaN score; RMTL_ENOMEM.
 *  [thread-safe] */
RMTL_API int rmtl_fusion_gauc(double *gauc, const int64_t *user, const float *score,
                              const float *label, size_t n);

/** Writes a checkpoint atomically: the config, the served policy (actor
 *  weights or fixed action) and, with RMTL_SAVE_TRAINING_STATE, everything
 *  needed to resume training exactly (actor, critics, targets, Adam
 *  moments, step counter, RNG). RMTL_EIO when the file cannot be written;
 *  a previous file at `path` is then intact. [per-object] */
RMTL_API int rmtl_fusion_save(const rmtl_fusion *f, const char *path, uint32_t flags);
/** The same into memory: `*out` (free with rmtl_free()) of `*len` bytes. */
RMTL_API int rmtl_fusion_save_buffer(void **out, size_t *len, const rmtl_fusion *f,
                                     uint32_t flags);
/** Loads a checkpoint written by rmtl_fusion_save(). Without training
 *  state the actor under training starts from the served policy and the
 *  critics fresh. RMTL_EFORMAT for a damaged file or one of another kind,
 *  RMTL_EVERSION for a newer format, RMTL_EIO when unreadable.
 *  [thread-safe] */
RMTL_API int rmtl_fusion_load(rmtl_fusion **out, const char *path);
/** As rmtl_fusion_load() from `len` bytes in memory (borrowed for the
 *  call). [thread-safe] */
RMTL_API int rmtl_fusion_load_buffer(rmtl_fusion **out, const void *buf, size_t len);

/* --- Fusion in the simulator ------------------------------------------ */
/*
 * Progressive training, evaluation and the fixed-weight baseline in the
 * session simulator (rmtl_env_sim_create). The simulator's state dims
 * (fusion.state.*) and reward coefficients come from the same config as
 * the fusion's. The T task scores of each candidate come from a scorer —
 * the host's MTL model — or, by default, from the simulator's true
 * probabilities of the first T behaviours (a perfect MTL model).
 */

/** Writes req->n × T task scores, each in [0, 1], into `scores`
 *  (`capacity` floats). Returns 0 or an error code (< 0) that stops the
 *  run and is returned by the caller. */
typedef int (*rmtl_fusion_scorer_fn)(float *scores, size_t capacity,
                                     const rmtl_sim_request *req, void *payload);

/** How to play sessions. Initialise with RMTL_FUSION_SIM_OPTS_INIT. */
typedef struct rmtl_fusion_sim_opts {
    uint32_t version;              /* RMTL_FUSION_SIM_OPTS_VERSION             */
    size_t sessions;               /* sessions to play; 0: sim.sessions        */
    uint64_t seed;                 /* evaluate, cem: the session stream        */
    size_t train_steps;            /* round: updates after collecting          */
    rmtl_fusion_scorer_fn scorer;  /* NULL: the simulator's true probabilities */
    void *scorer_payload;          /* passed to the scorer                     */
} rmtl_fusion_sim_opts;
#define RMTL_FUSION_SIM_OPTS_VERSION 1u /* layout version of rmtl_fusion_sim_opts in this header */
/* Initialiser of rmtl_fusion_sim_opts: its version, everything else zero or NULL. */
#define RMTL_FUSION_SIM_OPTS_INIT {RMTL_FUSION_SIM_OPTS_VERSION, 0, 0, 0, NULL, NULL}

/** An off-policy estimate of a policy's mean request reward (the sum over
 *  the shown slots of Σ_k c_k·v_k). Initialise with RMTL_FUSION_ESTIMATE_INIT. */
typedef struct rmtl_fusion_estimate {
    uint32_t version;   /* RMTL_FUSION_ESTIMATE_VERSION                          */
    size_t requests;    /* logged requests used                              */
    double snips;       /* self-normalised inverse propensity scoring        */
    double snips_lo;    /* its 95% confidence interval                       */
    double snips_hi;    /* (upper end)                                       */
    double dr;          /* doubly robust (the item critics' model plus the
                           self-normalised weighted residuals of items up to
                           fusion.ope_max_weight; = snips without critics) */
    double dr_lo;       /* its 95% confidence interval, widened to hold the
                           unswitched estimate's (every residual kept)      */
    double dr_hi;       /* (upper end)                                       */
    double ess;         /* effective sample size of the requests' weights    */
} rmtl_fusion_estimate;
#define RMTL_FUSION_ESTIMATE_VERSION 1u /* layout version of rmtl_fusion_estimate in this header */
/* Initialiser of rmtl_fusion_estimate: its version, everything else zero. */
#define RMTL_FUSION_ESTIMATE_INIT {RMTL_FUSION_ESTIMATE_VERSION, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}

/** What a round did. Initialise with RMTL_FUSION_ROUND_STATS_INIT. */
typedef struct rmtl_fusion_round_stats {
    uint32_t version;        /* RMTL_FUSION_ROUND_STATS_VERSION               */
    rmtl_sim_stats explore;  /* the sessions the behaviour policy played      */
    size_t log_requests;     /* requests in the offline log after the round   */
    size_t log_rows;         /* shown pairs in it                             */
    rmtl_fusion_stats train; /* the round's last training step                */
    /* version 2 */
    int deployed;            /* 1: the round deployed its actor               */
    int gated;               /* 1: the off-policy gate decided (fusion.ope_gate) */
    rmtl_fusion_estimate ope_new;      /* the trained actor on this round's log    */
    rmtl_fusion_estimate ope_deployed; /* the policy that explored it, on it        */
    /* version 3 */
    double gate_gain;        /* the gate's paired estimate of the trained
                                actor's long-term value minus the deployed
                                policy's on this round's requests          */
    double gate_gain_lo;     /* its 95% interval                          */
    double gate_gain_hi;     /* (upper end)                               */
    double gate_base;        /* the deployed policy's long-term estimate   */
} rmtl_fusion_round_stats;
#define RMTL_FUSION_ROUND_STATS_VERSION 3u /* layout version of rmtl_fusion_round_stats in this header */
/* Initialiser of rmtl_fusion_round_stats: its version and its members' initialisers. */
#define RMTL_FUSION_ROUND_STATS_INIT \
    {RMTL_FUSION_ROUND_STATS_VERSION, RMTL_SIM_STATS_INIT, 0, 0, RMTL_FUSION_STATS_INIT, 0, 0, \
     RMTL_FUSION_ESTIMATE_INIT, RMTL_FUSION_ESTIMATE_INIT, 0, 0, 0, 0}

/** One round of progressive training: (1) explore — plays opts->sessions
 *  sessions of the env's own stream (rmtl_env_sim_reset) with the served
 *  policy's behaviour policy (rmtl_fusion_explore) and appends every
 *  request with its shown pairs, actions, trust boxes and behaviours (and,
 *  for list-aware training, its logged unshown candidates) to the handle's
 *  offline log (kept across rounds, not saved in checkpoints); (2) train —
 *  opts->train_steps rmtl_fusion_train_step()s on minibatches of
 *  fusion.batch_size requests drawn uniformly from the whole log; (3)
 *  deploy — with fusion.ope_gate (default off) and Plackett–Luce
 *  exploration, only when the lower bound of the paired off-policy
 *  estimate, on this round's requests, of the trained actor's long-term
 *  value minus the policy's that explored them (doubly robust request
 *  value, every residual kept and none normalised, plus the item critics'
 *  long-term part, both policies served as they deploy) is above −fusion.gate_margin times the latter
 *  (out->deployed says which; out->ope_new and out->ope_deployed are the
 *  two policies' request-value estimates, rmtl_fusion_ope; an older
 *  version of `out` gets its own version's fields only). The host drives rounds (fusion.rounds is the suggested count)
 *  and may evaluate between them. `fn` (may be NULL) reports progress:
 *  the sessions explored and then the training steps (`total` = sessions +
 *  opts->train_steps); `loss` is NaN while exploring, then the running
 *  mean critic loss of the round's steps. Returning non-zero stops the
 *  round with RMTL_ESTATE before it deploys: the log keeps the sessions
 *  played, the steps taken stay taken, and the served policy is unchanged.
 *  RMTL_EINVAL when the env's dims, task count or shown-list length
 *  (sim.top_l, which must equal fusion.top_l) do not fit the fusion;
 *  errors of the scorer, the simulator or training stop the round (the
 *  log keeps what was collected). [per-object] on f and env */
RMTL_API int rmtl_fusion_round(rmtl_fusion_round_stats *out, rmtl_fusion *f, rmtl_env *env,
                               const rmtl_fusion_sim_opts *opts, rmtl_progress_fn fn,
                               void *payload);

/** Off-policy evaluation: estimates the mean request reward that the
 *  policy `target` serves (its deployed actor or fixed action: the top l
 *  candidates by its fused score, as rmtl_fusion_evaluate plays it) would
 *  earn on the requests of `logged`'s offline log, from the logged lists
 *  and their known Plackett–Luce propensities (fusion.explore:
 *  plackett_luce). Under a position-based click model each shown item is
 *  weighted by the examination the target would give it over the
 *  behaviour's expected examination of it (PL at the log's
 *  fusion.explore_temperature over the logged candidates, the unshown
 *  sample standing for all unshown ones); SNIPS normalises by the weighted
 *  examinations; DR takes `logged`'s item critics (fusion.objective: list)
 *  as the model and adds its weighted residuals, normalised as SNIPS's,
 *  except those of items weighted above `logged`'s fusion.ope_max_weight,
 *  which count by the model alone (switch-DR). Intervals are normal, from
 *  the requests' influence terms; DR's is widened to hold the interval of
 *  the unswitched estimate (every residual kept), since the model's error
 *  on the switched items is not sampling noise.
 *  Deterministic (fixed Monte Carlo seeds). docs/fusion.md "Off-policy
 *  evaluation". RMTL_ESTATE for an empty log, RMTL_EINVAL for other dims
 *  or a log explored with uniform action noise. [thread-safe] */
RMTL_API int rmtl_fusion_ope(rmtl_fusion_estimate *out, const rmtl_fusion *target,
                             const rmtl_fusion *logged);

/** Plays sessions 0 .. opts->sessions-1 of the stream opts->seed
 *  (rmtl_env_sim_evaluate: every policy evaluated with a seed meets the
 *  same users) ranking by the served policy, without exploration.
 *  [per-object] on env; f is only read */
RMTL_API int rmtl_fusion_evaluate(rmtl_sim_stats *out, const rmtl_fusion *f, rmtl_env *env,
                                  const rmtl_fusion_sim_opts *opts);

/** MTF-GAUC of f's fused scores on the offline log that `logged` collected
 *  in its rounds: per-user AUC against the main behaviour (the first:
 *  click), weighted by impressions (rmtl_fusion_gauc). Off-policy: any
 *  fusion with the same state and tasks can be scored on any log.
 *  RMTL_ESTATE for an empty log, RMTL_EINVAL for other dims. [thread-safe] */
RMTL_API int rmtl_fusion_log_gauc(double *gauc, const rmtl_fusion *f, const rmtl_fusion *logged);

/** The industry baseline: fixed fusion weights found by the cross-entropy
 *  method on the simulator's cumulative session reward. Each iteration
 *  draws `population` actions from a Gaussian (clipped to the bounds;
 *  starting at the middle of the bounds with a quarter of their width),
 *  evaluates each on eval.sessions sessions of the stream eval.seed + the
 *  iteration (common random numbers within an iteration), and refits the
 *  Gaussian to the `elite` best. Initialise with RMTL_FUSION_CEM_OPTS_INIT. */
typedef struct rmtl_fusion_cem_opts {
    uint32_t version;           /* RMTL_FUSION_CEM_OPTS_VERSION        */
    size_t iterations;          /* [10]                                */
    size_t population;          /* [16]                                */
    size_t elite;               /* [4]                                 */
    rmtl_fusion_sim_opts eval;  /* sessions per evaluation, seed, scorer */
} rmtl_fusion_cem_opts;
#define RMTL_FUSION_CEM_OPTS_VERSION 1u /* layout version of rmtl_fusion_cem_opts in this header */
/* Initialiser of rmtl_fusion_cem_opts: its version and the defaults in brackets above. */
#define RMTL_FUSION_CEM_OPTS_INIT \
    {RMTL_FUSION_CEM_OPTS_VERSION, 10, 16, 4, RMTL_FUSION_SIM_OPTS_INIT}

/** Runs the search and leaves f serving the final Gaussian mean as its
 *  fixed action (rmtl_fusion_set_fixed); `*best_reward` (may be NULL) is
 *  the mean session reward of the best candidate of the last iteration.
 *  Draws from f's sampling stream. [per-object] on f and env */
RMTL_API int rmtl_fusion_cem(double *best_reward, rmtl_fusion *f, rmtl_env *env,
                             const rmtl_fusion_cem_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* RMTL_H */
