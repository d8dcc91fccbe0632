#include "train/train_state_io.h"

#include <ATen/ATen.h>
#include <hdf5.h>

#include <vector>

#include "util/check.h"

namespace tc::train {
namespace detail_state_io {

struct Closer {
  hid_t id;
  herr_t (*fn)(hid_t);
  ~Closer() {
    if (id >= 0) fn(id);
  }
};

void put_attr(hid_t loc, const char* name, int64_t v) {
  hid_t sp = H5Screate(H5S_SCALAR);
  Closer c1{sp, H5Sclose};
  hid_t a = H5Acreate2(loc, name, H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
  TC_CHECK(a >= 0, "cannot create attribute trainer/{}", name);
  Closer c2{a, H5Aclose};
  TC_CHECK(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0, "cannot write attribute trainer/{}", name);
}

int64_t get_attr(hid_t loc, const char* name, const std::string& path) {
  TC_CHECK_INPUT(H5Aexists(loc, name) > 0, "checkpoint '{}': attribute trainer/{} is missing", path, name);
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  Closer c{a, H5Aclose};
  int64_t v = 0;
  TC_CHECK_INPUT(H5Aread(a, H5T_NATIVE_INT64, &v) >= 0, "checkpoint '{}': cannot read trainer/{}", path, name);
  return v;
}

void put_vector(hid_t loc, const char* name, const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU).to(at::kFloat).contiguous();
  hsize_t n = static_cast<hsize_t>(c.numel());
  hid_t sp = H5Screate_simple(1, &n, nullptr);
  Closer c1{sp, H5Sclose};
  hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  TC_CHECK(d >= 0, "cannot create trainer/{}", name);
  Closer c2{d, H5Dclose};
  TC_CHECK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr<float>()) >= 0,
           "cannot write trainer/{}", name);
}

at::Tensor get_vector(hid_t loc, const char* name, const std::string& path) {
  TC_CHECK_INPUT(H5Lexists(loc, name, H5P_DEFAULT) > 0, "checkpoint '{}': trainer/{} is missing", path, name);
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  Closer c1{d, H5Dclose};
  hid_t sp = H5Dget_space(d);
  Closer c2{sp, H5Sclose};
  TC_CHECK_INPUT(H5Sget_simple_extent_ndims(sp) == 1, "checkpoint '{}': trainer/{}: expected a 1-D array", path, name);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(sp, &n, nullptr);
  at::Tensor t = at::empty({static_cast<int64_t>(n)}, at::kFloat);
  TC_CHECK_INPUT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr<float>()) >= 0,
                 "checkpoint '{}': cannot read trainer/{}", path, name);
  return t;
}

}  // namespace detail_state_io

void write_train_state(hid_t f, const TrainState& s, uint64_t seed) {
  using namespace detail_state_io;
  hid_t g = H5Gcreate2(f, "trainer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  TC_CHECK(g >= 0, "cannot create group trainer/ in the checkpoint");
  Closer cg{g, H5Gclose};
  put_vector(g, "exp_avg", s.exp_avg);
  put_vector(g, "exp_avg_sq", s.exp_avg_sq);
  put_attr(g, "epoch", s.epoch);
  put_attr(g, "step_in_epoch", s.step_in_epoch);
  put_attr(g, "global_step", s.global_step);
  put_attr(g, "adam_step", s.adam_step);
  put_attr(g, "seed", static_cast<int64_t>(seed));
}

bool read_train_state(const std::string& path, TrainState* s) {
  using namespace detail_state_io;
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  TC_CHECK_INPUT(f >= 0, "cannot open checkpoint '{}'", path);
  Closer cf{f, H5Fclose};
  if (H5Lexists(f, "trainer", H5P_DEFAULT) <= 0) return false;
  hid_t g = H5Gopen2(f, "trainer", H5P_DEFAULT);
  Closer cg{g, H5Gclose};
  s->exp_avg = get_vector(g, "exp_avg", path);
  s->exp_avg_sq = get_vector(g, "exp_avg_sq", path);
  s->epoch = get_attr(g, "epoch", path);
  s->step_in_epoch = get_attr(g, "step_in_epoch", path);
  s->global_step = get_attr(g, "global_step", path);
  s->adam_step = get_attr(g, "adam_step", path);
  return true;
}

}  // namespace tc::train
