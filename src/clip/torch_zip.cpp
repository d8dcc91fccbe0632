// Restricted unpickler for torch.save zip checkpoints (see torch_zip.h for what is accepted).
#include "clip/torch_zip.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <c10/util/Exception.h>
#include <fmt/ranges.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <unordered_map>

#include "util/check.h"

namespace tc::clip {
namespace detail_torch_zip {

struct Value;
using VPtr = std::shared_ptr<Value>;

struct Value {
  enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Tensor, Global, Storage };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                               // Str; Global "module.name"; Storage key
  std::vector<VPtr> items;                     // Tuple, List
  std::vector<std::pair<VPtr, VPtr>> dict;     // Dict, in insertion order
  at::Tensor tensor;                           // Tensor; Storage: the flat storage
};

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::Str: return "str";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return "dict";
    case Value::Kind::Tensor: return "tensor";
    case Value::Kind::Global: return "global";
    case Value::Kind::Storage: return "storage";
  }
  return "?";
}

struct StorageType {
  const char* name;
  at::ScalarType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"torch.DoubleStorage", at::kDouble}, {"torch.FloatStorage", at::kFloat},
    {"torch.HalfStorage", at::kHalf},     {"torch.BFloat16Storage", at::kBFloat16},
    {"torch.LongStorage", at::kLong},     {"torch.IntStorage", at::kInt},
    {"torch.ShortStorage", at::kShort},   {"torch.CharStorage", at::kChar},
    {"torch.ByteStorage", at::kByte},     {"torch.BoolStorage", at::kBool},
};

bool allowed_global(const std::string& g) {
  if (g == "collections.OrderedDict" || g == "torch._utils._rebuild_tensor_v2" ||
      g == "torch._utils._rebuild_parameter")
    return true;
  for (const auto& st : kStorageTypes)
    if (g == st.name) return true;
  return false;
}

class Unpickler {
 public:
  Unpickler(const std::string& data, const std::function<std::string(const std::string&)>& storage,
            std::string origin)
      : d_(data), storage_(storage), origin_(std::move(origin)) {}

  // Drops every value created without recursive destructor chains (and breaks any cycles a
  // hostile file built through the memo).
  ~Unpickler() {
    for (auto& v : all_) {
      v->items.clear();
      v->dict.clear();
    }
  }

  VPtr run();

 private:
  template <typename... A>
  [[noreturn]] void fail(fmt::format_string<A...> f, A&&... a) {
    TC_INPUT_ERROR("torch checkpoint '{}': data.pkl byte {}: {}", origin_, op_pos_,
                   fmt::format(f, std::forward<A>(a)...));
  }
  VPtr make(Value::Kind k) {
    auto v = std::make_shared<Value>();
    v->kind = k;
    all_.push_back(v);
    return v;
  }
  const uint8_t* take(size_t n) {
    if (n > d_.size() - pos_) fail("truncated (needs {} more bytes, {} left)", n, d_.size() - pos_);
    const auto* p = reinterpret_cast<const uint8_t*>(d_.data()) + pos_;
    pos_ += n;
    return p;
  }
  uint64_t le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = (v << 8) | p[k];
    return v;
  }
  std::string line() {
    size_t nl = d_.find('\n', pos_);
    if (nl == std::string::npos || nl - pos_ > 256) fail("GLOBAL without a newline-ended name");
    std::string s = d_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return s;
  }
  VPtr pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("stack underflow");
    VPtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  VPtr& top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("stack underflow");
    return stack_.back();
  }
  std::vector<VPtr> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<VPtr> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }
  VPtr tuple(std::vector<VPtr> items) {
    VPtr t = make(Value::Kind::Tuple);
    t->items = std::move(items);
    return t;
  }
  void memo_put(uint64_t idx) {
    if (idx > (1u << 24)) fail("memo index {} too large", idx);
    memo_[idx] = top();
  }
  VPtr memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("memo index {} was never stored", idx);
    return it->second;
  }
  void set_item(const VPtr& dict, VPtr key, VPtr value) {
    if (dict->kind != Value::Kind::Dict) fail("SETITEM on a {}, expected a dict", kind_name(dict->kind));
    if (key->kind != Value::Kind::Str && key->kind != Value::Kind::Int)
      fail("dict key of type {} (only str and int keys are accepted)", kind_name(key->kind));
    for (auto& kv : dict->dict)
      if (kv.first->kind == key->kind && kv.first->s == key->s && kv.first->i == key->i) {
        kv.second = std::move(value);
        return;
      }
    dict->dict.emplace_back(std::move(key), std::move(value));
  }
  VPtr persistent_load(const VPtr& pid);
  VPtr reduce(const VPtr& fn, const VPtr& args);
  VPtr rebuild_tensor(const std::vector<VPtr>& a);

  const std::string& d_;
  const std::function<std::string(const std::string&)>& storage_;
  std::string origin_;
  size_t pos_ = 0, op_pos_ = 0;
  std::vector<VPtr> stack_, all_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, VPtr> memo_;
  std::unordered_map<std::string, VPtr> storages_;
};

