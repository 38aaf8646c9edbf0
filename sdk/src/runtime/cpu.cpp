#include "fairseq2/runtime/cpu.hpp"

#include <sched.h>

#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

namespace fairseq2 {

int physical_core_count()
{
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    const bool have_affinity = sched_getaffinity(0, sizeof(allowed), &allowed) == 0;

    std::ifstream cpuinfo("/proc/cpuinfo");
    std::set<std::pair<int, int>> cores;
    int processor = -1;
    int package = 0;
    std::string line;
    auto value_of = [](const std::string& text) { return std::stoi(text.substr(text.find(':') + 1)); };
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("processor", 0) == 0)
            processor = value_of(line);
        else if (line.rfind("physical id", 0) == 0)
            package = value_of(line);
        else if (line.rfind("core id", 0) == 0 && processor >= 0 && (!have_affinity || CPU_ISSET(processor, &allowed)))
            cores.emplace(package, value_of(line));
    }
    if (!cores.empty())
        return static_cast<int>(cores.size());
    unsigned threads = std::thread::hardware_concurrency();
    return threads == 0 ? 1 : static_cast<int>(threads);
}

}  // namespace fairseq2
