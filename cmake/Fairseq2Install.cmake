# What `cmake --install` puts under the prefix:
#   bin/fairseq2
#   lib/libfairseq2_sdk.so*, lib/libfairseq2_host.so*
#   lib/fairseq2/plugins/*.so         plugins built with fairseq2_add_plugin(... INSTALL)
#   include/fairseq2/**               the SDK and host headers
#   lib/cmake/fairseq2/               fairseq2Config.cmake, fairseq2ConfigVersion.cmake,
#                                     fairseq2Targets.cmake, Fairseq2Plugin.cmake,
#                                     Fairseq2EmbedFile.cmake
#   lib/pkgconfig/fairseq2.pc
# Installed binaries find the libraries through relative run paths, so the
# prefix can be moved.

include(CMakePackageConfigHelpers)

set(FAIRSEQ2_INSTALL_PLUGIN_DIR "${CMAKE_INSTALL_LIBDIR}/fairseq2/plugins")
set(FAIRSEQ2_INSTALL_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/fairseq2")

# Run paths: bin -> lib for the program, lib -> lib for the host library;
# libtorch and friends outside the system folders come from the link path.
file(RELATIVE_PATH _fairseq2_bin_to_lib "${CMAKE_INSTALL_FULL_BINDIR}" "${CMAKE_INSTALL_FULL_LIBDIR}")
set_target_properties(fairseq2_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${_fairseq2_bin_to_lib}" INSTALL_RPATH_USE_LINK_PATH ON)
set_target_properties(fairseq2_sdk fairseq2_host PROPERTIES INSTALL_RPATH "$ORIGIN" INSTALL_RPATH_USE_LINK_PATH ON)
set_target_properties(fairseq2_plugin_scanner PROPERTIES INSTALL_RPATH "$ORIGIN/.." INSTALL_RPATH_USE_LINK_PATH ON)

set_target_properties(fairseq2_sdk PROPERTIES EXPORT_NAME sdk)
set_target_properties(fairseq2_host PROPERTIES EXPORT_NAME host)
set_target_properties(fairseq2_cli PROPERTIES EXPORT_NAME cli)

install(TARGETS fairseq2_sdk fairseq2_host fairseq2_cli
  EXPORT fairseq2Targets
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
# The host runs the scanner from <libdir>/fairseq2/ to try plugins first.
install(TARGETS fairseq2_plugin_scanner RUNTIME DESTINATION "${CMAKE_INSTALL_LIBDIR}/fairseq2")
# The SDK dlopens it from its own folder when a SentencePiece model is read.
install(TARGETS fairseq2_sentencepiece LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/sdk/include/" "${PROJECT_SOURCE_DIR}/host/include/"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  FILES_MATCHING PATTERN "*.hpp")

install(EXPORT fairseq2Targets NAMESPACE fairseq2:: DESTINATION "${FAIRSEQ2_INSTALL_CMAKE_DIR}")
set(FAIRSEQ2_BOOST_VERSION "${Boost_VERSION_MAJOR}.${Boost_VERSION_MINOR}")
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/fairseq2Config.cmake.in"
  "${PROJECT_BINARY_DIR}/fairseq2Config.cmake"
  INSTALL_DESTINATION "${FAIRSEQ2_INSTALL_CMAKE_DIR}"
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_BINDIR FAIRSEQ2_INSTALL_PLUGIN_DIR)
# 0.x: a new minor version may change the ABI.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/fairseq2ConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/fairseq2Config.cmake"
  "${PROJECT_BINARY_DIR}/fairseq2ConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/Fairseq2Plugin.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/Fairseq2EmbedFile.cmake"
  DESTINATION "${FAIRSEQ2_INSTALL_CMAKE_DIR}")

# pkg-config: torch has no .pc file, so its flags are written out here.
file(RELATIVE_PATH FAIRSEQ2_PC_PREFIX_FROM_PCDIR "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" FAIRSEQ2_PC_PREFIX_FROM_PCDIR "${FAIRSEQ2_PC_PREFIX_FROM_PCDIR}")
set(FAIRSEQ2_PC_TORCH_CFLAGS "${TORCH_CXX_FLAGS}")
foreach(_dir IN LISTS TORCH_INCLUDE_DIRS)
  # -I of a system folder (/usr/include) would break #include_next.
  if(NOT _dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    string(APPEND FAIRSEQ2_PC_TORCH_CFLAGS " -I${_dir}")
  endif()
endforeach()
get_filename_component(_fairseq2_torch_lib_dir "${TORCH_LIBRARY}" DIRECTORY)
set(FAIRSEQ2_PC_TORCH_LIBS "-L${_fairseq2_torch_lib_dir} -ltorch -ltorch_cpu -lc10")
configure_file("${PROJECT_SOURCE_DIR}/cmake/fairseq2.pc.in" "${PROJECT_BINARY_DIR}/fairseq2.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/fairseq2.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
