#include "flow/observe/snapshot.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace flow::observe {

process_sample sample_process() {
  process_sample p;
  std::ifstream statm{"/proc/self/statm"};
  uint64_t size = 0, resident = 0;
  if (statm >> size >> resident)
    p.rss_bytes = resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  std::ifstream stat{"/proc/self/stat"};
  std::string line;
  if (std::getline(stat, line)) {
    // Fields after the command name (which may contain spaces) in ")".
    auto pos = line.rfind(')');
    if (pos != std::string::npos) {
      std::istringstream rest{line.substr(pos + 2)};
      std::string field;
      uint64_t utime = 0, stime = 0;
      // state is field 3; utime and stime are fields 14 and 15.
      for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
      }
      p.cpu_seconds = static_cast<double>(utime + stime) /
                      static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  }
  return p;
}

} // namespace flow::observe
