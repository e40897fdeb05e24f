# Finds RocksDB (Debian's librocksdb-dev) and defines the imported target
# RocksDB::RocksDB on its shared library, which brings its own compression
# libraries (the package's CMake config would ask for their development
# packages too). Used by libflow's build and by its installed package config.
include(FindPackageHandleStandardArgs)
find_path(ROCKSDB_INCLUDE_DIR rocksdb/db.h)
find_library(ROCKSDB_LIBRARY NAMES rocksdb)
find_package_handle_standard_args(RocksDB
  REQUIRED_VARS ROCKSDB_LIBRARY ROCKSDB_INCLUDE_DIR)
mark_as_advanced(ROCKSDB_INCLUDE_DIR ROCKSDB_LIBRARY)

if(RocksDB_FOUND AND NOT TARGET RocksDB::RocksDB)
  add_library(RocksDB::RocksDB UNKNOWN IMPORTED)
  set_target_properties(RocksDB::RocksDB PROPERTIES
    IMPORTED_LOCATION "${ROCKSDB_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${ROCKSDB_INCLUDE_DIR}")
endif()
