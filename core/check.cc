#include "core/check.h"

namespace mnemo::detail {

void check_failed(const char* file, int line, const char* cond, const std::string& msg) {
  std::ostringstream os;
  os << file << ":" << line << ": check failed: " << cond;
  if (!msg.empty()) os << " (" << msg << ")";
  throw Error(os.str());
}

}  // namespace mnemo::detail
