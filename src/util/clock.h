// Wall-clock timestamps for records written to files (calibrations, sweep markers and locks).
#pragma once

#include <string>

namespace tc {

// Now, in UTC, ISO 8601 to the second: "2026-11-28T19:58:19Z".
std::string utc_now_iso();

}  // namespace tc
