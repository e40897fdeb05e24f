# Finds librdkafka (C API) through pkg-config and defines the imported
# target RdKafka::rdkafka. Used by libflow's build and by its installed
# package config, so both find librdkafka the same way.
include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_RDKAFKA QUIET rdkafka)
endif()
find_path(RDKAFKA_INCLUDE_DIR librdkafka/rdkafka.h HINTS ${PC_RDKAFKA_INCLUDE_DIRS})
find_library(RDKAFKA_LIBRARY rdkafka HINTS ${PC_RDKAFKA_LIBRARY_DIRS})
find_package_handle_standard_args(RdKafka
  REQUIRED_VARS RDKAFKA_LIBRARY RDKAFKA_INCLUDE_DIR
  VERSION_VAR PC_RDKAFKA_VERSION)
mark_as_advanced(RDKAFKA_INCLUDE_DIR RDKAFKA_LIBRARY)

if(RdKafka_FOUND AND NOT TARGET RdKafka::rdkafka)
  add_library(RdKafka::rdkafka UNKNOWN IMPORTED)
  set_target_properties(RdKafka::rdkafka PROPERTIES
    IMPORTED_LOCATION "${RDKAFKA_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${RDKAFKA_INCLUDE_DIR}")
endif()
