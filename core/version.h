// The mnemo release version, for files that leave the run directory (exported policies) so that
// a reader can tell which mnemo wrote them. Bump it with each release.
#pragma once

namespace mnemo {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace mnemo
