// The project's HDF5 weight file: every parameter under /tensors/<OpenAI name> as float32,
// with the architecture facts shapes cannot carry (activation, head counts) as attributes.
#include <H5Cpp.h>
#include <ATen/ATen.h>

#include "clip/weights.h"
#include "util/check.h"
#include "util/fs.h"
#include "util/h5.h"

namespace tc::clip {

namespace detail_wh5 {

constexpr const char* kFormat = "tokenclip-clip-weights";
constexpr int kVersion = 1;

// IEEE 754 binary16, little-endian (HDF5 has no predefined half type; h5py builds the same).
H5::FloatType half_type() {
  H5::FloatType t(H5::PredType::IEEE_F32LE);
  t.setFields(15, 10, 5, 0, 10);
  t.setSize(2);
  t.setEbias(15);
  return t;
}

}  // namespace detail_wh5

void save_weights_h5(const std::string& path, ClipModel& model, const H5WeightsInfo& info) {
  AtomicPath ap(path);
  try {
    H5::H5File f(ap.tmp(), H5F_ACC_TRUNC);
    h5::DiscardOnUnwind discard(f);
    h5::put_attr_str(f, "format", detail_wh5::kFormat);
    h5::put_attr_i64(f, "version", detail_wh5::kVersion);
    h5::put_attr_str(f, "preset", info.preset);
    h5::put_attr_str(f, "activation", info.activation);
    h5::put_attr_i64(f, "vision_heads", info.vision_heads);
    h5::put_attr_i64(f, "text_heads", info.text_heads);
    h5::put_attr_str(f, "source_format", info.source_format);
    h5::put_attr_str(f, "source_fingerprint", info.source_fingerprint);
    h5::put_attr_str(f, "source_path", info.source_path);
    h5::put_attr_i64(f, "random", info.random ? 1 : 0);
    h5::put_attr_i64(f, "init_seed", static_cast<int64_t>(info.init_seed));
    if (!info.recipe.empty()) h5::put_attr_str(f, "recipe", info.recipe);
    auto g = f.createGroup("tensors");
    const H5::FloatType f16 = detail_wh5::half_type();
    for (auto& [name, p] : model->openai_named_parameters()) {
      auto t = p.detach().to(at::kCPU, at::kFloat).contiguous();  // the model may be on a GPU
      std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
      H5::DataSpace sp = dims.empty() ? H5::DataSpace(H5S_SCALAR)
                                      : H5::DataSpace(static_cast<int>(dims.size()), dims.data());
      if (info.fp16) {
        auto h = t.to(at::kHalf).contiguous();  // torch rounds to nearest even
        g.createDataSet(name, f16, sp).write(h.data_ptr(), f16);
      } else {
        g.createDataSet(name, H5::PredType::IEEE_F32LE, sp).write(t.data_ptr<float>(), H5::PredType::NATIVE_FLOAT);
      }
    }
    h5::flush_file(f, path);
    f.close();
  } catch (const H5::Exception& e) {
    TC_RUNTIME_ERROR("{}: writing the weight file failed: {}", path, e.getDetailMsg());
  }
  ap.commit();
}

NamedTensors read_weights_h5(const std::string& path, H5WeightsInfo* info) {
  NamedTensors out;
  try {
    H5::Exception::dontPrint();
    H5::H5File f(path, H5F_ACC_RDONLY);
    const std::string fmt_ = h5::attr_str(f, "format");
    TC_CHECK_INPUT(fmt_ == detail_wh5::kFormat, "{}: attribute 'format' is '{}'; expected '{}' (a file written "
                   "by `tokenclip convert-weights`)", path, fmt_, detail_wh5::kFormat);
    const int64_t ver = h5::attr_i64(f, "version");
    TC_CHECK_INPUT(ver == detail_wh5::kVersion, "{}: attribute 'version' is {}; expected {}", path, ver,
                   detail_wh5::kVersion);
    if (info) {
      info->preset = h5::attr_str(f, "preset");
      info->activation = h5::attr_str(f, "activation");
      TC_CHECK_INPUT(info->activation == "quickgelu" || info->activation == "gelu",
                     "{}: attribute 'activation' is '{}'; expected quickgelu or gelu", path, info->activation);
      info->vision_heads = static_cast<int>(h5::attr_i64(f, "vision_heads"));
      info->text_heads = static_cast<int>(h5::attr_i64(f, "text_heads"));
      info->source_format = h5::attr_str(f, "source_format");
      info->source_fingerprint = h5::attr_str(f, "source_fingerprint");
      info->source_path = h5::attr_str(f, "source_path");
      info->random = h5::attr_i64(f, "random") != 0;
      info->init_seed = static_cast<uint64_t>(h5::attr_i64(f, "init_seed"));
      info->recipe = h5::has_attr(f, "recipe") ? h5::attr_str(f, "recipe") : "";
      info->fp16 = false;
    }
    TC_CHECK_INPUT(f.nameExists("tensors"), "{}: group 'tensors' is missing", path);
    auto g = f.openGroup("tensors");
    for (hsize_t i = 0; i < g.getNumObjs(); ++i) {
      std::string name = g.getObjnameByIdx(i);
      auto ds = g.openDataSet(name);
      TC_CHECK_INPUT(ds.getTypeClass() == H5T_FLOAT, "{}: tensors/{}: expected float data", path, name);
      const size_t bytes = ds.getFloatType().getSize();
      TC_CHECK_INPUT(bytes == 2 || bytes == 4 || bytes == 8, "{}: tensors/{}: {}-byte floats (expected 2, 4 or 8)",
                     path, name, bytes);
      if (info && bytes == 2) info->fp16 = true;
      auto sp = ds.getSpace();
      std::vector<hsize_t> dims(static_cast<size_t>(sp.getSimpleExtentNdims()));
      if (!dims.empty()) sp.getSimpleExtentDims(dims.data());
      std::vector<int64_t> shape(dims.begin(), dims.end());
      auto t = at::empty(shape, at::kFloat);
      ds.read(t.data_ptr<float>(), H5::PredType::NATIVE_FLOAT);
      out[name] = t;
    }
  } catch (const H5::Exception& e) {
    TC_INPUT_ERROR("{}: cannot read the CLIP weight file: {}", path, e.getDetailMsg());
  }
  return out;
}

}  // namespace tc::clip
