# fairseq2_add_plugin(NAME SOURCES ...): builds a model-family plugin as a
# shared library the fairseq2 host can load. It hides every symbol but the
# extern "C" entry points, keeps the library unloadable (-fno-gnu-unique),
# and stamps the plugin name and version into the ABI handshake.
function(fairseq2_add_plugin name)
  cmake_parse_arguments(ARG "" "VERSION;OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "fairseq2_add_plugin(${name}): SOURCES is empty")
  endif()
  if(NOT ARG_VERSION)
    set(ARG_VERSION "${PROJECT_VERSION}")
  endif()

  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE fairseq2::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "fairseq2_${name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_compile_options(${name} PRIVATE -fno-gnu-unique)
  target_compile_definitions(${name} PRIVATE
    FAIRSEQ2_PLUGIN_NAME="${name}"
    FAIRSEQ2_PLUGIN_VERSION="${ARG_VERSION}")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED FAIRSEQ2_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${FAIRSEQ2_PLUGIN_OUTPUT_DIRECTORY}")
  endif()
endfunction()
