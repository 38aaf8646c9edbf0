#pragma once

// What several test suites share: temporary folders, running a command and
// capturing its output, and the paths the build passes in.

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <sys/wait.h>

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

}  // namespace fairseq2::test
