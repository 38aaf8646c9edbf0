# Finds the third-party packages every part of the build uses (all from Debian 12).
find_package(Torch REQUIRED)
find_package(Boost 1.81 CONFIG REQUIRED COMPONENTS json)
find_package(fmt CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(Threads REQUIRED)

# TorchConfig.cmake adds flags to TORCH_CXX_FLAGS (the C++11 ABI define);
# apply them to everything we build so all code agrees with libtorch.
separate_arguments(_fairseq2_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
add_compile_options(${_fairseq2_torch_flags})

# The _GLIBCXX_USE_CXX11_ABI of libtorch, which every plugin must share;
# the installed package config records it for fairseq2_add_plugin().
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=([01])")
  set(FAIRSEQ2_GLIBCXX_USE_CXX11_ABI "${CMAKE_MATCH_1}")
else()
  set(FAIRSEQ2_GLIBCXX_USE_CXX11_ABI 1)
endif()
