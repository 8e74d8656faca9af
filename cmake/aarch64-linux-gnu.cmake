# Cross-compiling nonstick for 64-bit Arm Linux (RK3588, i.MX 8M Plus boards)
# with Debian's g++-aarch64-linux-gnu; target binaries run here under
# qemu-aarch64 (qemu-user). scripts/arm64.sh drives it.
#   NONSTICK_ARM64_DEPS  extra install prefix searched for arm64 packages
#                        (GoogleTest built from /usr/src/googletest)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Debian's cross toolchain keeps the arm64 C library here.
set(NONSTICK_ARM64_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${NONSTICK_ARM64_SYSROOT})
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES NONSTICK_ARM64_DEPS)
if(NONSTICK_ARM64_DEPS)
  list(APPEND CMAKE_FIND_ROOT_PATH ${NONSTICK_ARM64_DEPS})
  # Plain library names (e.g. stb) are looked up by the linker itself.
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-L${NONSTICK_ARM64_DEPS}/lib")
endif()
# Programs (flatc, python3) are the build machine's; libraries, headers and
# CMake packages must be arm64 ones.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Lets CMake run target binaries (gtest_discover_tests, ctest) on this host.
find_program(NONSTICK_QEMU_AARCH64 qemu-aarch64)
if(NONSTICK_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${NONSTICK_QEMU_AARCH64} -L ${NONSTICK_ARM64_SYSROOT})
endif()
