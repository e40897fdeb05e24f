# Install rules: `cmake --install build --prefix P` puts the public headers
# in P/include, the static libraries in P/lib and the CMake package in
# P/lib/cmake/libflow, so that a program elsewhere can use
#
#   find_package(libflow CONFIG REQUIRED)   # CMAKE_PREFIX_PATH=P
#   target_link_libraries(my_job PRIVATE flow::runtime flow::kafka)
#
# examples/standalone is such a program; tests/install builds it against
# an installed tree.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(flow_installed_targets flow flow_checkpoint_proto flow_rocksdb flow_runtime flow_connectors)
set(flow_include_dirs libflow/include libflow/rocksdb/include actors/include connectors/include)
if(TARGET flow_kafka)
  list(APPEND flow_installed_targets flow_kafka)
  list(APPEND flow_include_dirs connectors/kafka/include)
  set(FLOW_PACKAGE_WITH_KAFKA ON)
else()
  set(FLOW_PACKAGE_WITH_KAFKA OFF)
endif()

# flow::flow, flow::runtime, flow::connectors, flow::kafka: the names the
# build uses (its ALIAS targets) are the names the package exports.
set_target_properties(flow PROPERTIES EXPORT_NAME flow)
set_target_properties(flow_checkpoint_proto PROPERTIES EXPORT_NAME checkpoint_proto)
set_target_properties(flow_rocksdb PROPERTIES EXPORT_NAME rocksdb)
set_target_properties(flow_runtime PROPERTIES EXPORT_NAME runtime)
set_target_properties(flow_connectors PROPERTIES EXPORT_NAME connectors)
if(TARGET flow_kafka)
  set_target_properties(flow_kafka PROPERTIES EXPORT_NAME kafka)
endif()

install(TARGETS ${flow_installed_targets}
  EXPORT libflowTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(dir ${flow_include_dirs})
  install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.hpp")
endforeach()
# Generated from proto/flow/checkpoint/metadata.proto.
install(FILES ${PROJECT_BINARY_DIR}/proto/flow/checkpoint/metadata.pb.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/flow/checkpoint)

set(flow_package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/libflow)
install(EXPORT libflowTargets NAMESPACE flow:: DESTINATION ${flow_package_dir})
configure_package_config_file(cmake/libflowConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/libflowConfig.cmake
  INSTALL_DESTINATION ${flow_package_dir})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/libflowConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/libflowConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/libflowConfigVersion.cmake
  cmake/FindCAF.cmake
  cmake/FindRdKafka.cmake
  cmake/FindRocksDB.cmake
  DESTINATION ${flow_package_dir})