int64_t as_int(const VPtr& v, const char* what, const std::string& origin) {
  TC_CHECK_INPUT(v->kind == Value::Kind::Int, "torch checkpoint '{}': {}: expected an int, got {}",
                 origin, what, kind_name(v->kind));
  return v->i;
}

std::vector<int64_t> as_ints(const VPtr& v, const char* what, const std::string& origin) {
  TC_CHECK_INPUT(v->kind == Value::Kind::Tuple || v->kind == Value::Kind::List,
                 "torch checkpoint '{}': {}: expected a tuple of ints, got {}", origin, what,
                 kind_name(v->kind));
  std::vector<int64_t> out;
  for (const auto& x : v->items) out.push_back(as_int(x, what, origin));
  return out;
}

VPtr Unpickler::persistent_load(const VPtr& pid) {
  // ('storage', <storage type global>, key, location, numel)
  if (pid->kind != Value::Kind::Tuple || pid->items.size() != 5 ||
      pid->items[0]->kind != Value::Kind::Str || pid->items[0]->s != "storage")
    fail("persistent id is not ('storage', type, key, location, numel)");
  const VPtr& type = pid->items[1];
  if (type->kind != Value::Kind::Global) fail("storage type is a {}, expected a global", kind_name(type->kind));
  const StorageType* st = nullptr;
  for (const auto& t : kStorageTypes)
    if (type->s == t.name) st = &t;
  if (!st) fail("'{}' is not a storage type", type->s);
  const VPtr& key = pid->items[2];
  if (key->kind != Value::Kind::Str) fail("storage key is a {}, expected a str", kind_name(key->kind));
  const int64_t numel = as_int(pid->items[4], "storage numel", origin_);
  auto cached = storages_.find(key->s);
  if (cached != storages_.end()) {
    if (cached->second->tensor.scalar_type() != st->dtype)
      fail("storage '{}' used with two dtypes", key->s);
    return cached->second;
  }
  std::string bytes = storage_(key->s);
  const size_t item = at::elementSize(st->dtype);
  if (numel < 0 || bytes.size() % item != 0 || static_cast<uint64_t>(numel) > bytes.size() / item)
    fail("storage '{}' ({}): {} bytes cannot hold {} elements of {} bytes", key->s, type->s,
         bytes.size(), numel, item);
  if (st->dtype == at::kBool)
    for (char c : bytes)
      if (static_cast<unsigned char>(c) > 1) fail("storage '{}': bool byte other than 0/1", key->s);
  VPtr v = make(Value::Kind::Storage);
  v->s = key->s;
  v->tensor = at::empty({static_cast<int64_t>(bytes.size() / item)}, at::TensorOptions().dtype(st->dtype));
  if (!bytes.empty()) std::memcpy(v->tensor.data_ptr(), bytes.data(), bytes.size());
  storages_[key->s] = v;
  return v;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
VPtr Unpickler::rebuild_tensor(const std::vector<VPtr>& a) {
  if (a.size() < 6 || a.size() > 7) fail("_rebuild_tensor_v2 with {} arguments, expected 6 or 7", a.size());
  if (a[0]->kind != Value::Kind::Storage) fail("_rebuild_tensor_v2: first argument is a {}, expected a storage", kind_name(a[0]->kind));
  const at::Tensor& storage = a[0]->tensor;
  const int64_t offset = as_int(a[1], "tensor storage offset", origin_);
  auto size = as_ints(a[2], "tensor size", origin_);
  auto stride = as_ints(a[3], "tensor stride", origin_);
  if (size.size() != stride.size() || size.size() > 32) fail("tensor size/stride ranks {} / {}", size.size(), stride.size());
  if (offset < 0) fail("negative storage offset {}", offset);
  // The last element reached must lie inside the storage (overflow-safe).
  bool empty = false;
  int64_t last = offset;
  for (size_t k = 0; k < size.size(); ++k) {
    if (size[k] < 0 || stride[k] < 0) fail("negative size or stride in dimension {}", k);
    if (size[k] == 0) empty = true;
    int64_t span = 0;
    if (size[k] > 0 && (__builtin_mul_overflow(size[k] - 1, stride[k], &span) ||
                        __builtin_add_overflow(last, span, &last)))
      fail("tensor extent overflows");
  }
  VPtr v = make(Value::Kind::Tensor);
  auto opts = at::TensorOptions().dtype(storage.scalar_type());
  if (empty) {
    v->tensor = at::empty(size, opts);
    return v;
  }
  if (last >= storage.numel())
    fail("tensor (offset {}, size [{}], stride [{}]) reaches element {} of a {}-element storage",
         offset, fmt::join(size, ","), fmt::join(stride, ","), last, storage.numel());
  v->tensor = storage.as_strided(size, stride, offset).clone(at::MemoryFormat::Contiguous);
  return v;
}

VPtr Unpickler::reduce(const VPtr& fn, const VPtr& args) {
  if (fn->kind != Value::Kind::Global) fail("REDUCE of a {}, expected a global", kind_name(fn->kind));
  if (args->kind != Value::Kind::Tuple) fail("REDUCE arguments are a {}, expected a tuple", kind_name(args->kind));
  const auto& a = args->items;
  if (fn->s == "collections.OrderedDict") {
    VPtr d = make(Value::Kind::Dict);
    if (a.size() == 1 && a[0]->kind == Value::Kind::List) {  // OrderedDict([(k, v), ...])
      for (const auto& kv : a[0]->items) {
        if (kv->kind != Value::Kind::Tuple || kv->items.size() != 2) fail("OrderedDict item is not a pair");
        set_item(d, kv->items[0], kv->items[1]);
      }
    } else if (!a.empty()) {
      fail("OrderedDict with {} arguments", a.size());
    }
    return d;
  }
  if (fn->s == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(a);
  if (fn->s == "torch._utils._rebuild_parameter") {  // (data, requires_grad, backward_hooks)
    if (a.size() != 3 || a[0]->kind != Value::Kind::Tensor) fail("_rebuild_parameter arguments");
    return a[0];
  }
  fail("'{}' cannot be called", fn->s);
}

VPtr Unpickler::run() {
  while (true) {
    op_pos_ = pos_;
    const uint8_t op = *take(1);
    switch (op) {
      case 0x80: take(1); break;                                     // PROTO
      case 0x95: take(8); break;                                     // FRAME
      case '.': {                                                    // STOP
        VPtr r = pop();
        return r;
      }
      case '(': marks_.push_back(stack_.size()); break;              // MARK
      case '0': pop(); break;                                        // POP
      case '1': pop_mark(); break;                                   // POP_MARK
      case '}': stack_.push_back(make(Value::Kind::Dict)); break;    // EMPTY_DICT
      case ']': stack_.push_back(make(Value::Kind::List)); break;    // EMPTY_LIST
      case ')': stack_.push_back(tuple({})); break;                  // EMPTY_TUPLE
      case 't': stack_.push_back(tuple(pop_mark())); break;          // TUPLE
      case 0x85: case 0x86: case 0x87: {                             // TUPLE1..3
        std::vector<VPtr> items(op - 0x84);
        for (size_t k = items.size(); k-- > 0;) items[k] = pop();
        stack_.push_back(tuple(std::move(items)));
        break;
      }
      case 'X': case 0x8c: case 0x8d: {                              // BINUNICODE(8), SHORT_
        uint64_t n = le(op == 'X' ? 4 : op == 0x8c ? 1 : 8);
        const uint8_t* p = take(n);
        VPtr v = make(Value::Kind::Str);
        v->s.assign(reinterpret_cast<const char*>(p), n);
        stack_.push_back(v);
        break;
      }
      case 'q': memo_put(le(1)); break;                              // BINPUT
      case 'r': memo_put(le(4)); break;                              // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;                      // MEMOIZE
      case 'h': stack_.push_back(memo_get(le(1))); break;            // BINGET
      case 'j': stack_.push_back(memo_get(le(4))); break;            // LONG_BINGET
      case 'J': case 'K': case 'M': {                                // BININT, BININT1, BININT2
        VPtr v = make(Value::Kind::Int);
        if (op == 'J') v->i = static_cast<int32_t>(le(4));
        else v->i = static_cast<int64_t>(le(op == 'K' ? 1 : 2));
        stack_.push_back(v);
        break;
      }
      case 0x8a: {                                                   // LONG1
        uint64_t n = le(1);
        if (n > 8) fail("LONG1 of {} bytes (ints beyond 64 bits are not accepted)", n);
        uint64_t u = n ? le(n) : 0;
        if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~uint64_t{0} << (8 * n);  // sign
        VPtr v = make(Value::Kind::Int);
        v->i = static_cast<int64_t>(u);
        stack_.push_back(v);
        break;
      }
      case 'N': stack_.push_back(make(Value::Kind::None)); break;    // NONE
      case 0x88: case 0x89: {                                        // NEWTRUE, NEWFALSE
        VPtr v = make(Value::Kind::Bool);
        v->b = op == 0x88;
        stack_.push_back(v);
        break;
      }
      case 'G': {                                                    // BINFLOAT (big-endian)
        const uint8_t* p = take(8);
        uint64_t u = 0;
        for (int k = 0; k < 8; ++k) u = (u << 8) | p[k];
        VPtr v = make(Value::Kind::Float);
        std::memcpy(&v->f, &u, 8);
        stack_.push_back(v);
        break;
      }
      case 's': {                                                    // SETITEM
        VPtr value = pop(), key = pop();
        set_item(top(), std::move(key), std::move(value));
        break;
      }
      case 'u': {                                                    // SETITEMS
        auto items = pop_mark();
        if (items.size() % 2) fail("SETITEMS with an odd number of items");
        VPtr d = top();
        for (size_t k = 0; k < items.size(); k += 2) set_item(d, items[k], items[k + 1]);
        break;
      }
      case 'a': {                                                    // APPEND
        VPtr v = pop();
        VPtr& l = top();
        if (l->kind != Value::Kind::List) fail("APPEND to a {}", kind_name(l->kind));
        l->items.push_back(std::move(v));
        break;
      }
      case 'e': {                                                    // APPENDS
        auto items = pop_mark();
        VPtr& l = top();
        if (l->kind != Value::Kind::List) fail("APPENDS to a {}", kind_name(l->kind));
        for (auto& v : items) l->items.push_back(std::move(v));
        break;
      }
      case 'c': case 0x93: {                                         // GLOBAL, STACK_GLOBAL
        std::string module, name;
        if (op == 'c') {
          module = line();
          name = line();
        } else {
          VPtr n = pop(), m = pop();
          if (n->kind != Value::Kind::Str || m->kind != Value::Kind::Str) fail("STACK_GLOBAL of non-strings");
          module = m->s;
          name = n->s;
        }
        std::string full = module + "." + name;
        if (!allowed_global(full))
          fail("refusing global '{}': only collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
               "torch._utils._rebuild_parameter and torch.*Storage types are accepted", full);
        VPtr v = make(Value::Kind::Global);
        v->s = full;
        stack_.push_back(v);
        break;
      }
      case 'R': {                                                    // REDUCE
        VPtr args = pop(), fn = pop();
        stack_.push_back(reduce(fn, args));
        break;
      }
      case 'b': {                                                    // BUILD
        VPtr state = pop();
        VPtr& target = top();
        // OrderedDict state is its __dict__ ({'_metadata': ...} from state_dict()): ignored.
        if (target->kind != Value::Kind::Dict && target->kind != Value::Kind::Tensor)
          fail("BUILD on a {}", kind_name(target->kind));
        if (state->kind != Value::Kind::Dict && state->kind != Value::Kind::None &&
            state->kind != Value::Kind::Tuple)
          fail("BUILD with a {} state", kind_name(state->kind));
        break;
      }
      case 'Q': {                                                    // BINPERSID
        VPtr pid = pop();
        stack_.push_back(persistent_load(pid));
        break;
      }
      default:
        fail("unsupported pickle opcode 0x{:02x} ('{}')", op,
             op >= 0x20 && op < 0x7f ? std::string(1, static_cast<char>(op)) : std::string("?"));
    }
  }
}

std::string repr(const VPtr& v) {
  switch (v->kind) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return v->b ? "True" : "False";
    case Value::Kind::Int: return std::to_string(v->i);
    case Value::Kind::Float: return fmt::format("{}", v->f);
    case Value::Kind::Str: return "'" + v->s + "'";
    default: return fmt::format("<{}>", kind_name(v->kind));
  }
}

void flatten(const VPtr& v, const std::string& name, int depth, TorchCheckpoint& out,
             const std::string& origin) {
  TC_CHECK_INPUT(depth <= 32, "torch checkpoint '{}': '{}' is nested deeper than 32 levels",
                 origin, name);
  auto child = [&](const std::string& key) { return name.empty() ? key : name + "." + key; };
  switch (v->kind) {
    case Value::Kind::Tensor: out.tensors[name] = v->tensor; break;
    case Value::Kind::Dict:
      for (const auto& kv : v->dict)
        flatten(kv.second, child(kv.first->kind == Value::Kind::Str ? kv.first->s
                                                                    : std::to_string(kv.first->i)),
                depth + 1, out, origin);
      break;
    case Value::Kind::List:
    case Value::Kind::Tuple:
      for (size_t k = 0; k < v->items.size(); ++k)
        flatten(v->items[k], child(std::to_string(k)), depth + 1, out, origin);
      break;
    default: out.other[name] = repr(v);
  }
}

}  // namespace detail_torch_zip

