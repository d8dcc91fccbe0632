// `tokenclip info FILE`: printers keyed by a file's `format` attribute.
//
// Each file format registers a printer (usually in the .cpp of the command that writes it):
//   TC_REGISTER_INFO_PRINTER("tokenclip-checkpoint", "training checkpoint", print_checkpoint);
// `info` reads the root `format` attribute and calls the matching printer; files of a format
// without a printer get a generic listing of their attributes and datasets.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "app/command.h"

namespace tc::app {

struct InfoOptions {
  bool verify = false;  // also check integrity (e.g. recompute content hashes): may read it all
  bool brief = false;   // meta only, skip statistics that need to read the bulk data
};

using InfoPrinter = std::function<void(const std::string& path, const InfoOptions& opt)>;

struct InfoFormat {
  std::string format;       // the `format` attribute value
  std::string description;  // one line for --help
  InfoPrinter print;        // prints to stdout; input errors as tc::Error
};

bool register_info_printer(InfoFormat f);
const std::vector<InfoFormat>& info_printers();

// Generic listing of an HDF5 file: root attributes, then every dataset with type and shape.
void print_hdf5_listing(const std::string& path);

}  // namespace tc::app

#define TC_REGISTER_INFO_PRINTER(...) \
  static const bool TC_CONCAT_(tc_info_registered_, __LINE__) = \
      ::tc::app::register_info_printer(::tc::app::InfoFormat{__VA_ARGS__})
