// safetensors parsing core and writer: torch-free (the fuzz target links this file alone).
#include "clip/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "util/check.h"
#include "util/fs.h"

namespace tc::clip {
namespace detail_safetensors {

struct DtypeRow {
  StDtype dtype;
  const char* name;
  size_t size;
};
constexpr DtypeRow kDtypes[] = {
    {StDtype::F64, "F64", 8}, {StDtype::F32, "F32", 4}, {StDtype::F16, "F16", 2},
    {StDtype::BF16, "BF16", 2}, {StDtype::I64, "I64", 8}, {StDtype::I32, "I32", 4},
    {StDtype::I16, "I16", 2}, {StDtype::I8, "I8", 1}, {StDtype::U8, "U8", 1},
    {StDtype::BOOL, "BOOL", 1},
};

const char* kAccepted = "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL";

// Headers are flat (root object -> tensor object -> two arrays), so anything nested deeper
// than this is malformed; checking before nlohmann parses bounds its recursion and memory.
constexpr int kMaxJsonDepth = 4;

// Depth of the deepest bracket nesting outside strings; -1 on an unterminated string.
int json_depth(const char* p, size_t n) {
  int depth = 0, max_depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > kMaxJsonDepth) return max_depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return in_str ? -1 : max_depth;
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A JSON value as a non-negative integer; `what` names it in the error.
uint64_t as_u64(const nlohmann::json& v, const std::string& origin, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    TC_CHECK_INPUT(i >= 0, "safetensors file '{}': {}: expected a non-negative integer, got {}",
                   origin, what, i);
    return static_cast<uint64_t>(i);
  }
  TC_INPUT_ERROR("safetensors file '{}': {}: expected a non-negative integer, got {}", origin,
                 what, v.dump().substr(0, 64));
}

StTensorInfo parse_entry(const std::string& name, const nlohmann::json& v, const std::string& origin,
                         const StLimits& limits) {
  const std::string where = fmt::format("tensor '{}'", name.substr(0, 200));
  TC_CHECK_INPUT(v.is_object(), "safetensors file '{}': {}: expected an object with dtype, shape, "
                 "data_offsets, got {}", origin, where, v.type_name());
  for (auto it = v.begin(); it != v.end(); ++it)
    TC_CHECK_INPUT(it.key() == "dtype" || it.key() == "shape" || it.key() == "data_offsets",
                   "safetensors file '{}': {}: unexpected field '{}' (expected dtype, shape, "
                   "data_offsets)", origin, where, it.key().substr(0, 64));
  for (const char* f : {"dtype", "shape", "data_offsets"})
    TC_CHECK_INPUT(v.contains(f), "safetensors file '{}': {}: missing field '{}'", origin, where, f);

  StTensorInfo t;
  t.name = name;
  const auto& dt = v["dtype"];
  TC_CHECK_INPUT(dt.is_string(), "safetensors file '{}': {}: field 'dtype': expected a string "
                 "(one of {}), got {}", origin, where, kAccepted, dt.type_name());
  const std::string& ds = dt.get_ref<const std::string&>();
  const DtypeRow* row = nullptr;
  for (const auto& r : kDtypes)
    if (ds == r.name) row = &r;
  TC_CHECK_INPUT(row != nullptr, "safetensors file '{}': {}: field 'dtype': unsupported dtype "
                 "'{}' (accepted: {})", origin, where, ds.substr(0, 32), kAccepted);
  t.dtype = row->dtype;

  const auto& sh = v["shape"];
  TC_CHECK_INPUT(sh.is_array(), "safetensors file '{}': {}: field 'shape': expected an array of "
                 "non-negative integers, got {}", origin, where, sh.type_name());
  TC_CHECK_INPUT(sh.size() <= limits.max_rank, "safetensors file '{}': {}: field 'shape': rank {} "
                 "exceeds the limit {}", origin, where, sh.size(), limits.max_rank);
  uint64_t numel = 1;
  for (size_t i = 0; i < sh.size(); ++i) {
    uint64_t d = as_u64(sh[i], origin, fmt::format("{}: field 'shape'[{}]", where, i));
    TC_CHECK_INPUT(d <= static_cast<uint64_t>(INT64_MAX), "safetensors file '{}': {}: field "
                   "'shape'[{}] = {} is too large", origin, where, i, d);
    TC_CHECK_INPUT(!__builtin_mul_overflow(numel, d, &numel), "safetensors file '{}': {}: field "
                   "'shape': the element count overflows 64 bits", origin, where);
    t.shape.push_back(static_cast<int64_t>(d));
  }
  uint64_t nbytes = 0;
  TC_CHECK_INPUT(!__builtin_mul_overflow(numel, static_cast<uint64_t>(row->size), &nbytes),
                 "safetensors file '{}': {}: field 'shape': the byte size overflows 64 bits",
                 origin, where);

  const auto& off = v["data_offsets"];
  TC_CHECK_INPUT(off.is_array() && off.size() == 2, "safetensors file '{}': {}: field "
                 "'data_offsets': expected [begin, end], got {}", origin, where,
                 off.dump().substr(0, 64));
  t.begin = as_u64(off[0], origin, where + ": field 'data_offsets'[0]");
  t.end = as_u64(off[1], origin, where + ": field 'data_offsets'[1]");
  TC_CHECK_INPUT(t.begin <= t.end, "safetensors file '{}': {}: field 'data_offsets': begin {} > "
                 "end {}", origin, where, t.begin, t.end);
  TC_CHECK_INPUT(t.end - t.begin == nbytes, "safetensors file '{}': {}: field 'data_offsets': "
                 "[{}, {}] holds {} bytes but dtype {} and shape [{}] need {}", origin, where,
                 t.begin, t.end, t.end - t.begin, row->name, fmt::join(t.shape, ", "), nbytes);
  return t;
}

}  // namespace detail_safetensors

