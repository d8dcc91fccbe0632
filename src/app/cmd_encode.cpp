// `tokenclip encode` and `tokenclip encode-text`: run the frozen CLIP towers over images or
// texts and write the features (float32, unnormalised) to one HDF5 file.
//
// Under mpiexec the images are split into contiguous shares; every rank writes its rows to a
// part file, rank 0 copies the parts into the final file (atomic: temporary name, rename) and
// the parts are removed. The model itself knows nothing of MPI.
#include <H5Cpp.h>
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <thread>

#include "app/command.h"
#include "app/setup.h"
#include "clip/clip.h"
#include "clip/tokenizer.h"
#include "compat/torch_compat.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/image_paths.h"
#include "dist/dist.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/h5.h"
#include "util/log.h"
#include "util/progress.h"

namespace tc::app {
namespace detail_encode {

// [model] keys, with the command's own flags (--image-size, --layers, --vv-from) on top; their
// types and ranges are checked with the command line.
clip::LoadOptions load_options(const Invocation& inv) {
  const auto& c = inv.cfg;
  clip::LoadOptions o = clip_load_options(c);
  if (c.has_key("image-size") && c.get_int("image-size") > 0) o.image_size = static_cast<int>(c.get_int("image-size"));
  if (c.has_key("layers") && !c.text("layers").empty()) {
    o.layers.clear();
    for (int64_t l : c.get_int_list("layers")) o.layers.push_back(static_cast<int>(l));
  }
  if (c.has_key("vv-from") && !c.text("vv-from").empty())
    o.vv_from = c.word("vv-from").empty() ? static_cast<int>(c.get_int("vv-from")) : -1;  // none/off
  return o;
}

clip::LoadedClip load_model(const Invocation& inv, const clip::LoadOptions& o) {
  const std::string w = inv.cfg.get_string("weights");
  if (w.empty() || w == "random") {
    // Any preset can run on random weights (as train/cache do): throughput checks of the large
    // towers (launch/gpu_check.sh encodes ViT-L-14 at 518) need no weights file.
    const std::string preset = o.preset == "auto" || o.preset.empty() ? "tiny" : o.preset;
    const auto seed = static_cast<uint64_t>(inv.cfg.get_int("model.init_seed"));
    log::warn("no --weights: using RANDOM {} CLIP weights (seed {}); outputs are marked random", preset, seed);
    return clip::random_clip(preset, seed, o);
  }
  return clip::load_clip(w, o);
}

void set_threads(const Invocation& inv) {
  int n = static_cast<int>(inv.cfg.get_int("runtime.threads"));
  if (n <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    n = std::max(1, cores / std::max(1, dist::env().local_world));
  }
  at::set_num_threads(n);
}

at::Device pick_device(const Invocation& inv) {
  const std::string d = inv.cfg.get_string("runtime.device");
  const bool cuda = torch::cuda::is_available();
  TC_CHECK_USAGE(d != "cuda" || cuda, "runtime.device = cuda, but no CUDA device is available");
  if (d == "cpu" || !cuda) return at::Device(at::kCPU);
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(dist::env().local_rank % torch::cuda::device_count()));
}

// Row-oriented float32 datasets of one output (final file or a rank's part).
struct FeatureFile {
  H5::H5File file;
  H5::DataSet embed, global;
  std::vector<H5::DataSet> tokens;
  h5::DiscardOnUnwind discard{file};  // last: runs before the datasets and the file close

  FeatureFile(const std::string& path, int64_t rows, const clip::ClipConfig& c) : file(path, H5F_ACC_TRUNC) {
    const hsize_t D = static_cast<hsize_t>(c.embed_dim), T = static_cast<hsize_t>(1 + c.num_patches());
    hsize_t d2[2] = {static_cast<hsize_t>(rows), D};
    H5::DSetCreatPropList p2;
    if (rows > 0) { hsize_t ch[2] = {1, D}; p2.setChunk(2, ch); }
    embed = file.createDataSet("image_embed", H5::PredType::IEEE_F32LE, H5::DataSpace(2, d2), p2);
    global = file.createDataSet("image_global", H5::PredType::IEEE_F32LE, H5::DataSpace(2, d2), p2);
    auto g = file.createGroup("tokens");
    for (int l : c.layers) {
      hsize_t d3[3] = {static_cast<hsize_t>(rows), T, D};
      H5::DSetCreatPropList p3;
      if (rows > 0) { hsize_t ch[3] = {1, T, D}; p3.setChunk(3, ch); }
      tokens.push_back(g.createDataSet(std::to_string(l), H5::PredType::IEEE_F32LE, H5::DataSpace(3, d3), p3));
    }
  }

