#include <cstdlib>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <vmemu/base/log.hpp>

namespace vmemu {

spdlog::logger& log()
{
    static std::shared_ptr<spdlog::logger> logger = [] {
        auto created = spdlog::stderr_color_mt("vmemu");
        const char* level = std::getenv("VMEMU_LOG");
        created->set_level(level ? spdlog::level::from_str(level) : spdlog::level::warn);
        created->set_pattern("vmemu: [%l] %v");
        return created;
    }();
    return *logger;
}

} // namespace vmemu
