// Serving from C++: raw candidates in, a fused ranking out, from W threads.
//
//   serve MODEL.rmtl FUSION.rmtl CANDIDATES.csv [THREADS]
//
// loads a model checkpoint and a fusion checkpoint made for it, then serves
// requests of 200 candidates taken in turn from CANDIDATES.csv (a header
// naming the model's columns, values without quotes): each worker thread,
// with its own rmtl_ctx, encodes the raw text (rmtl_encode_rows), predicts
// with the folded model, fuses the task scores and keeps the top 10.
// Without arguments it first makes a small model, fusion and candidate
// file in the current directory (serve_*.{rmtl,csv}) and serves those.
// bench/serve measures this path at the reference shape.
#include <rmtl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

bool ok(int rc, const char *what)
{
    if (rc != RMTL_OK)
        std::fprintf(stderr, "serve: %s: %s\n", what, rmtl_last_error());
    return rc == RMTL_OK;
}

std::vector<std::string> split(const std::string &line)
{
    std::vector<std::string> out;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ','))
        out.push_back(cell);
    if (!line.empty() && line.back() == ',')
        out.emplace_back();
    return out;
}

// A small model and fusion over a generated CSV: what a training job
// would have left behind.
bool make_demo_files()
{
    std::string csv = "color,size,price,clicked,bought\n";
    const char *colors[] = {"red", "green", "blue", "black"};
    const char *sizes[] = {"S", "M", "L"};
    for (int r = 0; r < 2000; r++) {
        int c = r % 4, s = (r / 4) % 3, price = 5 + (r * 37) % 95;
        int click = (c == 2) != (price < 30), buy = click && s == 1;
        csv += std::string(colors[c]) + "," + sizes[s] + "," + std::to_string(price) + "," +
               std::to_string(click) + "," + std::to_string(buy) + "\n";
    }
    const std::string schema = "columns:\n  color: categorical\n  size: categorical\n"
                               "  price: numerical\n  clicked: {role: label, positive: '1'}\n"
                               "  bought: {role: label, positive: '1'}\n"
                               "tasks: [clicked, bought]\n";
    rmtl_dataset *train = nullptr;
    rmtl_config *cfg = nullptr;
    rmtl_model *m = nullptr;
    rmtl_fusion *f = nullptr;
    const std::string yaml = "model: {arch: esmm, embed_dim: 8, bottom: [32], tower: [16]}\n"
                             "runtime: {threads: 1}\n"
                             "fusion: {actor_hidden: [16], critic_hidden: [16],\n"
                             "         state: {user_dim: 0, item_dim: 0, context_dim: 0}}\n";
    bool good = ok(rmtl_dataset_load_buffer(&train, csv.data(), csv.size(), "demo.csv",
                                            schema.data(), schema.size(), nullptr),
                   "load") &&
                ok(rmtl_config_create(&cfg), "config") &&
                ok(rmtl_config_load_string(cfg, yaml.data(), yaml.size(), "demo"), "config") &&
                ok(rmtl_model_create(&m, cfg, train), "model") &&
                ok(rmtl_model_train_epoch(nullptr, m, train, nullptr, nullptr), "train") &&
                ok(rmtl_model_save(m, "serve_model.rmtl", 0), "save model") &&
                ok(rmtl_fusion_create_for_model(&f, cfg, m), "fusion") &&
                ok(rmtl_fusion_save(f, "serve_fusion.rmtl", 0), "save fusion");
    std::ofstream("serve_candidates.csv") << csv.substr(0, csv.find('\n') + 1) +
                                                 "red,M,12,,\nblue,S,80,,\nwhite,XL,35,,\n" +
                                                 csv.substr(csv.find('\n') + 1, 4000);
    rmtl_fusion_free(f);
    rmtl_model_free(m);
    rmtl_config_free(cfg);
    rmtl_dataset_free(train);
    return good;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc == 1 && !make_demo_files())
        return 1;
    const char *model_path = argc > 1 ? argv[1] : "serve_model.rmtl";
    const char *fusion_path = argc > 2 ? argv[2] : "serve_fusion.rmtl";
    const char *cand_path = argc > 3 ? argv[3] : "serve_candidates.csv";
    const int workers = argc > 4 ? std::atoi(argv[4]) : std::min(rmtl_usable_cpus(), 4);
    const size_t per_request = 200, top = 10, requests_per_worker = 50;

    // The candidates: header and rows of text, as a service receives them.
    std::ifstream in(cand_path);
    std::string line;
    std::getline(in, line);
    const std::vector<std::string> header = split(line);
    std::vector<std::vector<std::string>> rows;
    while (std::getline(in, line))
        if (!line.empty())
            rows.push_back(split(line));
    if (rows.empty()) {
        std::fprintf(stderr, "serve: %s has no candidates\n", cand_path);
        return 1;
    }

    // Loaded once, shared read-only by every thread.
    rmtl_model *model = nullptr;
    rmtl_fusion *fusion = nullptr;
    rmtl_encoder *enc = nullptr;
    std::vector<const char *> names;
    for (const std::string &h : header)
        names.push_back(h.c_str());
    if (!ok(rmtl_model_load(&model, model_path), "model") ||
        !ok(rmtl_fusion_load(&fusion, fusion_path), "fusion") ||
        !ok(rmtl_fusion_check_model(fusion, model), "fusion and model") ||
        !ok(rmtl_model_fold_embeddings(model, size_t(64) << 20, nullptr), "fold") ||
        !ok(rmtl_encoder_create(&enc, rmtl_model_schema(model), names.data(), names.size()),
            "encoder"))
        return 1;
    const size_t T = rmtl_model_num_tasks(model);

    std::vector<std::vector<size_t>> first_top(workers);
    std::vector<int> failed(workers, 0);
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; w++)
        pool.emplace_back([&, w] {
            rmtl_ctx *ctx = nullptr;
            if (!ok(rmtl_ctx_create(&ctx, 1), "context")) {
                failed[w] = 1;
                return;
            }
            std::vector<const char *> values(per_request * header.size());
            std::vector<float> probs(per_request * T), fused(per_request);
            std::vector<size_t> order(per_request);
            for (size_t q = 0; q < requests_per_worker && !failed[w]; q++) {
                size_t start = (q * workers + size_t(w)) * per_request;
                for (size_t c = 0; c < per_request; c++) {
                    const std::vector<std::string> &row = rows[(start + c) % rows.size()];
                    for (size_t j = 0; j < header.size(); j++)
                        values[c * header.size() + j] = j < row.size() ? row[j].c_str() : "";
                }
                rmtl_batch batch = RMTL_BATCH_INIT;
                rmtl_fusion_request req = RMTL_FUSION_REQUEST_INIT;
                req.n = per_request;
                req.tasks = T;
                req.scores = probs.data();
                if (!ok(rmtl_encode_rows(&batch, enc, ctx, values.data(), per_request,
                                         header.size()),
                        "encode") ||
                    !ok(rmtl_model_predict(model, ctx, &batch, probs.data(), probs.size()),
                        "predict") ||
                    !ok(rmtl_fuse_scores_batch(fusion, ctx, &req, fused.data(), fused.size(),
                                               nullptr, 0),
                        "fuse")) {
                    failed[w] = 1;
                    break;
                }
                std::iota(order.begin(), order.end(), size_t(0));
                std::partial_sort(order.begin(), order.begin() + top, order.end(),
                                  [&](size_t a, size_t b) { return fused[a] > fused[b]; });
                if (q == 0)
                    first_top[w].assign(order.begin(), order.begin() + top);
            }
            rmtl_ctx_free(ctx);
        });
    for (std::thread &t : pool)
        t.join();
    int bad = std::accumulate(failed.begin(), failed.end(), 0);
    if (!bad) {
        std::printf("served %zu requests of %zu candidates from %d threads\n",
                    requests_per_worker * size_t(workers), per_request, workers);
        std::printf("first request, top %zu candidates:", top);
        for (size_t i : first_top[0])
            std::printf(" %zu", i);
        std::printf("\n");
    }
    rmtl_encoder_free(enc);
    rmtl_fusion_free(fusion);
    rmtl_model_free(model);
    return bad ? 1 : 0;
}
