// Hidden debug command for the Python parity test of the method's numerical core:
//   tokenclip debug-method --in IN.h5 --out OUT.h5 [--method.KEY VALUE ...]
// IN.h5 (written by tests/python/test_method_parity.py): global [B,D], tokens [L,B,1+N,D],
// text_base [2,D], text_global [2,D], text_sub [Q,2,D], masks [B,S,S], labels [B] (float),
// optional log_nu [Q]. OUT.h5: every output of method_head and the gradients of the total
// loss with respect to the three text inputs.
#include <H5Cpp.h>
#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <cstdio>

#include "app/command.h"
#include "method/detector.h"
#include "method/method_config.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/h5.h"

namespace tc::app {
namespace detail_debug_method {

at::Tensor read_f32(H5::H5File& f, const std::string& name, const std::string& file) {
  TC_CHECK_INPUT(f.nameExists(name), "{}: dataset '{}' is missing", file, name);
  H5::DataSet ds = f.openDataSet(name);
  H5::DataSpace sp = ds.getSpace();
  std::vector<hsize_t> dims(size_t(sp.getSimpleExtentNdims()));
  if (!dims.empty()) sp.getSimpleExtentDims(dims.data());
  at::Tensor t = at::empty(std::vector<int64_t>(dims.begin(), dims.end()), at::kFloat);
  ds.read(t.data_ptr<float>(), H5::PredType::NATIVE_FLOAT);
  return t;
}

void write_f32(H5::H5File& f, const std::string& name, const at::Tensor& x) {
  at::Tensor t = x.detach().to(at::kCPU, at::kFloat).contiguous();
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  H5::DataSpace sp = dims.empty() ? H5::DataSpace(H5S_SCALAR) : H5::DataSpace(int(dims.size()), dims.data());
  f.createDataSet(name, H5::PredType::IEEE_F32LE, sp).write(t.data_ptr<float>(), H5::PredType::NATIVE_FLOAT);
}

int run(Invocation& inv) {
  const std::string in = inv.cfg.get_string("in"), out = inv.cfg.get_string("out");
  method::MethodOptions o = method::MethodOptions::from_config(inv.cfg);
  TC_CHECK_INPUT(file_exists(in), "{}: not found", in);
  H5::H5File f(in, H5F_ACC_RDONLY);
  method::FeatureBatch fb;
  fb.global = read_f32(f, "global", in);
  at::Tensor tokens = read_f32(f, "tokens", in);
  for (int64_t l = 0; l < tokens.size(0); ++l) fb.tokens.push_back(tokens[l]);
  method::TextFeatures tf;
  at::Tensor tb = read_f32(f, "text_base", in).requires_grad_(true);
  at::Tensor tg = read_f32(f, "text_global", in).requires_grad_(true);
  at::Tensor ts = read_f32(f, "text_sub", in).requires_grad_(true);
  tf.base = tb;
  tf.global = tg;
  tf.subspace = ts;
  method::Targets tgt;
  tgt.masks = read_f32(f, "masks", in);
  tgt.labels = read_f32(f, "labels", in).to(at::kLong);
  at::Tensor log_nu = f.nameExists("log_nu") ? read_f32(f, "log_nu", in) : at::Tensor();
  const int64_t S = tgt.masks.size(1);
  auto r = method::method_head(fb, tf, o, S, log_nu, &tgt);
  auto g = torch::autograd::grad({r.loss.total}, {tb, tg, ts}, {}, false, false, true);
  AtomicPath ap(out);
  {
    H5::H5File w(ap.tmp(), H5F_ACC_TRUNC);
    h5::DiscardOnUnwind discard(w);
    write_f32(w, "base_probs", at::stack(r.base_probs));
    write_f32(w, "dyn_probs", at::stack(r.dyn_probs));
    write_f32(w, "log_plan", at::stack(r.log_plan));
    write_f32(w, "assignment", at::stack(r.assignment));
    write_f32(w, "base_maps", at::stack(r.base_maps));
    write_f32(w, "map", r.map);
    write_f32(w, "global_logits", r.global_logits);
    write_f32(w, "image_score", r.image_score);
    write_f32(w, "loss_total", r.loss.total);
    write_f32(w, "loss_global", r.loss.global);
    write_f32(w, "loss_base", r.loss.base_local);
    write_f32(w, "loss_dyn", r.loss.dyn_local);
    write_f32(w, "loss_reg", r.loss.reg);
    const char* gn[3] = {"grad_text_base", "grad_text_global", "grad_text_sub"};
    at::Tensor gi[3] = {tb, tg, ts};
    for (int i = 0; i < 3; ++i) write_f32(w, gn[i], g[size_t(i)].defined() ? g[size_t(i)] : at::zeros_like(gi[i]));
    h5::flush_file(w, out);
  }
  ap.commit();
  return 0;
}

}  // namespace detail_debug_method

namespace {
TC_REGISTER_COMMAND(Command{
    "debug-method", "(debug) run the method head on features from an HDF5 file",
    "Reads features, text features, masks and labels from --in, runs the method's numerical core "
    "(probabilities, OT, topK, maps, scores, losses) with the [method] config, and writes every "
    "output and the gradients of the total loss to --out (used by the Python parity test).",
    {"method"},
    {flag_string("in", "", "input HDF5 file", true), flag_string("out", "", "output HDF5 file", true)},
    "", "", 0, 0, 9990, detail_debug_method::run});
}  // namespace
}  // namespace tc::app
