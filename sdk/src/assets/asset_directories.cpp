#include "fairseq2/assets/asset_directories.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/runtime_symbol_info.hpp>

#ifndef FAIRSEQ2_LIB_TO_DATA_DIR
#define FAIRSEQ2_LIB_TO_DATA_DIR "../share"
#endif

namespace fairseq2::assets {

namespace {

// The value of `name`, or "" when unset.
std::string env(const char* name)
{
    const char* value = std::getenv(name);
    return value == nullptr ? std::string{} : std::string{value};
}

std::filesystem::path home_dir()
{
    if (std::string home = env("HOME"); !home.empty())
        return home;
    if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr && entry->pw_dir != nullptr)
        return entry->pw_dir;
    return "/";
}

// $OVERRIDE, else $XDG/fairseq2/assets, else ~/FALLBACK/fairseq2/assets.
std::filesystem::path xdg_dir(const char* override_var, const char* xdg_var, const char* fallback)
{
    if (std::string dir = env(override_var); !dir.empty())
        return dir;
    if (std::string xdg = env(xdg_var); !xdg.empty())
        return std::filesystem::path(xdg) / "fairseq2" / "assets";
    return home_dir() / fallback / "fairseq2" / "assets";
}

}  // namespace

std::filesystem::path installed_asset_dir()
{
    boost::dll::fs::error_code error;
    auto location = boost::dll::this_line_location(error);
    if (error)
        return {};
    // <libdir>/libfairseq2_sdk.so -> <libdir>/<relative datadir>/fairseq2/assets; the build passes the
    // relative path from the lib folder to the data folder ("../share"), the same in the build tree.
    auto dir = std::filesystem::path(location).parent_path() / FAIRSEQ2_LIB_TO_DATA_DIR / "fairseq2" / "assets";
    return dir.lexically_normal();
}

std::filesystem::path system_asset_dir()
{
    if (std::string dir = env("FAIRSEQ2_ASSET_DIR"); !dir.empty())
        return dir;
    return installed_asset_dir();
}

std::filesystem::path user_asset_dir()
{
    return xdg_dir("FAIRSEQ2_USER_ASSET_DIR", "XDG_CONFIG_HOME", ".config");
}

std::filesystem::path asset_cache_dir()
{
    return xdg_dir("FAIRSEQ2_CACHE_DIR", "XDG_CACHE_HOME", ".cache");
}

}  // namespace fairseq2::assets