const char* st_dtype_name(StDtype d) {
  for (const auto& r : detail_safetensors::kDtypes)
    if (r.dtype == d) return r.name;
  return "?";
}

size_t st_dtype_size(StDtype d) {
  for (const auto& r : detail_safetensors::kDtypes)
    if (r.dtype == d) return r.size;
  return 0;
}

int64_t StTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated not to overflow when parsed
  return n;
}

StHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& origin,
                           const StLimits& limits) {
  namespace D = detail_safetensors;
  TC_CHECK_INPUT(size >= 8, "safetensors file '{}': {} bytes, shorter than the 8-byte header "
                 "length", origin, size);
  const uint64_t n = D::read_le64(data);
  TC_CHECK_INPUT(n <= limits.max_header_bytes, "safetensors file '{}': header length {} exceeds "
                 "the limit of {} bytes (not a safetensors file?)", origin, n,
                 limits.max_header_bytes);
  TC_CHECK_INPUT(n <= size - 8, "safetensors file '{}': header length {} runs past the end of "
                 "the file ({} bytes)", origin, n, size);
  TC_CHECK_INPUT(n >= 2 && data[8] == '{', "safetensors file '{}': the header must be a JSON "
                 "object starting with '{{'", origin);
  const char* hdr = reinterpret_cast<const char*>(data + 8);
  const int depth = D::json_depth(hdr, n);
  TC_CHECK_INPUT(depth >= 0 && depth <= D::kMaxJsonDepth, "safetensors file '{}': header JSON is "
                 "malformed or nested deeper than {} levels", origin, D::kMaxJsonDepth);

  nlohmann::json root;
  try {
    root = nlohmann::json::parse(hdr, hdr + n);
  } catch (const nlohmann::json::exception& e) {
    TC_INPUT_ERROR("safetensors file '{}': header is not valid JSON: {}", origin, e.what());
  }
  TC_CHECK_INPUT(root.is_object(), "safetensors file '{}': header: expected a JSON object, got {}",
                 origin, root.type_name());

  StHeader h;
  h.data_start = 8 + n;
  const uint64_t buffer = size - 8 - n;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      TC_CHECK_INPUT(it.value().is_object(), "safetensors file '{}': field '__metadata__': "
                     "expected an object of strings, got {}", origin, it.value().type_name());
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        TC_CHECK_INPUT(m.value().is_string(), "safetensors file '{}': field '__metadata__.{}': "
                       "expected a string, got {}", origin, m.key().substr(0, 64),
                       m.value().type_name());
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(D::parse_entry(it.key(), it.value(), origin, limits));
  }

  // The reference reader requires the tensors to tile the byte buffer exactly: in offset
  // order each starts where the previous ended, and the last ends at the end of the file.
  std::vector<const StTensorInfo*> by_off;
  for (const auto& t : h.tensors) by_off.push_back(&t);
  std::sort(by_off.begin(), by_off.end(), [](const StTensorInfo* a, const StTensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  for (const StTensorInfo* t : by_off) {
    TC_CHECK_INPUT(t->end <= buffer, "safetensors file '{}': tensor '{}': field 'data_offsets' "
                   "[{}, {}] runs past the end of the byte buffer ({} bytes)", origin,
                   t->name.substr(0, 200), t->begin, t->end, buffer);
    TC_CHECK_INPUT(t->begin == pos, "safetensors file '{}': tensor '{}': field 'data_offsets' "
                   "[{}, {}] {} (expected it to start at {})", origin, t->name.substr(0, 200),
                   t->begin, t->end, t->begin < pos ? "overlaps the previous tensor"
                                                    : "leaves a gap after the previous tensor",
                   pos);
    pos = t->end;
  }
  TC_CHECK_INPUT(pos == buffer, "safetensors file '{}': the tensors cover {} bytes but the byte "
                 "buffer after the header holds {}", origin, pos, buffer);
  // nlohmann objects iterate in key order, so h.tensors is already sorted by name.
  return h;
}

// ------------------------------------------------------------------ SafetensorsFile
struct SafetensorsFile::Impl {
  std::string path;
  std::vector<uint8_t> owned;      // from_bytes, or the read fallback
  const uint8_t* base = nullptr;   // file image
  size_t size = 0;
  void* map = nullptr;             // mmap'd region (unmapped on destruction)
  StHeader header;
  std::map<std::string, size_t> index;
  ~Impl() {
    if (map) ::munmap(map, size);
  }
};

namespace detail_safetensors {
void finish_open(SafetensorsFile::Impl& im, const StLimits& limits) {
  im.header = parse_safetensors(im.base, im.size, im.path, limits);
  for (size_t i = 0; i < im.header.tensors.size(); ++i) im.index[im.header.tensors[i].name] = i;
}
}  // namespace detail_safetensors

SafetensorsFile SafetensorsFile::open(const std::string& path, const StLimits& limits) {
  auto im = std::make_shared<Impl>();
  im->path = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) TC_INPUT_ERROR("cannot open safetensors file '{}': {}", path, std::strerror(errno));
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    TC_INPUT_ERROR("safetensors file '{}': not a regular file", path);
  }
  im->size = static_cast<size_t>(st.st_size);
  if (im->size > 0) {
    void* p = ::mmap(nullptr, im->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      im->map = p;
      im->base = static_cast<const uint8_t*>(p);
    }
  }
  ::close(fd);
  if (!im->map) {  // empty file or a file system without mmap
    im->owned = read_file_bytes(path);
    im->size = im->owned.size();
    im->base = im->owned.data();
  }
  detail_safetensors::finish_open(*im, limits);
  SafetensorsFile f;
  f.impl_ = std::move(im);
  return f;
}

