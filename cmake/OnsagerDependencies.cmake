# Every dependency comes from the system (scripts/setup.sh installs them); nothing is downloaded here.
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(ZLIB REQUIRED)
if(NOT ONSAGER_FUZZ)  # the fuzz build compiles only the readers, with clang, which needs no OpenMP
  find_package(OpenMP REQUIRED)
endif()
# A build directory configured when OpenBLAS and HDF5 came from pkg-config keeps that module's cache entries
# (HDF5_LIBRARIES=hdf5, ...), which FindHDF5 would take for its own and link "-lhdf5" without its directory;
# they are dropped, once.
if(DEFINED CACHE{HDF5_MODULE_NAME} OR DEFINED CACHE{OPENBLAS_MODULE_NAME})
  get_cmake_property(_onsager_cache CACHE_VARIABLES)
  foreach(_v IN LISTS _onsager_cache)
    if(_v MATCHES "^(_pkgconfig_)?(HDF5|OPENBLAS)_")
      unset(${_v} CACHE)
    endif()
  endforeach()
endif()
# BLAS and LAPACK through CMake's modules, from OpenBLAS (onsager calls openblas_set_num_threads and
# openblas_get_config, so another BLAS would not link): BLAS::BLAS, LAPACK::LAPACK.
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_package(LAPACK REQUIRED)
# OpenBLAS's own cblas.h (Debian keeps it in include/<arch>/openblas-pthread/, beside openblas_config.h; the
# plain include/<arch>/cblas.h is whichever BLAS the alternatives system picked).
find_path(ONSAGER_OPENBLAS_INCLUDE_DIR openblas_config.h
  PATH_SUFFIXES openblas-pthread openblas-openmp openblas-serial openblas REQUIRED)
# The HDF5 C library (Keras .h5 files): FindHDF5 asks the h5cc wrapper, which needs the C compiler. HDF5::HDF5.
enable_language(C)
find_package(HDF5 REQUIRED COMPONENTS C)
# liblbfgs has neither a CMake module nor a config file: pkg-config.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LBFGS REQUIRED IMPORTED_TARGET liblbfgs)
if(ONSAGER_BUILD_CLI)
  find_package(CLI11 REQUIRED)
endif()
if(ONSAGER_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(ONSAGER_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
# Model readers: ONNX's generated protobuf classes (Debian's libonnx-dev) and the HDF5 C library.
find_package(Protobuf REQUIRED)
find_package(ONNX REQUIRED)
