#pragma once

// What several test suites share: temporary folders, running a command and
// capturing its output, and the paths the build passes in.

#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <utility>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace fairseq2::test {

// A fresh folder under the system temp folder, removed with its contents.
class TempDir {
public:
    TempDir()
    {
        std::random_device device;
        path_ = std::filesystem::temp_directory_path() /
                ("fairseq2-test-" + std::to_string(::getpid()) + "-" + std::to_string(device()));
        std::filesystem::create_directories(path_);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir()
    {
        std::error_code error;
        std::filesystem::remove_all(path_, error);
    }

    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

struct CommandResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

inline std::string read_file(const std::filesystem::path& path)
{
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

inline void write_file(const std::filesystem::path& path, const std::string& content)
{
    std::ofstream file(path, std::ios::binary);
    file << content;
}

inline std::string shell_quote(const std::string& text)
{
    std::string quoted = "'";
    for (char c : text)
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

// Runs `command` with /bin/sh, capturing stdout and stderr separately.
inline CommandResult run_command(const std::string& command)
{
    TempDir dir;
    auto out = dir / "stdout";
    auto err = dir / "stderr";
    std::string full = "(" + command + ") >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
    int status = std::system(full.c_str());
    CommandResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = read_file(out);
    result.err = read_file(err);
    return result;
}

#ifdef FAIRSEQ2_TEST_CLI
// The built `fairseq2` program, quoted for the shell.
inline std::string cli()
{
    return shell_quote(FAIRSEQ2_TEST_CLI);
}
#endif

inline std::string python()
{
    return shell_quote(FAIRSEQ2_TEST_PYTHON);
}

inline std::filesystem::path reference_script(const std::string& name)
{
    return std::filesystem::path(FAIRSEQ2_TEST_REFERENCE_DIR) / name;
}

// A command's exit status and output, for failure messages.
inline std::string describe(const CommandResult& result)
{
    return "exit " + std::to_string(result.exit_code) + "\n--- stdout\n" + result.out + "--- stderr\n" + result.err;
}

#ifdef FAIRSEQ2_TEST_WORK_DIR
// A folder of reference files, made on first use by `make(folder)` and
// shared by the test processes of this build while `key` (the scripts and
// inputs that make it) stays the same: ctest runs each test in a process of
// its own, and Python with torch or node takes seconds to start. It is made
// in a staging folder and renamed, so a concurrent process never sees it
// half-written. `make` throws std::runtime_error when it fails.
inline std::filesystem::path shared_reference_dir(const std::string& name, const std::string& key,
                                                  const std::function<void(const std::filesystem::path&)>& make)
{
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(FAIRSEQ2_TEST_WORK_DIR) / (name + "-" + std::to_string(std::hash<std::string>{}(key)));
    std::error_code error;
    if (fs::is_directory(dir, error))
        return dir;
    fs::create_directories(dir.parent_path());
    fs::path staging = dir;
    staging += ".tmp-" + std::to_string(::getpid());
    fs::remove_all(staging, error);
    fs::create_directories(staging);
    try {
        make(staging);
    } catch (...) {
        fs::remove_all(staging, error);
        throw;
    }
    fs::rename(staging, dir, error);
    if (error)  // another process got there first
        fs::remove_all(staging, error);
    return dir;
}

// Runs `command`; throws std::runtime_error with its output when it fails.
inline void run_or_throw(const std::string& what, const std::string& command)
{
    CommandResult result = run_command(command);
    if (result.exit_code != 0)
        throw std::runtime_error(what + " failed:\n" + describe(result));
}

// The folder the reference script `script_name` writes when run with
// `arguments` and then the folder.
inline std::filesystem::path shared_reference_dir(const std::string& script_name, const std::string& arguments = {})
{
    const std::filesystem::path script = reference_script(script_name);
    return shared_reference_dir(script.stem().string(), read_file(script) + "\n" + arguments, [&](const std::filesystem::path& staging) {
        run_or_throw(script_name + " (needs " FAIRSEQ2_TEST_PYTHON " with torch)",
                     python() + " " + shell_quote(script.string()) + (arguments.empty() ? "" : " " + arguments) + " " +
                         shell_quote(staging.string()));
    });
}
#endif

// `text` as JSON; a parse error fails the test (and returns null).
inline boost::json::value parse_json(const std::string& text)
{
    boost::system::error_code error;
    boost::json::value value = boost::json::parse(text, error);
    EXPECT_FALSE(error) << error.message() << " in:\n" << text;
    return value;
}

// Sets (or unsets, with nullopt) an environment variable for a scope.
class EnvVar {
public:
    EnvVar(std::string name, const std::optional<std::string>& value) : name_{std::move(name)}
    {
        if (const char* old = std::getenv(name_.c_str()); old != nullptr)
            old_ = old;
        if (value)
            ::setenv(name_.c_str(), value->c_str(), 1);
        else
            ::unsetenv(name_.c_str());
    }
    EnvVar(const EnvVar&) = delete;
    EnvVar& operator=(const EnvVar&) = delete;
    ~EnvVar()
    {
        if (old_)
            ::setenv(name_.c_str(), old_->c_str(), 1);
        else
            ::unsetenv(name_.c_str());
    }

private:
    std::string name_;
    std::optional<std::string> old_;
};

// An asset card of a tiny llama (llama2_7b's body, 2 layers of width 64,
// 256 tokens) that tests create with random weights.
inline constexpr const char* tiny_llama_card = R"(name: tiny
base: llama2_7b
model_config:
  model_dim: 64
  num_layers: 2
  num_attn_heads: 4
  num_key_value_heads: 2
  ffn_inner_dim: 128
  vocab_info:
    size: 256
)";

}  // namespace fairseq2::test
