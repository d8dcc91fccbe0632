#include "train/train_state_io.h"

#include <ATen/ATen.h>
#include <hdf5.h>

#include <vector>

#include "method/checkpoint.h"
#include "util/check.h"
#include "util/h5.h"

namespace tc::train {
namespace detail_state_io {

void put_vector(hid_t loc, const char* name, const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU).to(at::kFloat).contiguous();
  hsize_t n = static_cast<hsize_t>(c.numel());
  h5::Id sp(H5Screate_simple(1, &n, nullptr), H5Sclose);
  h5::Id d(H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (!d.valid()) TC_RUNTIME_ERROR("cannot create trainer/{} (disk full or an I/O error?)", name);
  if (H5Dwrite(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr<float>()) < 0)
    TC_RUNTIME_ERROR("cannot write trainer/{} (disk full or an I/O error?)", name);
}

at::Tensor get_vector(hid_t loc, const char* name, const std::string& path) {
  TC_CHECK_INPUT(H5Lexists(loc, name, H5P_DEFAULT) > 0, "checkpoint '{}': trainer/{} is missing", path, name);
  h5::Id d(H5Dopen2(loc, name, H5P_DEFAULT), H5Dclose);
  h5::Id sp(H5Dget_space(d.get()), H5Sclose);
  TC_CHECK_INPUT(H5Sget_simple_extent_ndims(sp.get()) == 1, "checkpoint '{}': trainer/{}: expected a 1-D array", path, name);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(sp.get(), &n, nullptr);
  at::Tensor t = at::empty({static_cast<int64_t>(n)}, at::kFloat);
  TC_CHECK_INPUT(H5Dread(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr<float>()) >= 0,
                 "checkpoint '{}': cannot read trainer/{}", path, name);
  method::check_finite(t, path, std::string("trainer/") + name);
  return t;
}

}  // namespace detail_state_io

void write_train_state(hid_t f, const TrainState& s, uint64_t seed) {
  using namespace detail_state_io;
  h5::Quiet quiet;  // failures are reported below, naming the tensor (HDF5's stack would not)
  h5::Id g(H5Gcreate2(f, "trainer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  TC_CHECK(g.valid(), "cannot create group trainer/ in the checkpoint");
  put_vector(g.get(), "exp_avg", s.exp_avg);
  put_vector(g.get(), "exp_avg_sq", s.exp_avg_sq);
  h5::put_attr_i64(g.get(), "epoch", s.epoch);
  h5::put_attr_i64(g.get(), "step_in_epoch", s.step_in_epoch);
  h5::put_attr_i64(g.get(), "global_step", s.global_step);
  h5::put_attr_i64(g.get(), "adam_step", s.adam_step);
  h5::put_attr_i64(g.get(), "seed", static_cast<int64_t>(seed));
}

bool read_train_state(const std::string& path, TrainState* s) {
  using namespace detail_state_io;
  h5::Id f = h5::open_read(path, "checkpoint file", "a tokenclip-checkpoint");
  if (H5Lexists(f.get(), "trainer", H5P_DEFAULT) <= 0) return false;
  h5::Id g(H5Gopen2(f.get(), "trainer", H5P_DEFAULT), H5Gclose);
  s->exp_avg = get_vector(g.get(), "exp_avg", path);
  s->exp_avg_sq = get_vector(g.get(), "exp_avg_sq", path);
  s->epoch = h5::attr_i64(g.get(), "epoch");
  s->step_in_epoch = h5::attr_i64(g.get(), "step_in_epoch");
  s->global_step = h5::attr_i64(g.get(), "global_step");
  s->adam_step = h5::attr_i64(g.get(), "adam_step");
  return true;
}

}  // namespace tc::train