  static void write_rows(H5::DataSet& ds, int64_t row, const at::Tensor& t_in) {
    auto t = t_in.to(at::kCPU, at::kFloat).contiguous();
    auto fsp = ds.getSpace();
    const int nd = fsp.getSimpleExtentNdims();
    std::vector<hsize_t> dims(static_cast<size_t>(nd)), start(static_cast<size_t>(nd), 0), count;
    fsp.getSimpleExtentDims(dims.data());
    count = dims;
    count[0] = static_cast<hsize_t>(t.size(0));
    start[0] = static_cast<hsize_t>(row);
    fsp.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
    H5::DataSpace msp(nd, count.data());
    ds.write(t.data_ptr<float>(), H5::PredType::NATIVE_FLOAT, msp, fsp);
  }
  static at::Tensor read_rows(H5::DataSet& ds, int64_t row, int64_t n) {
    auto fsp = ds.getSpace();
    const int nd = fsp.getSimpleExtentNdims();
    std::vector<hsize_t> dims(static_cast<size_t>(nd)), start(static_cast<size_t>(nd), 0);
    fsp.getSimpleExtentDims(dims.data());
    std::vector<hsize_t> count = dims;
    count[0] = static_cast<hsize_t>(n);
    start[0] = static_cast<hsize_t>(row);
    std::vector<int64_t> shape(count.begin(), count.end());
    auto t = at::empty(shape, at::kFloat);
    fsp.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
    H5::DataSpace msp(nd, count.data());
    ds.read(t.data_ptr<float>(), H5::PredType::NATIVE_FLOAT, msp, fsp);
    return t;
  }
  void write(int64_t row, const clip::VisualOutput& o) {
    write_rows(embed, row, o.embed);
    write_rows(global, row, o.global);
    for (size_t i = 0; i < tokens.size(); ++i) write_rows(tokens[i], row, o.tokens[i]);
  }
};

void write_provenance(H5::H5File& f, const clip::LoadedClip& m, const Invocation& inv, const char* format) {
  const auto& c = m.model->config;
  h5::put_attr_str(f, "format", format);
  h5::put_attr_i64(f, "version", 1);
  h5::put_attr_str(f, "weights", m.path);
  h5::put_attr_str(f, "weights_format", m.format);
  h5::put_attr_str(f, "weights_fingerprint", m.fingerprint);
  h5::put_attr_i64(f, "random_weights", m.random ? 1 : 0);
  if (m.random) h5::put_attr_str(f, "note", "RANDOM CLIP weights (no pretrained backbone): features carry no meaning");
  h5::put_attr_str(f, "preset", c.preset);
  h5::put_attr_str(f, "activation", clip::activation_name(c.activation));
  h5::put_attr_i64(f, "image_size", c.image_size);
  h5::put_attr_i64(f, "vv_from", c.vv_from);
  h5::put_attr_i64s(f, "layers", std::vector<int64_t>(c.layers.begin(), c.layers.end()));
  h5::put_attr_i64(f, "embed_dim", c.embed_dim);
  h5::put_attr_str(f, "command_line", inv.command_line);
}

void write_strings(H5::H5File& f, const char* name, const std::vector<std::string>& v) {
  H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
  t.setCset(H5T_CSET_UTF8);
  hsize_t n = v.size();
  std::vector<const char*> p;
  for (const auto& s : v) p.push_back(s.c_str());
  auto ds = f.createDataSet(name, t, H5::DataSpace(1, &n));
  if (n) ds.write(p.data(), t);
}

// Provenance of an image encoding and where its rows come from: `indices` into the --data
// dataset (then `data_path` is not empty) or the image `paths`.
void write_image_sources(H5::H5File& f, const clip::LoadedClip& m, const Invocation& inv,
                         const std::string& data_path, int64_t n_total, const std::vector<std::string>& paths) {
  write_provenance(f, m, inv, "tokenclip-encoded");
  if (data_path.empty()) {
    write_strings(f, "paths", paths);
    return;
  }
  hsize_t n = static_cast<hsize_t>(n_total);
  std::vector<int64_t> idx(static_cast<size_t>(n_total));
  for (int64_t i = 0; i < n_total; ++i) idx[static_cast<size_t>(i)] = i;
  f.createDataSet("indices", H5::PredType::STD_I64LE, H5::DataSpace(1, &n)).write(idx.data(), H5::PredType::NATIVE_INT64);
  h5::put_attr_str(f, "data", data_path);
}

// ------------------------------------------------------------------ encode

int run_encode(Invocation& inv) {
  const auto& env = dist::env();
  auto comm = dist::make_communicator(env.world > 1 ? "mpi" : "single");
  set_threads(inv);
  const std::string out = inv.cfg.get_string("out");
  const auto images_arg = inv.cfg.get_string_list("images");
  const std::string data_path = inv.cfg.get_string("data");
  TC_CHECK_USAGE(images_arg.empty() != data_path.empty(), "give exactly one of --images and --data");
  auto opts = load_options(inv);

  std::vector<std::string> paths;
  std::unique_ptr<data::DatasetReader> reader;
  int64_t n_total = 0;
  if (!data_path.empty()) {
    reader = std::make_unique<data::DatasetReader>(data_path);
    const int S = reader->image_size();
    // Dataset images are stored already resized to S; the model runs at that size.
    TC_CHECK_USAGE(opts.image_size == 0 || opts.image_size == S,
                   "--data {} holds images of size {}, but image size {} was requested", data_path, S, opts.image_size);
    opts.image_size = S;
    n_total = reader->size();
  } else {
    paths = data::expand_image_paths(images_arg, "--images");
    n_total = static_cast<int64_t>(paths.size());
  }
  auto model = load_model(inv, opts);
  const auto& cfg = model.model->config;
  const at::Device dev = pick_device(inv);
  model.model->to(dev);
  const int S = cfg.image_size;
  const int64_t batch = inv.cfg.get_int("batch");

  // Contiguous share of this rank.
  const int64_t lo = n_total * env.rank / env.world, hi = n_total * (env.rank + 1) / env.world;
  const std::string part = env.world > 1 ? fmt::format("{}.part{}-of-{}.h5", out, env.rank, env.world) : "";
  std::unique_ptr<AtomicPath> final_path;
  if (env.rank == 0) final_path = std::make_unique<AtomicPath>(out);
  {
    // world 1: rows go straight into the final (temporary) file; else into this rank's part.
    const std::string target = env.world > 1 ? part : final_path->tmp();
    FeatureFile ff(target, env.world > 1 ? hi - lo : n_total, cfg);
    Progress prog("encode", hi - lo, "img", env.rank == 0);
    compat::InferenceGuard guard;
    for (int64_t b0 = lo; b0 < hi; b0 += batch) {
      const int64_t b1 = std::min(hi, b0 + batch);
      at::Tensor u8;
      if (reader) {
        std::vector<int64_t> idx;
        for (int64_t i = b0; i < b1; ++i) idx.push_back(i);
        u8 = data::read_batch(*reader, idx, false).images;
      } else {
        u8 = at::empty({b1 - b0, S, S, 3}, at::kByte);
        for (int64_t i = b0; i < b1; ++i) {
          auto img = data::prepare_image(data::load_rgb(paths[static_cast<size_t>(i)]), S);
          std::memcpy(u8[i - b0].data_ptr<uint8_t>(), img.pixels.data(), img.pixels.size());
        }
      }
      auto x = data::normalize_clip(u8.to(dev));
      auto o = model.model->visual->forward(x);
      ff.write(env.world > 1 ? b0 - lo : b0, o);
      prog.update(b1 - b0);
    }
    prog.finish();
    h5::flush_file(ff.file, target);
  }
  comm->barrier();
  if (env.rank == 0) {
    try {
      if (env.world > 1) {
        FeatureFile ff(final_path->tmp(), n_total, cfg);
        for (int r = 0; r < env.world; ++r) {
          const int64_t rlo = n_total * r / env.world, rhi = n_total * (r + 1) / env.world;
          H5::H5File pf(fmt::format("{}.part{}-of-{}.h5", out, r, env.world), H5F_ACC_RDONLY);
          auto pe = pf.openDataSet("image_embed"), pg = pf.openDataSet("image_global");
          for (int64_t i = 0; i < rhi - rlo; ++i) {
            FeatureFile::write_rows(ff.embed, rlo + i, FeatureFile::read_rows(pe, i, 1));
            FeatureFile::write_rows(ff.global, rlo + i, FeatureFile::read_rows(pg, i, 1));
            for (size_t k = 0; k < cfg.layers.size(); ++k) {
              auto pt = pf.openDataSet("tokens/" + std::to_string(cfg.layers[k]));
              FeatureFile::write_rows(ff.tokens[k], rlo + i, FeatureFile::read_rows(pt, i, 1));
            }
          }
        }
        write_image_sources(ff.file, model, inv, reader ? data_path : "", n_total, paths);
        h5::flush_file(ff.file, out);
        ff.file.close();
      } else {
        H5::H5File f(final_path->tmp(), H5F_ACC_RDWR);
        h5::DiscardOnUnwind discard(f);
        write_image_sources(f, model, inv, reader ? data_path : "", n_total, paths);
        h5::flush_file(f, out);
      }
    } catch (const H5::Exception& e) {
      TC_RUNTIME_ERROR("{}: writing the output failed: {}", out, e.getDetailMsg());
    }
    final_path->commit();
  }
  comm->barrier();
  if (!part.empty()) std::remove(part.c_str());
  if (env.rank == 0)
    std::printf("wrote %s: %lld images, D %d, layers %zu, %s weights (%s)\n", out.c_str(),
                static_cast<long long>(n_total), cfg.embed_dim, cfg.layers.size(), model.format.c_str(),
                model.random ? "RANDOM" : model.fingerprint.substr(0, 12).c_str());
  return 0;
}

// ------------------------------------------------------------------ encode-text

int run_encode_text(Invocation& inv) {
  set_threads(inv);
  const std::string out = inv.cfg.get_string("out");
  const auto texts = inv.cfg.get_string_list("text");
  TC_CHECK_USAGE(!texts.empty(), "give at least one --text");
  auto opts = load_options(inv);
  auto model = load_model(inv, opts);
  const std::string bpe = inv.cfg.get_string("bpe");
  clip::Tokenizer tok = bpe.empty() ? clip::Tokenizer::byte_fallback(model.model->config.text.vocab)
                                    : clip::Tokenizer::load(bpe);
  TC_CHECK_USAGE(!bpe.empty() || model.model->config.preset == "tiny",
                 "--bpe is required for a pretrained {} model (the byte-level fallback is only for tiny)",
                 model.model->config.preset);
  TC_CHECK_INPUT(tok.vocab_size() <= model.model->config.text.vocab,
                 "tokenizer {} has {} ids but the text tower has {} token embeddings", bpe, tok.vocab_size(),
                 model.model->config.text.vocab);
  const int ctx = model.model->config.text.context;
  const auto rows = tok.tokenize(texts, ctx, false);
  const int64_t M = static_cast<int64_t>(rows.size());
  auto ids = at::empty({M, ctx}, at::kInt);
  for (int64_t i = 0; i < M; ++i)
    for (int j = 0; j < ctx; ++j) ids[i][j] = rows[static_cast<size_t>(i)][static_cast<size_t>(j)];
  at::Tensor emb;
  {
    compat::InferenceGuard guard;
    emb = model.model->text->encode(ids.to(at::kLong)).contiguous();
  }
  AtomicPath ap(out);
  try {
    H5::H5File f(ap.tmp(), H5F_ACC_TRUNC);
    h5::DiscardOnUnwind discard(f);
    write_provenance(f, model, inv, "tokenclip-text-encoded");
    h5::put_attr_str(f, "tokenizer", tok.kind());
    hsize_t d2[2] = {static_cast<hsize_t>(M), static_cast<hsize_t>(ctx)};
    f.createDataSet("token_ids", H5::PredType::STD_I32LE, H5::DataSpace(2, d2))
        .write(ids.data_ptr<int32_t>(), H5::PredType::NATIVE_INT32);
    hsize_t e2[2] = {static_cast<hsize_t>(M), static_cast<hsize_t>(emb.size(1))};
    f.createDataSet("text_embed", H5::PredType::IEEE_F32LE, H5::DataSpace(2, e2))
        .write(emb.data_ptr<float>(), H5::PredType::NATIVE_FLOAT);
    write_strings(f, "texts", texts);
    h5::flush_file(f, out);
    f.close();
  } catch (const H5::Exception& e) {
    TC_RUNTIME_ERROR("{}: writing the output failed: {}", out, e.getDetailMsg());
  }
  ap.commit();
  std::printf("wrote %s: %lld texts, D %lld\n", out.c_str(), static_cast<long long>(M),
              static_cast<long long>(emb.size(1)));
  return 0;
}

}  // namespace detail_encode