SafetensorsFile SafetensorsFile::from_bytes(std::vector<uint8_t> bytes, const std::string& origin,
                                            const StLimits& limits) {
  auto im = std::make_shared<Impl>();
  im->path = origin;
  im->owned = std::move(bytes);
  im->base = im->owned.data();
  im->size = im->owned.size();
  detail_safetensors::finish_open(*im, limits);
  SafetensorsFile f;
  f.impl_ = std::move(im);
  return f;
}

const std::string& SafetensorsFile::path() const { return impl_->path; }

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& t : impl_->header.tensors) out.push_back(t.name);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const {
  return impl_->index.count(name) != 0;
}

const StTensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = impl_->index.find(name);
  TC_CHECK_INPUT(it != impl_->index.end(), "safetensors file '{}': no tensor named '{}' ({} "
                 "tensors in the file)", impl_->path, name, impl_->index.size());
  return impl_->header.tensors[it->second];
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const {
  return impl_->header.metadata;
}

const uint8_t* SafetensorsFile::data(const std::string& name) const {
  const auto& t = info(name);
  return impl_->base + impl_->header.data_start + t.begin;
}

// ------------------------------------------------------------------ writer
std::string safetensors_bytes(const std::map<std::string, StRawTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::json hdr = nlohmann::json::object();
  if (!metadata.empty()) hdr["__metadata__"] = metadata;
  uint64_t pos = 0;
  for (const auto& [name, t] : tensors) {
    TC_CHECK(name != "__metadata__", "a tensor cannot be named __metadata__");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      TC_CHECK_GE(d, 0, "tensor '{}' shape", name);
      numel *= static_cast<uint64_t>(d);
    }
    TC_CHECK_EQ(numel * st_dtype_size(t.dtype), t.bytes.size(), "tensor '{}': bytes vs dtype {} "
                "and shape", name, st_dtype_name(t.dtype));
    hdr[name] = {{"dtype", st_dtype_name(t.dtype)},
                 {"shape", t.shape},
                 {"data_offsets", {pos, pos + t.bytes.size()}}};
    pos += t.bytes.size();
  }
  std::string js = hdr.dump();
  js.append((8 - js.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t n = js.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += js;
  for (const auto& kv : tensors) out += kv.second.bytes;
  return out;
}

void write_safetensors(const std::string& path, const std::map<std::string, StRawTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, safetensors_bytes(tensors, metadata));
}

}  // namespace tc::clip