TorchCheckpoint unpickle_checkpoint(const std::string& pickle,
                                    const std::function<std::string(const std::string&)>& storage,
                                    const std::string& origin) {
  detail_torch_zip::Unpickler u(pickle, storage, origin);
  auto root = u.run();
  TorchCheckpoint out;
  detail_torch_zip::flatten(root, "", 0, out, origin);
  return out;
}

TorchCheckpoint load_torch_checkpoint(const std::string& path) {
  {
    std::ifstream in(path, std::ios::binary);
    TC_CHECK_INPUT(in.good(), "cannot open torch checkpoint '{}'", path);
    char magic[4] = {0, 0, 0, 0};
    in.read(magic, 4);
    TC_CHECK_INPUT(std::memcmp(magic, "PK\x03\x04", 4) == 0,
                   "torch checkpoint '{}' is not a zip archive{}", path,
                   static_cast<unsigned char>(magic[0]) == 0x80
                       ? " (it looks like the legacy pre-1.6 torch.save format: re-save it with "
                         "torch >= 1.6, whose default is the zip format)"
                       : "");
  }
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    TC_CHECK_INPUT(reader.hasRecord("data.pkl"), "torch checkpoint '{}': no data.pkl in the "
                   "archive (a TorchScript archive? load those with torch::jit::load)", path);
    if (reader.hasRecord("byteorder")) {
      auto [ptr, n] = reader.getRecord("byteorder");
      std::string order(static_cast<const char*>(ptr.get()), n);
      TC_CHECK_INPUT(order == "little", "torch checkpoint '{}': byte order '{}' (only little-endian "
                     "files are supported)", path, order);
    }
    auto [pk, pn] = reader.getRecord("data.pkl");
    std::string pickle(static_cast<const char*>(pk.get()), pn);
    auto storage = [&](const std::string& key) {
      std::string rec = "data/" + key;
      TC_CHECK_INPUT(reader.hasRecord(rec), "torch checkpoint '{}': storage record '{}' is missing",
                     path, rec);
      auto [ptr, n] = reader.getRecord(rec);
      return std::string(static_cast<const char*>(ptr.get()), n);
    };
    return unpickle_checkpoint(pickle, storage, path);
  } catch (const c10::Error& e) {
    TC_INPUT_ERROR("torch checkpoint '{}': cannot read the zip archive: {}", path,
                   e.what_without_backtrace());
  }
}

}  // namespace tc::clip