namespace {
TC_REGISTER_COMMAND(Command{
    "encode", "run the frozen CLIP image tower and write features to HDF5",
    "Writes, in the order of the images: image_embed [N,D] (ln_post on the CLS token of the original "
    "stream, then proj), image_global [N,D] (CLS of the original stream, proj without ln_post), "
    "tokens/<layer> [N,1+P,D] (ln_post then proj; from the V-V stream for layers inside it), all float32 "
    "unnormalised, plus `paths` (--images) or `indices` (--data). Image files are decoded and resized "
    "exactly as `prep` does. Without --weights the tiny preset runs with random weights (marked in the "
    "output). Under mpiexec the images are split across ranks and one file is written.",
    {"model", "runtime"},
    {flag_string("weights", "", "CLIP weights: OpenAI .pt, safetensors (HF/open_clip) or tokenclip HDF5; "
                                "empty = random tiny"),
     flag_string("bpe", "", "BPE vocabulary (not needed for images; accepted for symmetry)"),
     flag_multi("images", "image file or directory (recursive); repeatable"),
     flag_string("data", "", "a tokenclip dataset file instead of --images"),
     flag_string("out", "", "output HDF5 file", true),
     flag_int("image-size", "0", "input size S (multiple of the patch); 0 = model.image_size / preset", 0),
     flag_int_list("layers", "", "comma-separated 1-based visual blocks whose tokens are written "
                                 "(default: model.layers / preset)", 1),
     flag_int("vv-from", "", "first V-V block (1-based) or 'none' (default: model.vv_from / preset)", 1,
              {"none", "off"}),
     flag_int("batch", "8", "images per forward pass", 1)},
    "", "", 0, 0, 40, detail_encode::run_encode});

TC_REGISTER_COMMAND(Command{
    "encode-text", "run the frozen CLIP text tower on texts and write token ids and embeddings",
    "Tokenises each --text with CLIP's BPE (SOT/EOT, 77 positions) and writes token_ids int32 [M,77] "
    "and text_embed [M,D] (ln_final at EOT @ text_projection, unnormalised).",
    {"model", "runtime"},
    {flag_string("weights", "", "CLIP weights (see `encode`); empty = random tiny"),
     flag_string("bpe", "", "bpe_simple_vocab_16e6.txt.gz or a HF vocab.json/merges.txt folder; empty = "
                            "byte-level fallback (tiny only)"),
     flag_multi("text", "a text to encode; repeatable", true),
     flag_string("out", "", "output HDF5 file", true)},
    "", "", 0, 0, 41, detail_encode::run_encode_text});

}  // namespace
}  // namespace tc::app
