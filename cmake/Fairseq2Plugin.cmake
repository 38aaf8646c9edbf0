# fairseq2_add_plugin(NAME SOURCES src... [VERSION v] [OUTPUT_DIRECTORY dir] [INSTALL])
#
# Builds a model-family plugin as a shared library the fairseq2 host can
# load, named libfairseq2_NAME.so. It
#   - links fairseq2::sdk (C++20, the SDK headers, libtorch, Boost.JSON, {fmt});
#   - hides every symbol but the extern "C" entry points (visibility hidden,
#     inline functions too) and compiles with -fno-gnu-unique, so the
#     library really unloads when the last object it created is gone;
#   - compiles with the _GLIBCXX_USE_CXX11_ABI of the SDK and libtorch, and
#     defines FAIRSEQ2_PLUGIN_NAME ("NAME") and FAIRSEQ2_PLUGIN_VERSION
#     (VERSION, else the project's version, else "0.0.0"), which
#     FAIRSEQ2_PLUGIN_INFO() stamps into the handshake;
#   - puts the library in OUTPUT_DIRECTORY, else in
#     FAIRSEQ2_PLUGIN_OUTPUT_DIRECTORY when that is set (the fairseq2 build
#     tree sets it to its default plugin folder);
#   - with INSTALL, installs it to FAIRSEQ2_PLUGIN_INSTALL_DIR
#     (<libdir>/fairseq2/plugins of the install prefix).
#
# Works in the fairseq2 build tree and, through find_package(fairseq2), in
# projects built against an installed fairseq2.

include_guard(GLOBAL)
include("${CMAKE_CURRENT_LIST_DIR}/Fairseq2EmbedFile.cmake")
include(GNUInstallDirs)

if(NOT DEFINED FAIRSEQ2_PLUGIN_INSTALL_DIR)
  set(FAIRSEQ2_PLUGIN_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/fairseq2/plugins")
endif()

function(fairseq2_add_plugin name)
  cmake_parse_arguments(ARG "INSTALL" "VERSION;OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "fairseq2_add_plugin(${name}): unknown arguments '${ARG_UNPARSED_ARGUMENTS}'; "
                        "give SOURCES and optionally VERSION, OUTPUT_DIRECTORY and INSTALL")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "fairseq2_add_plugin(${name}): SOURCES is empty; list the plugin's .cpp files after SOURCES")
  endif()
  if(NOT TARGET fairseq2::sdk)
    message(FATAL_ERROR "fairseq2_add_plugin(${name}): the target fairseq2::sdk does not exist; call find_package(fairseq2 CONFIG REQUIRED) first")
  endif()
  if(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "fairseq2_add_plugin(${name}): the name must be a C identifier (letters, digits, underscores)")
  endif()
  if(NOT ARG_VERSION)
    set(ARG_VERSION "${PROJECT_VERSION}")
  endif()
  if(NOT ARG_VERSION)
    set(ARG_VERSION "0.0.0")
  endif()

  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE fairseq2::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    SUFFIX ".so"
    OUTPUT_NAME "fairseq2_${name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_compile_features(${name} PRIVATE cxx_std_20)
  target_compile_options(${name} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
  target_compile_definitions(${name} PRIVATE
    FAIRSEQ2_PLUGIN_NAME="${name}"
    FAIRSEQ2_PLUGIN_VERSION="${ARG_VERSION}")
  if(DEFINED FAIRSEQ2_GLIBCXX_USE_CXX11_ABI)
    target_compile_definitions(${name} PRIVATE _GLIBCXX_USE_CXX11_ABI=${FAIRSEQ2_GLIBCXX_USE_CXX11_ABI})
  endif()

  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED FAIRSEQ2_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${FAIRSEQ2_PLUGIN_OUTPUT_DIRECTORY}")
  endif()

  if(ARG_INSTALL)
    # <prefix>/lib/fairseq2/plugins -> <prefix>/lib, where libfairseq2_sdk is.
    set_target_properties(${name} PROPERTIES INSTALL_RPATH "$ORIGIN/../..")
    install(TARGETS ${name} LIBRARY DESTINATION "${FAIRSEQ2_PLUGIN_INSTALL_DIR}")
  endif()
endfunction()
